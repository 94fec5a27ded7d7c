"""Sandbox tenants' clocks (CONTRACT §15): read a tenant's time, move it forward.

These steps take the real clock's `Deps` (the production runtime's, not `for_tenant`'s): they
add the tenant's stored offset themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.domain.durations import Duration, advanced
from service.domain.errors import InvalidDuration, SandboxOnly
from service.flows.deps import Deps
from service.store import sandbox as sandbox_store

# One call moves a clock at most this far (ten years and the leap days in them): far enough for
# any birthday or expiry, near enough that a typo (P1000Y) is refused rather than obeyed.
MAX_ADVANCE = timedelta(days=3653)


@dataclass(frozen=True)
class ClockQuery:
    tenant: str


@dataclass(frozen=True)
class ClockAdvance:
    tenant: str
    by: Duration


@dataclass(frozen=True)
class SandboxClock:
    tenant: str
    now: datetime  # the tenant's current time
    offset: timedelta  # how far it runs ahead of the real clock


def read_clock(session: Session, deps: Deps, query: ClockQuery) -> SandboxClock:
    """The tenant's time; SandboxOnly for a production tenant."""
    offset = sandbox_store.clock_offset(session, query.tenant)
    if offset is None:
        raise SandboxOnly(query.tenant)
    return SandboxClock(query.tenant, deps.clock() + offset, offset)


def advance_clock(session: Session, deps: Deps, advance: ClockAdvance) -> SandboxClock:
    """Move the tenant's clock forward by `advance.by` (calendar parts on the service's civil
    calendar, as ages are counted); SandboxOnly for a production tenant, InvalidDuration for
    a zero step or one beyond MAX_ADVANCE."""
    if advance.by.is_zero:
        raise InvalidDuration("the clock only moves forward: the duration must not be zero")
    before = read_clock(session, deps, ClockQuery(advance.tenant))
    step = advanced(before.now, advance.by, deps.timezone) - before.now
    if step > MAX_ADVANCE:
        raise InvalidDuration(f"one call moves the clock at most {MAX_ADVANCE.days} days (P10Y)")
    offset = sandbox_store.advance_clock(session, advance.tenant, step)
    return SandboxClock(advance.tenant, deps.clock() + offset, offset)
