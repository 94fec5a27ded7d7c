"""Age-token issuance (CONTRACT §6): a read path, it writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Connection

from service.domain.errors import AudienceOfAnotherTenant
from service.domain.evidence import Assurance
from service.domain.brackets import Bracket, bracket_at
from service.domain.controls import NO_CONTROLS, GuardianControls
from service.domain.policy import Policy
from service.flows.deps import Deps
from service.flows.policies import policy_of_revision
from service.store import controls as controls_store
from service.store import status as status_store
from service.store import subjects as subject_store
from service.store.token_facts import token_facts
from service.tokens import issue as token_signing
from service.tokens.issue import IssuedToken, TokenSubject


@dataclass(frozen=True)
class TokenRequest:
    tenant: str
    subject_ref: str
    audience: str
    ttl: int | None = None  # seconds; None or more than the configured lifetime: that lifetime


def issue_token(
    connect: Callable[[], AbstractContextManager[Connection]], deps: Deps, request: TokenRequest
) -> IssuedToken:
    """Sign an age token for the subject as it stands now; raises store NotFound, and
    AudienceOfAnotherTenant for an audience another tenant registered (CONTRACT §16).

    It writes nothing, and everything it reads comes from one SELECT (token_facts) on a
    connection from `connect` (Runtime.read_connection): one statement sees one consistent
    snapshot without BEGIN or COMMIT, and needs no Session around it.
    """
    signing = deps.keyring.snapshot()  # refreshes (every few seconds) in a read session of its own
    now = deps.clock()
    # Everything after the SELECT is computation (decrypting, signing): the connection goes
    # back right after it, so it serves another request meanwhile instead of waiting on this
    # one's CPU, and a worker's pool needs fewer connections for the same load.
    with connect() as connection:
        facts = token_facts(connection, request.tenant, request.subject_ref, request.audience, now)
    if facts.audience_tenant not in (None, request.tenant):
        raise AudienceOfAnotherTenant(request.audience)
    list_id, idx = status_store.position(facts.status_slot)
    subject = TokenSubject(
        subject_ref=facts.subject_ref,
        birth_date=subject_store.open_birth_date(deps.kek, request.tenant, facts.subject_ref, facts.birth_date_enc),
        assurance=Assurance(facts.assurance),
        verified_at=facts.verified_at,
        status_list_id=list_id,
        status_idx=idx,
        consented_scopes=facts.consented_scopes,
        consent_ids=facts.consent_ids,
        consents_expire_at=facts.consents_expire_at,
    )
    policy = policy_of_revision(deps, request.tenant, facts.policy_revision, facts.policy_document)
    issued = token_signing.issue_token(
        subject,
        policy=policy,
        controls=_controls_of_minor(deps, policy, subject, facts.controls_document),
        issuer=deps.issuer,
        tenant=request.tenant,
        audience=request.audience,
        ttl=min(request.ttl or deps.token_ttl, deps.token_ttl),
        now=now,
        tz=deps.timezone,
        kid=signing.kid,
        private_key=signing.private_key,
    )
    deps.activity.issued(request.tenant, facts.subject_ref, now)  # in memory; written in batches
    return issued


def _controls_of_minor(deps: Deps, policy: Policy, subject: TokenSubject, document: str | None) -> GuardianControls:
    """The guardian's controls as last set (`document`, None if never), for minors only:
    adults have none to carry, and their tokens (most tokens) are spared the parse."""
    if document is None or bracket_at(subject.birth_date, deps.clock(), deps.timezone) not in (Bracket.UNDER_14, Bracket.MINOR):
        return NO_CONTROLS
    return controls_store.stored_controls(document, policy.categories)
