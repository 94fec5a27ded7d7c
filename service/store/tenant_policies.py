"""Tenant policy revisions (CONTRACT §13): install one, read the one in force."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from service.store.models import TenantPolicyRevision


def latest_revision_columns() -> tuple[Any, Any]:
    """The tenant's latest override revision and its document as two scalar subqueries on
    the bound parameter `tenant` (both NULL with no override), for statements that read a
    tenant's policy beside other facts in one round trip (token facts, a grant's facts).
    Uncorrelated, so PostgreSQL runs each once per statement: an index probe each."""
    latest = (
        select(TenantPolicyRevision.revision, TenantPolicyRevision.document)
        .where(TenantPolicyRevision.tenant == bindparam("tenant"))
        .order_by(TenantPolicyRevision.revision.desc())
        .limit(1)
    )
    return (
        latest.with_only_columns(TenantPolicyRevision.revision).scalar_subquery().label("policy_revision"),
        latest.with_only_columns(TenantPolicyRevision.document).scalar_subquery().label("policy_document"),
    )


@dataclass(frozen=True)
class InstalledOverride:
    tenant: str
    revision: int
    document: dict[str, Any]
    installed_at: datetime


def install(session: Session, tenant: str, document: dict[str, Any], now: datetime) -> int:
    """Store ``document`` (already validated) as the tenant's next revision; returns its number.

    Two installs racing for one tenant cannot both take a revision: the primary key refuses
    the second, which the caller's retry or error handling sees as a conflict.
    """
    latest = session.scalar(select(func.max(TenantPolicyRevision.revision)).where(TenantPolicyRevision.tenant == tenant))
    revision = (latest or 0) + 1
    session.add(
        TenantPolicyRevision(
            tenant=tenant, revision=revision, document=json.dumps(document, sort_keys=True), installed_at=now
        )
    )
    session.flush()
    return revision


def in_force(session: Session, tenant: str, at: datetime | None = None) -> InstalledOverride | None:
    """The tenant's latest revision (installed at or before ``at``, when given); None if none."""
    query = select(TenantPolicyRevision).where(TenantPolicyRevision.tenant == tenant)
    if at is not None:
        query = query.where(TenantPolicyRevision.installed_at <= at)
    row = session.scalars(query.order_by(TenantPolicyRevision.revision.desc()).limit(1)).first()
    if row is None:
        return None
    return InstalledOverride(row.tenant, row.revision, json.loads(row.document), row.installed_at)
