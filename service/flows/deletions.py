"""Deletions apps owe (POLICY.md "Deletion on withdrawal"; Provisions on the Online Protection
of Children's Personal Information, Art. 20): when they become due, and their acknowledgement.

The consent and subject flows call :func:`after_consents_ended` and :func:`after_erasure` in
the transaction of the change, so a deletion is required exactly when the change commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from service.domain.brackets import Bracket, bracket_at
from service.flows.deps import Deps
from service.flows.policies import policy_for
from service.store import deletions as deletion_store
from service.store import subjects as subject_store
from service.store.models import Consent, Deletion, Subject

_CHILD_BRACKETS = (Bracket.UNDER_14, Bracket.MINOR)


def deletion_due_in(session: Session, deps: Deps, tenant: str) -> timedelta:
    """How long the app has to delete: ``retention.deletion_due_days`` of the tenant's policy
    (the default's 15 days, or fewer where the tenant's own policy shortens it).

    Raises ValueError for a policy without a retention section (2026-07-15.1 predates it).
    """
    policy = policy_for(session, deps, tenant)
    if policy.retention is None:
        raise ValueError(f"policy {policy.version} sets no deletion period")
    return timedelta(days=policy.retention.deletion_due_days.days)


def after_consents_ended(
    session: Session, deps: Deps, consents: Iterable[Consent], *, cause: str, client_id: str | None
) -> list[Deletion]:
    """Require one deletion per child left without an active ``pi_processing`` consent by the
    consents that just ended (another guardian's consent still covering it keeps the basis)."""
    now, required, seen = deps.clock(), [], set()
    for consent in consents:
        if (consent.tenant, consent.child_ref) in seen:
            continue
        deletion = deletion_store.after_consent_ended(
            session, consent, cause=cause, due_in=deletion_due_in(session, deps, consent.tenant), client_id=client_id, now=now
        )
        if deletion is not None:
            seen.add((consent.tenant, consent.child_ref))
            required.append(deletion)
    return required


def after_erasure(
    session: Session, deps: Deps, erased: Subject, ended: Iterable[Consent], *, client_id: str | None
) -> list[Deletion]:
    """An erased child (under 18 when erased) owes a deletion of its data; an erased guardian
    owes one for each child it leaves without a ``pi_processing`` consent."""
    now, required = deps.clock(), []
    if bracket_at(subject_store.birth_date_of(deps.kek, erased), now, deps.timezone) in _CHILD_BRACKETS:
        required.append(
            deletion_store.require(
                session, tenant=erased.tenant, child_ref=erased.subject_ref, cause="child_erased", consent_id=None,
                due_in=deletion_due_in(session, deps, erased.tenant), client_id=client_id, now=now,
            )
        )
    as_guardian = [c for c in ended if c.child_ref != erased.subject_ref]
    return required + after_consents_ended(session, deps, as_guardian, cause="guardian_erased", client_id=client_id)


@dataclass(frozen=True)
class DeletionListing:
    tenant: str
    status: str | None
    limit: int
    after: str | None


@dataclass(frozen=True)
class DeletionAck:
    tenant: str
    client_id: str
    deletion_id: str


def list_deletions(session: Session, deps: Deps, listing: DeletionListing) -> list[Deletion]:
    """The tenant's deletions by due date; raises store NotFound for an unknown ``after``."""
    return deletion_store.listing(
        session, listing.tenant, status=listing.status, now=deps.clock(), limit=listing.limit, after=listing.after
    )


def acknowledge_deletion(session: Session, deps: Deps, ack: DeletionAck) -> Deletion:
    """Record that the app deleted the data (``data_deleted``); raises store NotFound."""
    return deletion_store.acknowledge(session, ack.tenant, ack.deletion_id, client_id=ack.client_id, now=deps.clock())
