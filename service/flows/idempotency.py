"""Idempotency-Key (CONTRACT §7): the first answer to a key is the answer to every repeat."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.flows.deps import Deps
from service.store import idempotency as idempotency_store


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key and the digest of the request it came with."""

    client_id: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class Answer:
    """What a caller replies: a JSON body and a status code, kept as they were."""

    body: dict[str, Any]
    status: int


def once(session: Session, deps: Deps, key: IdempotencyKey | None, answer: Callable[[], Answer]) -> Answer:
    """Run `answer()` (a step and the dump of its result) once per key, in this transaction.

    A repeat of the key with the same request returns the stored answer and runs nothing; a
    concurrent repeat waits on the first and then does the same. Another request under the
    same key raises store Conflict. Without a key, `answer()` simply runs.
    """
    if key is None:
        return answer()
    now = deps.clock()
    replay = idempotency_store.claim(
        session, client_id=key.client_id, key=key.key, request_hash=key.request_hash, now=now
    )
    if replay is not None:
        return Answer(replay.body, replay.status_code)
    first = answer()
    idempotency_store.remember(
        session, client_id=key.client_id, key=key.key, status_code=first.status, body=first.body, now=now
    )
    return first
