"""Guardian consents: granted rows and ending rows, never updated; status is derived.

Every change appends its event to the tenant's consent log in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.orm import Session

from service import events
from service.domain.consent import ConsentStatus, ConsentTerms, Relationship, consent_status
from service.store import audit_log, locks, status
from service.store.sandbox import in_production
from service.store.errors import Conflict, NotFound
from service.store.pages import Page, keyset_page
from service.store.models import Consent, ConsentEnding, Subject
from service.store.tenant_policies import latest_revision_columns


@dataclass(frozen=True)
class ConsentRecord:
    """A consent with its derived status at the instant it was read."""

    consent: Consent
    ending: ConsentEnding | None
    status: ConsentStatus

    @property
    def scopes(self) -> list[str]:
        return self.consent.scopes.split()

    @property
    def terms(self) -> ConsentTerms:
        return terms_of(self.consent)


# A consent row keeps each term in the column of its name; only scopes (space-separated)
# and relationship (its value) change form, so the shape stays ConsentTerms' alone.
_TERMS = tuple(field.name for field in fields(ConsentTerms))


def terms_of(consent: Consent) -> ConsentTerms:
    """The terms a consent row records."""
    values = {name: getattr(consent, name) for name in _TERMS}
    return ConsentTerms(
        **{**values, "relationship": Relationship(consent.relationship), "scopes": tuple(consent.scopes.split())}
    )


def _columns(terms: ConsentTerms) -> dict[str, Any]:
    values = {name: getattr(terms, name) for name in _TERMS}
    return {**values, "relationship": terms.relationship.value, "scopes": " ".join(dict.fromkeys(terms.scopes))}


def _record(consent: Consent, ending: ConsentEnding | None, now: datetime) -> ConsentRecord:
    kind = None if ending is None else ("withdrawn" if ending.kind == "subject_erased" else ending.kind)
    return ConsentRecord(consent, ending, consent_status(expires_at=consent.expires_at, ended_kind=kind, at=now))


def _with_endings(session: Session, query) -> list[tuple[Consent, ConsentEnding | None]]:  # type: ignore[no-untyped-def]
    rows = session.execute(
        query.add_columns(ConsentEnding).outerjoin(ConsentEnding, ConsentEnding.consent_id == Consent.consent_id)
    ).all()
    return [(row[0], row[1]) for row in rows]


@dataclass(frozen=True)
class Party:
    """A child or guardian as a grant's rules read it."""

    subject_ref: str
    birth_date_enc: bytes
    assurance: str


@dataclass(frozen=True)
class GrantFacts:
    """What deciding a grant reads: both subjects, and the tenant's latest policy revision."""

    child: Party
    guardian: Party
    policy_revision: int | None  # None: the tenant never installed a policy
    policy_document: str | None  # that revision's override document (JSON, as stored)


def _grant_facts_statement():  # type: ignore[no-untyped-def]
    return (
        select(
            Subject.subject_ref,
            Subject.birth_date_enc,
            Subject.assurance,
            *latest_revision_columns(),
        )
        .where(Subject.tenant == bindparam("tenant"), Subject.subject_ref.in_([bindparam("child"), bindparam("guardian")]))
        .order_by(Subject.subject_ref)  # level 1 of store/locks.py: subject_ref order
        .with_for_update(read=True, of=Subject)
    )


# Built once: constructing this select costs more than running it on a warm connection.
_GRANT_FACTS = _grant_facts_statement()


def grant_facts(session: Session, tenant: str, child_ref: str, guardian_ref: str) -> GrantFacts:
    """Child, guardian and the tenant's policy revision in one statement, the two subjects
    locked FOR SHARE until commit (level 1 of store/locks.py, as subjects.get_subjects locks
    them): what the grant decides from them cannot be undone by a concurrent erasure or
    re-verification. Raises NotFound for the child, then the guardian, if missing."""
    params = {"tenant": tenant, "child": child_ref, "guardian": guardian_ref}
    rows = session.connection().execute(_GRANT_FACTS, params).all()
    found = {row.subject_ref: Party(row.subject_ref, row.birth_date_enc, row.assurance) for row in rows}
    for ref in (child_ref, guardian_ref):
        if ref not in found:
            raise NotFound("subject", ref)
    policy_revision, policy_document = (rows[0].policy_revision, rows[0].policy_document)
    return GrantFacts(found[child_ref], found[guardian_ref], policy_revision, policy_document)


_ADD_CONSENT = insert(Consent.__table__)  # built once, like every statement of a grant


def grant(
    session: Session, *, tenant: str, client_id: str, terms: ConsentTerms, policy_version: str, now: datetime
) -> tuple[ConsentRecord, audit_log.Appended]:
    """Record a consent (already checked against the policy) and log `granted`; returns the
    consent and where its `granted` entry stands.

    The consent row is written with its log entry (audit_log.append's `rows`): in a group
    commit both go in when the batch is linked, so a grant that fails later in its step
    leaves neither behind.
    """
    values = {"consent_id": str(uuid.uuid4()), "tenant": tenant, "policy": policy_version, "granted_at": now,
              "client_id": client_id, **_columns(terms)}
    consent = Consent(**values)  # transient: what the caller and the event read, never added to the session
    appended = audit_log.append(
        session, tenant, [events.granted(consent, occurred_at=now, client_id=client_id)], now, rows=[(_ADD_CONSENT, values)]
    )
    return _record(consent, None, now), appended


def log_declined(
    session: Session, *, tenant: str, client_id: str | None, consent_id: str, terms: ConsentTerms, policy_version: str, now: datetime
) -> audit_log.Appended:
    """Log `declined`: the guardian refused `terms.scopes`. A refusal grants nothing, so the
    log entry is all it leaves: no consent row, no token change. Returns where it stands."""
    # A transient row, never added to the session: the event copies a consent's fields.
    refusal = Consent(
        consent_id=consent_id, tenant=tenant, policy=policy_version, granted_at=now, client_id=client_id, **_columns(terms)
    )
    return audit_log.append(session, tenant, [events.consent_event("declined", refusal, occurred_at=now, client_id=client_id)], now)


def get(session: Session, tenant: str, consent_id: str, now: datetime) -> ConsentRecord:
    """One consent of the tenant; raises NotFound."""
    found = _with_endings(session, select(Consent).where(Consent.tenant == tenant, Consent.consent_id == consent_id))
    if not found:
        raise NotFound("consent", consent_id)
    return _record(*found[0], now)


def _end(session: Session, consent: Consent, *, kind: str, at: datetime, reason: str | None, client_id: str | None) -> tuple[ConsentEnding, dict[str, Any] | None]:
    """Add the consent's ending row; returns it with the event the caller appends to the log
    (None for an erasure, which is logged once, naming every consent it ended).

    The caller holds the consent's lock (level 2 of store/locks.py) and appends after all
    its endings, so the log head (level 3) is taken last and once.
    """
    ending = ConsentEnding(consent_id=consent.consent_id, kind=kind, reason=reason, ended_at=at, client_id=client_id)
    session.add(ending)
    session.flush()
    if kind == "subject_erased":
        return ending, None
    return ending, events.consent_event(kind, consent, occurred_at=at, client_id=client_id)


def _revoke_child_tokens(session: Session, consent: Consent, now: datetime) -> None:
    """Revoke the tokens of the consent's child, whom the caller has locked (level 1)."""
    child = locks.lock_subjects(session, consent.tenant, [consent.child_ref]).get(consent.child_ref)
    if child is not None:  # an erased child has no live tokens left
        status.revoke_subject_tokens(session, child, now)


def withdraw(
    session: Session, *, tenant: str, consent_id: str, reason: str | None, client_id: str | None, now: datetime
) -> tuple[ConsentRecord, bool]:
    """Withdraw a consent, log `withdrawn` and revoke the child's live tokens, all at once.

    Returns the consent and whether this call withdrew it. Withdrawing an already withdrawn
    consent changes nothing and answers as before; a consent that has expired or whose
    subject was erased is a Conflict. Raises NotFound.
    """
    child_ref = session.scalar(select(Consent.child_ref).where(Consent.tenant == tenant, Consent.consent_id == consent_id))
    if child_ref is None:
        raise NotFound("consent", consent_id)
    # store/locks.py: the child (level 1), then the consent (level 2); a concurrent
    # withdrawal or erasure waits here and then sees the ending.
    locks.lock_subjects(session, tenant, [child_ref])
    locks.lock_consents(session, [consent_id])
    record = get(session, tenant, consent_id, now)
    if record.ending is not None and record.ending.kind == "withdrawn":
        return record, False
    if record.status is not ConsentStatus.ACTIVE:
        raise Conflict("consent_ended", f"the consent has already ended ({record.status.value})")
    ending, event = _end(session, record.consent, kind="withdrawn", at=now, reason=reason, client_id=client_id)
    assert event is not None
    _revoke_child_tokens(session, record.consent, now)
    audit_log.append(session, tenant, [event], now)
    return _record(record.consent, ending, now), True


# the total order of a child's consents, and the key of their pages
CHILD_ORDER = (Consent.granted_at, Consent.consent_id)


def for_child(session: Session, tenant: str, child_ref: str, now: datetime) -> list[ConsentRecord]:
    """All the child's consents, oldest first."""
    query = select(Consent).where(Consent.tenant == tenant, Consent.child_ref == child_ref).order_by(*CHILD_ORDER)
    return [_record(c, e, now) for c, e in _with_endings(session, query)]


def page_for_child(
    session: Session, tenant: str, child_ref: str, now: datetime, *, after: Sequence[Any] | None, limit: int
) -> Page[ConsentRecord]:
    """One page of the child's consents, oldest first, after the key `after`."""
    query = (
        select(Consent, ConsentEnding)
        .outerjoin(ConsentEnding, ConsentEnding.consent_id == Consent.consent_id)
        .where(Consent.tenant == tenant, Consent.child_ref == child_ref)
    )
    page = keyset_page(session, query, CHILD_ORDER, after, limit)
    return Page([_record(row[0], row[1], now) for row in page.items], page.next_key)


@dataclass(frozen=True)
class SubjectConsent:
    consent_id: str
    scopes: list[str]
    status: ConsentStatus
    role: str  # "child" or "guardian"


def of_subject(session: Session, tenant: str, subject_ref: str, now: datetime) -> list[SubjectConsent]:
    """Consents in which the subject is the child or the guardian."""
    query = (
        select(Consent)
        .where(Consent.tenant == tenant, or_(Consent.child_ref == subject_ref, Consent.guardian_ref == subject_ref))
        .order_by(Consent.granted_at, Consent.consent_id)
    )
    return [
        SubjectConsent(r.consent.consent_id, r.scopes, r.status, "child" if r.consent.child_ref == subject_ref else "guardian")
        for r in (_record(c, e, now) for c, e in _with_endings(session, query))
    ]


def expire_due(session: Session, now: datetime, *, tenant: str | None = None, child_ref: str | None = None) -> list[Consent]:
    """Record an `expired` ending and event for every consent past `expires_at` without one.

    Idempotent; run by the worker, `agegate consents expire` and lazily on the consent paths.
    Without `tenant` it looks at production tenants only (`now` is the real clock's); a
    sandbox tenant's run on its own clock with its `tenant`. Returns the consents it expired.
    """
    query = (
        select(Consent.consent_id)
        .outerjoin(ConsentEnding, ConsentEnding.consent_id == Consent.consent_id)
        .where(ConsentEnding.consent_id.is_(None), Consent.expires_at.is_not(None), Consent.expires_at <= now)
    )
    query = query.where(in_production(Consent.tenant) if tenant is None else Consent.tenant == tenant)
    if child_ref is not None:
        query = query.where(Consent.child_ref == child_ref)
    locked = locks.lock_consents(session, session.scalars(query))  # level 2
    # a withdrawal may have ended one while we waited for its lock
    ended = _ended_ids(session, [consent.consent_id for consent in locked])
    logged: dict[str, list[dict[str, Any]]] = defaultdict(list)
    expired: list[Consent] = []
    for consent in sorted(locked, key=lambda c: (c.tenant, c.expires_at, c.consent_id)):
        if consent.consent_id in ended:
            continue
        assert consent.expires_at is not None
        _, event = _end(session, consent, kind="expired", at=consent.expires_at, reason=None, client_id=None)
        assert event is not None
        logged[consent.tenant].append(event)
        expired.append(consent)
    for each_tenant in sorted(logged):  # level 3, in tenant order
        audit_log.append(session, each_tenant, logged[each_tenant], now)
    return expired


def _ended_ids(session: Session, consent_ids: list[str]) -> set[str]:
    if not consent_ids:
        return set()
    return set(session.scalars(select(ConsentEnding.consent_id).where(ConsentEnding.consent_id.in_(consent_ids))))


def end_for_erased_subject(session: Session, *, tenant: str, subject_ref: str, client_id: str, now: datetime) -> list[Consent]:
    """End the erased subject's active consents and log one `subject_erased` event naming them.

    A guardian's erasure also revokes the children's tokens that relied on those consents
    (subjects.erase_subject has locked those children). Returns the consents it ended.
    """
    query = select(Consent.consent_id).where(
        Consent.tenant == tenant, or_(Consent.child_ref == subject_ref, Consent.guardian_ref == subject_ref)
    )
    locked = locks.lock_consents(session, session.scalars(query))  # level 2
    already_ended = _ended_ids(session, [consent.consent_id for consent in locked])
    ended: list[Consent] = []
    for consent in sorted(locked, key=lambda c: (c.granted_at, c.consent_id)):
        if consent.consent_id in already_ended or _record(consent, None, now).status is not ConsentStatus.ACTIVE:
            continue
        _end(session, consent, kind="subject_erased", at=now, reason=None, client_id=client_id)
        if consent.child_ref != subject_ref:
            _revoke_child_tokens(session, consent, now)
        ended.append(consent)
    erased = events.subject_erased(
        tenant=tenant, subject_ref=subject_ref, consent_ids=[c.consent_id for c in ended], occurred_at=now, client_id=client_id
    )
    audit_log.append(session, tenant, [erased], now)  # level 3
    return ended
