"""The one place the service opens and commits a transaction: every business step (through
Runtime.run/read), every command, the key and status caches."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from service.store import audit_log
from service.store.errors import DeadlockRetriedOut

T = TypeVar("T")

log = logging.getLogger("agegate.store")

# Tries of one transaction the database aborts to break a deadlock or a serialization
# conflict. With one lock order (store/locks.py) a deadlock is rare; three tries turn the
# rare one into a short wait, and a transaction that keeps losing answers 503
# deadlock_retried_out instead of waiting on.
DEADLOCK_ATTEMPTS = 3
# PostgreSQL SQLSTATEs after which the whole transaction was rolled back and may simply run again
ABORTED_TO_RETRY = {"40P01": "deadlock_detected", "40001": "serialization_failure"}
# Each retry waits a random part of attempt * this, so two victims do not collide again in step.
RETRY_PAUSE_SECONDS = 0.02


def run_in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T], *, attempts: int = DEADLOCK_ATTEMPTS) -> T:
    """Run `work(session)` in one transaction: commit if it returns, roll back all if it raises.

    `work` is a callable rather than the body of a `with` block so that this function can
    run it again: when the database aborts the transaction to break a deadlock or a
    serialization conflict, `work` runs again in a fresh transaction, up to `attempts` times
    in all; then DeadlockRetriedOut. Steps therefore read the clock and build their ids
    inside `work`.

    Consent-log appends are staged and linked just before the COMMIT (store/audit_log.py),
    so a tenant's chain head is held for the linking and the commit only.

    The session connects lazily, on its first statement: whatever `work` does before its
    first query (checking evidence, fetching an attester's JWKS) holds no connection or lock.
    """
    attempt = 1
    while True:
        try:
            with sessions() as session, session.begin():
                audit_log.stage_until_commit(session)
                result = work(session)
                audit_log.link_staged(session)  # the log heads last, just before the COMMIT
                return result
        except DBAPIError as error:
            aborted = ABORTED_TO_RETRY.get(getattr(error.orig, "sqlstate", None) or "")
            if aborted is None:
                raise
            if attempt >= attempts:
                log.warning("deadlock_retried_out: %s on each of %d tries", aborted, attempts)
                raise DeadlockRetriedOut(attempts) from error
            log.info("deadlock_retried: %s on try %d of %d", aborted, attempt, attempts)
            time.sleep(random.uniform(0, attempt * RETRY_PAUSE_SECONDS))
            attempt += 1
