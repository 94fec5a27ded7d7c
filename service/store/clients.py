"""OAuth2 clients and their access tokens; secrets and tokens are kept only as digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.store import audiences
from service.store.models import AccessToken, Client

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


def digest(secret: str) -> str:
    """SHA-256 hex of a generated secret. Secrets are 256-bit random, so no slow KDF is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str


def create_client(
    session: Session, *, tenant: str, name: str, scopes: list[str], audience: str | None, now: datetime
) -> NewClient:
    """Register a client; the secret is returned here once and stored only as a digest.

    Raises ValueError for an unknown scope or an empty tenant or name, and
    audiences.AudienceTaken (a ValueError) for an audience of another tenant.
    """
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
    if not scopes:
        raise ValueError("at least one scope is required")
    if not tenant.strip() or not name.strip():
        raise ValueError("tenant and name must not be empty")
    if len(tenant) > 128 or len(name) > 200 or (audience is not None and len(audience) > 200):
        raise ValueError("tenant (128), name (200) or audience (200) too long")
    if audience is not None:
        audiences.claim(session, tenant=tenant, audience=audience, now=now)
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
    return session.get(Client, client_id)


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


def find_access_token(session: Session, token: str) -> tuple[AccessToken, Client] | None:
    row = session.execute(
        select(AccessToken, Client)
        .join(Client, Client.client_id == AccessToken.client_id)
        .where(AccessToken.token_hash == digest(token))
    ).first()
    return None if row is None else (row[0], row[1])
