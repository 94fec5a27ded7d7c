"""Sandbox tenants (CONTRACT §15): which tenants are in test mode and each one's clock.

A tenant's kind is fixed by its first client: `register` is called when a sandbox client is
created, and `check_kind` refuses to mix kinds in one tenant either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from service.store.models import Client, SandboxTenant, Subject


class TenantKindConflict(ValueError):
    """A sandbox client for a production tenant, or a production client for a sandbox one."""


def is_sandbox(session: Session, tenant: str) -> bool:
    return session.get(SandboxTenant, tenant) is not None


def sandbox_tenants(session: Session) -> set[str]:
    """Every sandbox tenant: what production reports and scans leave out."""
    return set(session.scalars(select(SandboxTenant.tenant)))


def in_production(tenant: ColumnElement[str]) -> ColumnElement[bool]:
    """A condition on a row's tenant column: a production tenant's. The scans and sweeps that
    run on the real clock take it; each sandbox tenant's run on its own clock."""
    return ~exists().where(SandboxTenant.tenant == tenant)


def clocks(session: Session) -> dict[str, timedelta]:
    """Every sandbox tenant's clock offset."""
    rows = session.execute(select(SandboxTenant.tenant, SandboxTenant.clock_offset_seconds).order_by(SandboxTenant.tenant))
    return {tenant: timedelta(seconds=seconds) for tenant, seconds in rows}


def lock_brackets_logged_until(session: Session, tenant: str) -> datetime | None:
    """The instant (tenant clock) up to which the tenant's bracket changes are logged, the row
    locked so one worker at a time logs them; None before the first pass."""
    row = session.get(SandboxTenant, tenant, with_for_update=True)
    if row is None:
        raise LookupError(tenant)
    return row.brackets_logged_until


def set_brackets_logged_until(session: Session, tenant: str, at: datetime) -> None:
    row = session.get(SandboxTenant, tenant)
    if row is None:
        raise LookupError(tenant)
    row.brackets_logged_until = at


def clock_offset(session: Session, tenant: str) -> timedelta | None:
    """How far the tenant's clock runs ahead of the real one; None for a production tenant."""
    seconds = session.scalar(select(SandboxTenant.clock_offset_seconds).where(SandboxTenant.tenant == tenant))
    return None if seconds is None else timedelta(seconds=seconds)


def advance_clock(session: Session, tenant: str, by: timedelta) -> timedelta:
    """Move a sandbox tenant's clock forward by `by`; returns the new offset.

    Raises LookupError for a production (or unknown) tenant and ValueError for a step that is
    not forward: time in a sandbox, as outside it, never runs back.
    """
    if by <= timedelta(0):
        raise ValueError("the clock only moves forward")
    row = session.get(SandboxTenant, tenant, with_for_update=True)
    if row is None:
        raise LookupError(tenant)
    row.clock_offset_seconds += int(by.total_seconds())
    return timedelta(seconds=row.clock_offset_seconds)


def check_kind(session: Session, tenant: str, *, sandbox: bool) -> None:
    """Refuse a client of the other kind than the tenant already is.

    A tenant with clients or subjects but no sandbox row is a production tenant.
    """
    if is_sandbox(session, tenant):
        if not sandbox:
            raise TenantKindConflict(f"tenant {tenant!r} is a sandbox tenant; it cannot be turned into a production one")
        return
    if not sandbox:
        return
    in_use = session.scalar(
        select(
            exists().where(Client.tenant == tenant) | exists().where(Subject.tenant == tenant)
        )
    )
    if in_use:
        raise TenantKindConflict(f"tenant {tenant!r} is a production tenant; a sandbox needs a tenant of its own")


def register(session: Session, tenant: str, now: datetime) -> None:
    """Make `tenant` a sandbox tenant (idempotent; `check_kind` first)."""
    if not is_sandbox(session, tenant):
        session.add(SandboxTenant(tenant=tenant, clock_offset_seconds=0, created_at=now, brackets_logged_until=now))
