"""The one place the service opens and commits a transaction: every business step (through
Runtime.run/read), every command, the key and status caches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def run_in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run `work(session)` in one transaction: commit if it returns, roll back all if it raises.

    `work` is a callable rather than the body of a `with` block so that this function can
    run it again: a bounded retry on deadlock or serialization failure belongs here, and
    only here. Steps therefore read the clock and build their ids inside `work`.

    The session connects lazily, on its first statement: whatever `work` does before its
    first query (checking evidence, fetching an attester's JWKS) holds no connection or lock.
    """
    with sessions() as session, session.begin():
        return work(session)
