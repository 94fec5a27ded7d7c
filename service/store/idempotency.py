"""Idempotency-Key records: the first answer to a key is the answer to every repeat."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.store.errors import Conflict
from service.store.models import IdempotencyRecord

# Keys are honoured at least this long; older ones are swept on the write path.
KEEP_FOR = timedelta(hours=48)


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


def claim(session: Session, *, client_id: str, key: str, request_hash: str, now: datetime) -> Replay | None:
    """Reserve `key` for this request, or return the stored answer of an earlier identical one.

    The reservation is an INSERT at the start of the transaction: a concurrent request with
    the same key waits on it and, once the first commits, replays its answer instead of
    writing twice. Another body under the same key is a Conflict.
    """
    existing = _find(session, client_id, key)
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    IdempotencyRecord(
                        client_id=client_id, key=key, request_hash=request_hash, status_code=0, response_body="", created_at=now
                    )
                )
            return None
        except IntegrityError:
            existing = _find(session, client_id, key)
            assert existing is not None
    if existing.request_hash != request_hash:
        raise Conflict("idempotency_key_reused", "this Idempotency-Key was used with another request")
    return Replay(existing.status_code, json.loads(existing.response_body))


def _find(session: Session, client_id: str, key: str) -> IdempotencyRecord | None:
    return session.scalars(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    ).first()


def remember(session: Session, *, client_id: str, key: str, status_code: int, body: dict[str, Any], now: datetime) -> None:
    """Store the answer for the key reserved by claim(), in the same transaction."""
    record = _find(session, client_id, key)
    assert record is not None
    record.status_code = status_code
    record.response_body = json.dumps(body)
    # The sweep skips rows another transaction is sweeping: it never waits, so it cannot
    # close a deadlock cycle with a writer of another tenant (store/locks.py).
    stale = (
        select(IdempotencyRecord.client_id, IdempotencyRecord.key)
        .where(IdempotencyRecord.created_at < now - KEEP_FOR)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(IdempotencyRecord).where(tuple_(IdempotencyRecord.client_id, IdempotencyRecord.key).in_(stale)))
