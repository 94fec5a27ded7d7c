"""OAuth2 clients and their access tokens; secrets and tokens are kept only as digests.

The CLI (`agegate clients ...`) and the token endpoint both go through these functions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from service.store import audiences
from service.store import sandbox as sandbox_store
from service.store.errors import NotFound
from service.store.models import AccessToken, Client, SandboxTenant

SCOPES = frozenset(
    {
        "subjects:write",
        "subjects:read",
        "tokens:issue",
        "tokens:verify",
        "consent:write",
        "consent:read",
        "audit:export",
        "webhooks:manage",
    }
)
# CONTRACT §2 (v2): a regulator client belongs to no tenant and may hold only this scope.
REGULATOR_SCOPES = frozenset({"audit:export"})


def digest(secret: str) -> str:
    """SHA-256 hex of a generated secret. Secrets are 256-bit random, so no slow KDF is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str


def _check_fields(name: str, scopes: list[str], audience: str | None) -> None:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
    if not scopes:
        raise ValueError("at least one scope is required")
    if not name.strip():
        raise ValueError("name must not be empty")
    if len(name) > 200 or (audience is not None and len(audience) > 200):
        raise ValueError("name (200) or audience (200) too long")


def create_client(
    session: Session,
    *,
    tenant: str,
    name: str,
    scopes: list[str],
    audience: str | None,
    now: datetime,
    sandbox: bool = False,
) -> NewClient:
    """Register a tenant's client; the secret is returned here once and stored only as a digest.

    `sandbox` makes (or keeps) the tenant a sandbox tenant (CONTRACT §15).
    Raises ValueError for an unknown scope or an empty tenant or name,
    audiences.AudienceTaken (a ValueError) for an audience of another tenant, and
    sandbox.TenantKindConflict (a ValueError) for a client of the other kind than its tenant.
    """
    _check_fields(name, scopes, audience)
    if not tenant.strip():
        raise ValueError("tenant must not be empty")
    if len(tenant) > 128:
        raise ValueError("tenant too long (128)")
    sandbox_store.check_kind(session, tenant, sandbox=sandbox)
    if sandbox:
        sandbox_store.register(session, tenant, now)
    if audience is not None:
        # an audience belongs to the tenant that registered it (CONTRACT §16)
        audiences.claim(session, tenant=tenant, audience=audience, now=now)
    return _add(session, tenant=tenant, name=name, scopes=scopes, audience=audience, now=now)


def create_regulator_client(session: Session, *, name: str, now: datetime) -> NewClient:
    """Register a regulator's client: no tenant, only `audit:export` (CONTRACT §2, v2).

    Raises ValueError for an empty name.
    """
    _check_fields(name, sorted(REGULATOR_SCOPES), None)
    return _add(session, tenant=None, name=name, scopes=sorted(REGULATOR_SCOPES), audience=None, now=now)


def _add(
    session: Session, *, tenant: str | None, name: str, scopes: list[str], audience: str | None, now: datetime
) -> NewClient:
    client_id = "cl_" + secrets.token_urlsafe(16)
    client_secret = secrets.token_urlsafe(32)
    session.add(
        Client(
            client_id=client_id,
            tenant=tenant,
            name=name,
            secret_hash=digest(client_secret),
            scopes=" ".join(sorted(set(scopes))),
            audience=audience,
            created_at=now,
        )
    )
    return NewClient(client_id, client_secret)


def get_client(session: Session, client_id: str) -> Client | None:
    """The client, revoked or not (None when the id was never issued)."""
    return session.get(Client, client_id)


def get_active_client(session: Session, client_id: str) -> Client | None:
    """The client if it exists and is not revoked; a revoked client authenticates as unknown."""
    client = session.get(Client, client_id)
    return None if client is None or client.revoked_at is not None else client


def list_clients(session: Session, tenant: str | None = None) -> list[Client]:
    """Every client (or one tenant's), oldest first; revoked ones included, marked by revoked_at."""
    query = select(Client).order_by(Client.created_at, Client.client_id)
    if tenant is not None:
        query = query.where(Client.tenant == tenant)
    return list(session.scalars(query))


def _require(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id, with_for_update=True)
    if client is None:
        raise NotFound("client", client_id)
    return client


def revoke_client(session: Session, client_id: str, now: datetime) -> Client:
    """Revoke a client and every access token it holds. Revoking twice changes nothing.

    Raises NotFound for an id that was never issued.
    """
    client = _require(session, client_id)
    if client.revoked_at is None:
        client.revoked_at = now
    session.execute(delete(AccessToken).where(AccessToken.client_id == client_id))
    return client


def rotate_secret(session: Session, client_id: str, now: datetime) -> NewClient:
    """Give the client a new secret; the old one and every access token issued with it stop working.

    Raises NotFound for an unknown id and ValueError for a revoked client.
    """
    client = _require(session, client_id)
    if client.revoked_at is not None:
        raise ValueError(f"client {client_id} is revoked; create a new one instead")
    client_secret = secrets.token_urlsafe(32)
    client.secret_hash = digest(client_secret)
    client.secret_rotated_at = now
    session.execute(delete(AccessToken).where(AccessToken.client_id == client_id))
    return NewClient(client_id, client_secret)


def tenant_exists(session: Session, tenant: str) -> bool:
    """A tenant exists once a client was registered for it (revoked clients still count)."""
    return bool(session.scalar(select(exists().where(Client.tenant == tenant))))


def tenants(session: Session) -> list[str]:
    """Every tenant a client was ever registered for, in name order."""
    return list(session.scalars(select(Client.tenant).where(Client.tenant.is_not(None)).distinct().order_by(Client.tenant)))


def save_access_token(
    session: Session, *, token: str, client_id: str, scopes: str, now: datetime, expires_in: int
) -> None:
    session.add(
        AccessToken(
            token_hash=digest(token),
            client_id=client_id,
            scopes=scopes,
            issued_at=now,
            expires_at=now + timedelta(seconds=expires_in),
        )
    )
    # Housekeeping on the write path keeps the table bounded without a cron job.
    session.execute(delete(AccessToken).where(AccessToken.expires_at < now - timedelta(days=1)))


@dataclass(frozen=True)
class FoundToken:
    access: AccessToken
    client: Client
    sandbox: bool  # the client's tenant is a sandbox tenant (CONTRACT §15)


def find_access_token(session: Session, token: str) -> FoundToken | None:
    """The token, its client and its tenant's kind; None when unknown, revoked, or its client was revoked."""
    row = session.execute(
        select(AccessToken, Client, SandboxTenant.tenant)
        .join(Client, Client.client_id == AccessToken.client_id)
        .outerjoin(SandboxTenant, SandboxTenant.tenant == Client.tenant)
        .where(AccessToken.token_hash == digest(token), Client.revoked_at.is_(None))
    ).first()
    return None if row is None else FoundToken(row[0], row[1], row[2] is not None)


def revoke_access_token(session: Session, token: str, client_id: str) -> bool:
    """RFC 7009: forget the token if `client_id` holds it; True when one was revoked.

    Another client's token is left alone (and the caller answers as if it were revoked).
    """
    result = session.execute(
        delete(AccessToken).where(AccessToken.token_hash == digest(token), AccessToken.client_id == client_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
