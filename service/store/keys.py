"""Signing-key rows: the active key, the published set, rotation; each per realm.

A realm is `production` or `sandbox` (CONTRACT §15): sandbox tenants' tokens are signed with
sandbox keys only, published only under `<issuer>/sandbox`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.store.models import SigningKey


PRODUCTION, SANDBOX = "production", "sandbox"
REALMS = (PRODUCTION, SANDBOX)


def active_key(session: Session, realm: str = PRODUCTION) -> SigningKey | None:
    """The realm's newest key not retired: the one its new tokens are signed with."""
    return session.scalars(
        select(SigningKey)
        .where(SigningKey.realm == realm, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    ).first()


def published_keys(session: Session, now: datetime, realm: str = PRODUCTION) -> list[SigningKey]:
    """Every key a live token of the realm may carry: the active ones and retired ones still in their grace time."""
    return list(
        session.scalars(
            select(SigningKey)
            .where(SigningKey.realm == realm, or_(SigningKey.publish_until.is_(None), SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc())
        )
    )


def add_key(
    session: Session,
    *,
    kid: str,
    private_key_enc: bytes,
    public_jwk: str,
    now: datetime,
    retire_grace: timedelta,
    realm: str = PRODUCTION,
) -> SigningKey:
    """Store a new active key of `realm` and retire the realm's others, keeping them published
    for `retire_grace` (the longest a token they signed can still live)."""
    if realm not in REALMS:
        raise ValueError(f"unknown realm {realm!r}")
    retiring = select(SigningKey).where(SigningKey.realm == realm, SigningKey.retired_at.is_(None)).with_for_update()
    for old in session.scalars(retiring):
        old.retired_at = now
        old.publish_until = now + retire_grace
    key = SigningKey(kid=kid, private_key_enc=private_key_enc, public_jwk=public_jwk, created_at=now, realm=realm)
    session.add(key)
    session.flush()
    return key
