"""Consent requests (CONTRACT §12): created by the app, answered by the guardian on the page.

Each step is `fn(session, deps, ...)`, run inside the caller's transaction. What may be
asked and what a grant records are decided by the consent flows; these steps only add the
request around them: the link, the code, the lock, the receipt.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service import events
from service.guardian import links
from service.guardian.consenting import check_request, record_answer
from service.guardian.receipts import ReceiptFacts, sign_receipt
from service.flows.deps import Deps
from service.store import audit_log
from service.store import consent_requests as store
from service.store.errors import Conflict
from service.store.models import ConsentRequest, ManageLink
from service.tokens.keys import KeySnapshot

MAX_WRONG_CODES = 5
MANAGE_LINK_LIFETIME = timedelta(days=7)
_LABEL = "child-label"


@dataclass(frozen=True)
class NewRequest:
    tenant: str
    client_id: str
    child_ref: str
    guardian_ref: str
    relationship: str
    scopes: tuple[str, ...]
    notice_version: str
    notice_url: str
    child_label: str
    locale: str
    expires_in: int
    idp_subject: str | None = None


@dataclass(frozen=True)
class CreatedRequest:
    request: ConsentRequest
    link_token: str  # shown once, in consent_url; only its keyed hash is kept
    guardian_code: str  # shown once, to the app; only its keyed hash is kept


def _label_context(request_id: str) -> bytes:
    return request_id.encode()


def child_label(deps: Deps, request: ConsentRequest) -> str:
    """The nickname the app gave for the child ("" once the child was erased)."""
    if not request.child_label_enc:
        return ""
    return deps.kek.open(_LABEL, request.child_label_enc, _label_context(request.request_id)).decode()


def create_request(session: Session, deps: Deps, new: NewRequest) -> CreatedRequest:
    """Check the request against the consent rules, store it, log `consent_request_created`."""
    now = deps.clock()
    check_request(session, deps, tenant=new.tenant, child_ref=new.child_ref, guardian_ref=new.guardian_ref, scopes=new.scopes)
    request_id = str(uuid.uuid4())
    token, code = links.new_link_token(), links.new_code()
    kek = deps.kek
    request = store.add(
        session,
        ConsentRequest(
            request_id=request_id,
            tenant=new.tenant,
            client_id=new.client_id,
            child_ref=new.child_ref,
            guardian_ref=new.guardian_ref,
            relationship=new.relationship,
            scopes=" ".join(new.scopes),
            notice_version=new.notice_version,
            notice_url=new.notice_url,
            child_label_enc=kek.seal(_LABEL, new.child_label.encode(), _label_context(request_id)),
            locale=new.locale,
            link_hash=links.link_hash(kek, token),
            code_hash=links.code_hash(kek, request_id, code),
            idp_subject_hash=None if new.idp_subject is None else links.idp_subject_hash(kek, new.tenant, new.idp_subject),
            wrong_codes=0,
            state=store.PENDING,
            created_at=now,
            expires_at=now + timedelta(seconds=new.expires_in),
        ),
    )
    event = events.consent_request_created(
        tenant=new.tenant,
        request_id=request_id,
        child_ref=new.child_ref,
        guardian_ref=new.guardian_ref,
        relationship=new.relationship,
        scopes=new.scopes,
        notice_version=new.notice_version,
        expires_at=request.expires_at,
        occurred_at=now,
        client_id=new.client_id,
    )
    audit_log.append(session, new.tenant, [event], now)
    return CreatedRequest(request, token, code)


def find_by_link(session: Session, deps: Deps, token: str, *, for_update: bool = False) -> ConsentRequest | None:
    """The request a page link opens, or None for a malformed or unknown link."""
    if not links.looks_like_link_token(token):
        return None
    return store.by_link(session, links.link_hash(deps.kek, token), for_update=for_update)


@dataclass(frozen=True)
class CodeOutcome:
    accepted: bool
    state: str
    attempts_left: int


def enter_code(session: Session, deps: Deps, request: ConsentRequest, code: str) -> CodeOutcome:
    """Check a guardian code (constant time); the fifth wrong one locks the request for good.

    The caller must have locked `request` (find_by_link(for_update=True)) and must commit
    even when the code is wrong, so that wrong codes are counted.
    """
    state = store.state_at(request, deps.clock())
    if state != store.PENDING:
        return CodeOutcome(False, state, 0)
    if links.code_matches(deps.kek, request.request_id, code, request.code_hash):
        return CodeOutcome(True, state, MAX_WRONG_CODES - request.wrong_codes)
    request.wrong_codes += 1
    if request.wrong_codes >= MAX_WRONG_CODES:
        request.state = store.LOCKED
    session.flush()
    return CodeOutcome(False, request.state, MAX_WRONG_CODES - request.wrong_codes)


def idp_subject_matches(deps: Deps, request: ConsentRequest, subject: str) -> bool:
    """Whether the identity provider's subject is the guardian the app named."""
    if request.idp_subject_hash is None:
        return False
    return hmac.compare_digest(links.idp_subject_hash(deps.kek, request.tenant, subject), request.idp_subject_hash)


@dataclass(frozen=True)
class Answer:
    allowed: tuple[str, ...]
    refused: tuple[str, ...]
    method: str  # how the guardian was authenticated: guardian_code or oidc; sandbox: nobody was (a test answer)


@dataclass(frozen=True)
class Answered:
    request: ConsentRequest
    receipt: str


def answer_request(session: Session, deps: Deps, request: ConsentRequest, answer: Answer, key: KeySnapshot) -> Answered:
    """Record the guardian's answer: `granted` for what they allowed, `declined` for what they
    refused, then `consent_request_completed`, and sign the receipt naming that last entry.

    The caller has locked `request`, authenticated the guardian, and taken the signing `key`
    from the keyring before opening this transaction (the keyring reads in a transaction of
    its own, which an open SQLite write would block). A request answered before is a
    Conflict: the link submits once.
    """
    now = deps.clock()
    if store.state_at(request, now) != store.PENDING:
        raise Conflict("consent_request_closed", f"the consent request is {store.state_at(request, now)}")
    asked = request.scopes.split()
    if sorted((*answer.allowed, *answer.refused)) != sorted(asked):
        raise ValueError("every requested category needs exactly one answer")
    allowed = [c for c in asked if c in answer.allowed]
    refused = [c for c in asked if c in answer.refused]
    consent_id = record_answer(session, deps, request, allowed=allowed, refused=refused, method=answer.method)
    completed = events.consent_request_completed(
        tenant=request.tenant,
        request_id=request.request_id,
        child_ref=request.child_ref,
        guardian_ref=request.guardian_ref,
        consent_id=consent_id,
        granted=allowed,
        declined=refused,
        occurred_at=now,
    )
    # Asking where the entry stands links the answer's staged entries now (store/audit_log.py):
    # the receipt must name it. The head is held from here to the commit.
    position = audit_log.append(session, request.tenant, [completed], now).position
    receipt = sign_receipt(
        deps.issuer,
        key,
        ReceiptFacts(
            tenant=request.tenant,
            request_id=request.request_id,
            consent_id=consent_id,
            child_ref=request.child_ref,
            guardian_ref=request.guardian_ref,
            granted=tuple(allowed),
            declined=tuple(refused),
            notice_version=request.notice_version,
            policy=deps.policy.version,
            recorded_at=completed["recorded_at"],
            log_seq=position.seq,
            log_hash=position.hash,
        ),
    )
    request.state = store.COMPLETED
    request.answered_at = now
    request.consent_id = consent_id
    request.granted = " ".join(allowed)
    request.declined = " ".join(refused)
    request.receipt = receipt
    session.flush()
    return Answered(request, receipt)


def issue_manage_link(session: Session, deps: Deps, request: ConsentRequest) -> tuple[str, datetime]:
    """A new bounded-time link to the guardian's page for the request's child."""
    now = deps.clock()
    token = links.new_link_token()
    expires_at = now + MANAGE_LINK_LIFETIME
    store.add_manage_link(
        session,
        ManageLink(
            link_hash=links.link_hash(deps.kek, token),
            tenant=request.tenant,
            child_ref=request.child_ref,
            guardian_ref=request.guardian_ref,
            request_id=request.request_id,
            created_at=now,
            expires_at=expires_at,
        ),
    )
    return token, expires_at


def find_manage_link(session: Session, deps: Deps, token: str) -> ManageLink | None:
    """The unexpired management link a page URL carries, or None."""
    if not links.looks_like_link_token(token):
        return None
    return store.manage_link(session, links.link_hash(deps.kek, token), deps.clock())


def expire_requests(session: Session, deps: Deps, tenant: str | None = None) -> Sequence[ConsentRequest]:
    """Record `consent_request_expired` for each pending request past its expiry; returns them.

    Production tenants' on the real clock, or with `tenant` a sandbox tenant's on its own
    (`deps` then that tenant's, `Runtime.for_tenant`)."""
    now = deps.clock()
    due = store.due_to_expire(session, now, tenant=tenant)
    for request in due:
        request.state = store.EXPIRED
        event = events.consent_request_expired(
            tenant=request.tenant,
            request_id=request.request_id,
            child_ref=request.child_ref,
            guardian_ref=request.guardian_ref,
            occurred_at=request.expires_at,
        )
        audit_log.append(session, request.tenant, [event], now)
    session.flush()
    return due
