"""Keep little before consent (POLICY.md, additions of 2026-11-30).

An under-14 registered without an active `pi_processing` consent is erased when its last
consent request expires, or `policy.retention.unconsented_child_days` (30) after registration
when no request was ever made for it. `keep_little` does both; the worker runs it every few
minutes (and `agegate guardian sweep` from cron). It is idempotent and safe to run from
several processes at once.

Each erasure is its own short transaction taking its locks in the service's one order
(store/locks.py): the child's consent requests, the child, its consents, the log head last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from service.domain.brackets import Bracket, bracket_at
from service.domain.consent import ConsentStatus
from service.flows.deps import Deps
from service.guardian.erasure import erase_child
from service.guardian.requests import expire_requests
from service.runtime import Runtime
from service.store import consent_requests as store
from service.store import consents as consent_store
from service.store import subjects as subject_store
from service.store.errors import NotFound
from service.store.transactions import run_in_transaction
from service.worker import ScheduledStep

SWEEP_NAME = "unconsented_children"


@dataclass(frozen=True)
class Sweep:
    batch: int = 500  # registrations read at a time


@dataclass
class SweepResult:
    expired_requests: int = 0
    erased: list[tuple[str, str]] = field(default_factory=list)  # (tenant, subject_ref)


@dataclass(frozen=True)
class Candidate:
    tenant: str
    child_ref: str


def erase_if_unconsented(session: Session, deps: Deps, candidate: Candidate) -> bool:
    """Erase the child if it is under 14 now, has no open request and no active consent
    covering pi_processing; returns whether it did."""
    now = deps.clock()
    open_requests = store.lock_requests_of_child(session, candidate.tenant, candidate.child_ref, now)
    try:
        child = subject_store.get_subject(session, candidate.tenant, candidate.child_ref, for_update=True)
    except NotFound:
        return False  # already erased
    if open_requests:
        return False
    if bracket_at(subject_store.birth_date_of(deps.kek, child), now, deps.timezone) is not Bracket.UNDER_14:
        return False
    records = consent_store.for_child(session, candidate.tenant, candidate.child_ref, now)
    if any(r.status is ConsentStatus.ACTIVE and "pi_processing" in r.scopes for r in records):
        return False
    erase_child(session, deps, candidate.tenant, candidate.child_ref)
    return True


def keep_little(runtime: Runtime, sweep: Sweep = Sweep()) -> SweepResult:
    """Expire due requests, then erase every under-14 whom the rule above says to erase.

    Production tenants' requests expire on the real clock, each sandbox tenant's on its own
    (CONTRACT §15). The never-asked sweep below runs on the real clock for every tenant: a
    sandbox clock only runs ahead, so it never erases a sandbox child early.
    """
    result = SweepResult()
    _expire_requests(runtime, None, result)
    for tenant, tenant_runtime in runtime.sandboxes():
        _expire_requests(tenant_runtime, tenant, result)

    retention = runtime.policy.retention
    if retention is None:  # a policy version without retention periods keeps everyone
        return result
    cutoff = runtime.clock() - timedelta(days=retention.unconsented_child_days.days)
    mark = run_in_transaction(runtime.reads, lambda session: store.sweep_mark(session, SWEEP_NAME))
    after = None if mark is None else (mark, 0)  # id 0: subjects registered at the mark are looked at again
    while True:
        page = run_in_transaction(runtime.reads, lambda session: store.registrations_page(session, after, cutoff, sweep.batch))
        _erase_unconsented(runtime, [Candidate(t, ref) for t, ref in page.never_asked], result)
        if page.next_after is None:
            break
        after = page.next_after
        run_in_transaction(runtime.sessions, lambda session: store.advance_sweep_mark(session, SWEEP_NAME, page.next_after[0]))
    run_in_transaction(runtime.sessions, lambda session: store.advance_sweep_mark(session, SWEEP_NAME, cutoff))
    return result


def _expire_requests(runtime: Runtime, tenant: str | None, result: SweepResult) -> None:
    expired = run_in_transaction(runtime.sessions, lambda session: expire_requests(session, runtime.deps, tenant))
    result.expired_requests += len(expired)
    _erase_unconsented(runtime, [Candidate(t, ref) for t, ref in dict.fromkeys((r.tenant, r.child_ref) for r in expired)], result)


def _erase_unconsented(runtime: Runtime, candidates: list[Candidate], result: SweepResult) -> None:
    for candidate in candidates:
        if runtime.run(erase_if_unconsented, candidate):
            result.erased.append((candidate.tenant, candidate.child_ref))


def keep_little_step(runtime: Runtime) -> ScheduledStep:
    """The worker's scheduled step: within a minute of a request's expiry its event is logged
    and an unconsented child erased."""
    def run(_now: object) -> int:
        result = keep_little(runtime)
        return result.expired_requests + len(result.erased)

    return ScheduledStep("consent requests expired and unconsented children erased", timedelta(minutes=1), run)
