"""Signing-key rows: the active key, the published set, rotation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.store.models import SigningKey


def active_key(session: Session) -> SigningKey | None:
    """The newest key not retired: the one new tokens are signed with."""
    return session.scalars(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc()).limit(1)
    ).first()


def published_keys(session: Session, now: datetime) -> list[SigningKey]:
    """Every key a live token may carry: the active ones and retired ones still in their grace time."""
    return list(
        session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.publish_until.is_(None), SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc())
        )
    )


def add_key(session: Session, *, kid: str, private_key_enc: bytes, public_jwk: str, now: datetime, retire_grace: timedelta) -> SigningKey:
    """Store a new active key and retire the others, keeping them published for `retire_grace`
    (the longest a token they signed can still live)."""
    for old in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)).with_for_update()):
        old.retired_at = now
        old.publish_until = now + retire_grace
    key = SigningKey(kid=kid, private_key_enc=private_key_enc, public_jwk=public_jwk, created_at=now)
    session.add(key)
    session.flush()
    return key
