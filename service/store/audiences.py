"""Audiences (persona service ids) and the tenant each belongs to (CONTRACT §16).

The first tenant to register a client with `--audience A` owns A; another tenant's
registration of A is refused, and a token for A may only be issued to A's owner.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.store.models import Audience


class AudienceTaken(ValueError):
    """The audience belongs to another tenant."""

    def __init__(self, audience: str) -> None:
        super().__init__(f"audience {audience} belongs to another tenant")
        self.audience = audience


def claim(session: Session, *, tenant: str, audience: str, now: datetime) -> None:
    """Make `tenant` the owner of `audience`, or confirm it already is; raises AudienceTaken.

    INSERT ... ON CONFLICT DO NOTHING, then a read: of two tenants racing for a new
    audience, exactly one becomes its owner.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(Audience).values(audience=audience, tenant=tenant, created_at=now).on_conflict_do_nothing(index_elements=["audience"])
    )
    if owner(session, audience) != tenant:
        raise AudienceTaken(audience)


def owner(session: Session, audience: str) -> str | None:
    """The tenant that owns `audience`, or None if no tenant registered it."""
    return session.scalar(select(Audience.tenant).where(Audience.audience == audience))
