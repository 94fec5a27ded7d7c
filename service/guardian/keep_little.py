"""Keep little before consent (POLICY.md, additions of 2026-11-30).

An under-14 registered without an active `pi_processing` consent is erased when its last
consent request expires, or `policy.retention.unconsented_child_days` (30) after registration
when no request was ever made for it. Both happen in `keep_little`, one idempotent sweep run
by the worker (or `agegate guardian sweep` from cron).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.domain.brackets import Bracket, bracket_at
from service.domain.consent import ConsentStatus
from service.guardian.erasure import erase_child
from service.guardian.requests import expire_requests
from service.flows.deps import Deps
from service.store import consent_requests as store
from service.store import consents as consent_store
from service.store import subjects as subject_store
from service.store.errors import NotFound
from service.store.models import Subject

SWEEP_NAME = "unconsented_children"


@dataclass
class SweepResult:
    expired_requests: int = 0
    erased: list[tuple[str, str]] = field(default_factory=list)  # (tenant, subject_ref)


def _consent_is_missing(session: Session, deps: Deps, child: Subject, now: datetime) -> bool:
    """An under-14 (now) with no active consent covering pi_processing."""
    bracket = bracket_at(subject_store.birth_date_of(deps.kek, child), now, deps.timezone)
    if bracket is not Bracket.UNDER_14:
        return False
    records = consent_store.for_child(session, child.tenant, child.subject_ref, now)
    return not any(r.status is ConsentStatus.ACTIVE and "pi_processing" in r.scopes for r in records)


def _erase_if_unconsented(session: Session, deps: Deps, tenant: str, child_ref: str, now: datetime, result: SweepResult) -> None:
    try:
        child = subject_store.get_subject(session, tenant, child_ref, for_update=True)
    except NotFound:
        return  # already erased
    if _consent_is_missing(session, deps, child, now):
        erase_child(session, deps, tenant, child_ref)
        result.erased.append((tenant, child_ref))


@dataclass(frozen=True)
class Sweep:
    batch: int = 500  # registrations read at a time


def keep_little(session: Session, deps: Deps, sweep: Sweep) -> SweepResult:
    """Expire due requests, then erase every under-14 whom the rule above says to erase."""
    now = deps.clock()
    result = SweepResult()
    expired = expire_requests(session, deps)
    result.expired_requests = len(expired)
    for tenant, child_ref in dict.fromkeys((r.tenant, r.child_ref) for r in expired):
        if store.open_for_child(session, tenant, child_ref, now) == 0:
            _erase_if_unconsented(session, deps, tenant, child_ref, now, result)

    retention = deps.policy.retention
    if retention is None:  # a policy version without retention periods keeps everyone
        return result
    cutoff = now - timedelta(days=retention.unconsented_child_days.days)
    mark = store.sweep_mark(session, SWEEP_NAME)
    after = None if mark is None else (mark, 0)
    while True:
        batch = store.registered_between(session, after, cutoff, limit=sweep.batch)
        asked: set[tuple[str, str]] = set()
        for tenant in {s.tenant for s in batch}:
            refs = [s.subject_ref for s in batch if s.tenant == tenant]
            asked |= {(tenant, ref) for ref in store.ever_asked_for(session, tenant, refs)}
        for subject in batch:
            if (subject.tenant, subject.subject_ref) not in asked:
                _erase_if_unconsented(session, deps, subject.tenant, subject.subject_ref, now, result)
        if len(batch) < sweep.batch:
            break
        after = (batch[-1].created_at, batch[-1].id)
    store.advance_sweep_mark(session, SWEEP_NAME, cutoff)
    return result
