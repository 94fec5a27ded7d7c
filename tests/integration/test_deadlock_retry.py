"""The transaction runner retries a transaction the database aborted to break a deadlock or a
serialization conflict, a bounded number of times, then answers 503 deadlock_retried_out
(issue 16, D3 and D12: deadlocks used to be reported as "database unreachable")."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.store import consents as consent_store
from service.store.db import make_engine, make_sessionmaker
from service.store.errors import DeadlockRetriedOut
from service.store.locks import advisory_key
from service.store.models import StatusSlot
from service.store.transactions import DEADLOCK_ATTEMPTS, run_in_transaction
from tests.conftest import ALL_SCOPES
from tests.integration.conftest import POSTGRES_URL, needs_postgres


def deadlock() -> OperationalError:
    """What SQLAlchemy raises when PostgreSQL picks this transaction as a deadlock's victim."""
    return OperationalError("SELECT ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


@needs_postgres
def test_a_real_deadlock_is_retried_and_both_transactions_commit(caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(POSTGRES_URL, pool_size=2)
    sessions = make_sessionmaker(engine)
    first, second = (advisory_key("test-deadlock", uuid.uuid4().hex) for _ in range(2))
    barrier = threading.Barrier(2)
    tries: Counter[int] = Counter()

    def locking(one: int, other: int) -> Any:
        def work(session: Session) -> int:
            tries[one] += 1
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": one})
            if tries[one] == 1:
                barrier.wait(timeout=10)  # each holds its first lock: the second ones cross
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": other})
            return tries[one]

        return work

    try:
        with caplog.at_level(logging.INFO, logger="agegate.store"), ThreadPoolExecutor(max_workers=2) as pool:
            a = pool.submit(run_in_transaction, sessions, locking(first, second))
            b = pool.submit(run_in_transaction, sessions, locking(second, first))
            answers = sorted([a.result(timeout=30), b.result(timeout=30)])
    finally:
        engine.dispose()
    assert answers == [1, 2]  # the survivor on its first try, the victim on its second
    assert any(r.getMessage().startswith("deadlock_retried: deadlock_detected on try 1") for r in caplog.records)


def test_a_transaction_aborted_on_every_try_raises_deadlock_retried_out_and_writes_nothing(runtime) -> None:  # type: ignore[no-untyped-def]
    tries = []

    def count_slots(session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(StatusSlot)) or 0)

    before = run_in_transaction(runtime.sessions, count_slots)

    def work(session: Session) -> None:
        tries.append(1)
        session.add(StatusSlot())
        session.flush()
        raise deadlock()

    with pytest.raises(DeadlockRetriedOut) as raised:
        run_in_transaction(runtime.sessions, work)
    assert len(tries) == raised.value.attempts == DEADLOCK_ATTEMPTS
    assert run_in_transaction(runtime.sessions, count_slots) == before


def test_other_database_errors_are_not_retried(runtime) -> None:  # type: ignore[no-untyped-def]
    tries = []

    def work(session: Session) -> None:
        tries.append(1)
        raise OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("terminating connection"))

    with pytest.raises(OperationalError):
        run_in_transaction(runtime.sessions, work)
    assert len(tries) == 1


def test_a_request_that_keeps_deadlocking_answers_503_deadlock_retried_out(http, api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    auth = api.bearer(*ALL_SCOPES)
    tries = []

    def always_deadlocks(*_: Any, **__: Any) -> None:
        tries.append(1)
        raise deadlock()

    monkeypatch.setattr(consent_store, "withdraw", always_deadlocks)
    response = http.post(f"/v1/consents/{uuid.uuid4()}/withdraw", json={}, headers=auth)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "urn:agegate:problem:deadlock_retried_out"
    assert response.headers["Retry-After"] == "1"
    assert len(tries) == DEADLOCK_ATTEMPTS
