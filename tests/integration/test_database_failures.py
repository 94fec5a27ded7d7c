"""Database failures are named (issue 16, D5/D12): a problem `type` and a log line that say what
happened (database_unavailable, database_timeout, deadlock_retried_out, disk_full,
write_failed) instead of "database unreachable" for all of them; and every PostgreSQL
connection carries connect, statement and lock timeouts."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from service.api.problems import database_failure
from service.app import create_app
from service.config import DatabaseTimeouts
from service.store import migrate
from service.store.db import DatabaseUnavailable, make_engine
from service.store.errors import DeadlockRetriedOut
from tests.integration.conftest import (
    CHILD_BIRTH_DATE,
    GUARDIAN_RESIDENT_ID,
    PostgresDatabases,
    bearer_for,
    consent_body,
    make_client,
    needs_postgres,
    register,
    settings_for,
)


def wrapped(driver_error: Exception) -> DBAPIError:
    """A driver error as SQLAlchemy hands it over."""
    return OperationalError("SELECT 1", {}, driver_error)


def sqlite_error(name: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(name.lower())
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    "error, name",
    [
        (wrapped(psycopg.errors.DeadlockDetected()), "deadlock_retried_out"),
        (wrapped(psycopg.errors.SerializationFailure()), "deadlock_retried_out"),
        (DeadlockRetriedOut(3), "deadlock_retried_out"),
        (wrapped(psycopg.errors.DiskFull()), "disk_full"),
        (wrapped(psycopg.errors.IoError()), "write_failed"),
        (wrapped(psycopg.errors.OutOfMemory()), "write_failed"),
        (wrapped(psycopg.errors.ReadOnlySqlTransaction()), "write_failed"),
        (wrapped(psycopg.errors.QueryCanceled()), "database_timeout"),
        (wrapped(psycopg.errors.LockNotAvailable()), "database_timeout"),
        (wrapped(psycopg.errors.AdminShutdown()), "database_unavailable"),
        (wrapped(psycopg.errors.TooManyConnections()), "database_unavailable"),
        (wrapped(psycopg.OperationalError("connection refused")), "database_unavailable"),
        (DatabaseUnavailable("down"), "database_unavailable"),
        (wrapped(sqlite_error("SQLITE_FULL")), "disk_full"),
        (wrapped(sqlite_error("SQLITE_IOERR_WRITE")), "write_failed"),
        (wrapped(sqlite_error("SQLITE_BUSY")), "database_timeout"),
        (wrapped(sqlite_error("SQLITE_CANTOPEN")), "database_unavailable"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(getattr(value, "orig", value)).__name__,
)
def test_each_database_failure_has_its_own_name(error: Exception, name: str) -> None:
    failure = database_failure(error)
    assert failure is not None and failure[0] == name


def test_errors_that_are_not_database_failures_are_not_named_as_one() -> None:
    assert database_failure(ValueError("x")) is None


@needs_postgres
def test_every_postgres_connection_carries_the_configured_timeouts(postgres_databases: PostgresDatabases) -> None:
    url = postgres_databases.create("agegate_it_bounds")  # its URL has options=-csearch_path=...: kept
    engine = make_engine(url, timeouts=DatabaseTimeouts(connect=3, statement=7, lock=2))
    try:
        with engine.connect() as conn:
            shown = [conn.scalar(text(f"SHOW {name}")) for name in ("statement_timeout", "lock_timeout", "search_path")]
        assert shown[:2] == ["7s", "2s"]
        assert shown[2].startswith("agegate_it_bounds")
    finally:
        engine.dispose()


@needs_postgres
def test_a_write_stuck_behind_a_row_lock_answers_database_timeout_and_logs_it(
    postgres_databases: PostgresDatabases, caplog: pytest.LogCaptureFixture
) -> None:
    """Another session holds the tenant's chain head: the grant waits lock_timeout, not forever."""
    url = postgres_databases.create("agegate_it_locked")
    migrate.upgrade(url)
    settings = dataclasses.replace(settings_for(url), database_timeouts=DatabaseTimeouts(lock=1))
    app = create_app(settings)
    http = app.test_client()
    auth = bearer_for(http, *make_client(url, "subjects:write", "consent:write", "consent:read", tenant="t"))
    register(http, auth, "child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
    register(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
    assert http.post("/v1/consents", json=consent_body(), headers=auth).status_code == 201  # the head row exists

    holder = make_engine(url)
    locked, release = threading.Event(), threading.Event()

    def hold_the_head() -> None:
        with holder.connect() as conn:
            conn.execute(text("SELECT * FROM consent_log_heads WHERE tenant = 't' FOR UPDATE"))
            locked.set()
            release.wait(30)
            conn.rollback()

    thread = threading.Thread(target=hold_the_head)
    thread.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="agegate.api"):
            response = http.post("/v1/consents", json=consent_body(evidence_ref="ev-2"), headers=auth)
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
        holder.dispose()
    try:
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["type"] == "urn:agegate:problem:database_timeout"
        assert response.headers["Retry-After"].isdigit()
        assert waited < 10  # bounded by lock_timeout (1 s), not by the holder (30 s)
        assert any(r.getMessage().startswith("database_timeout: LockNotAvailable") for r in caplog.records)
        listed = http.get("/v1/consents?child_ref=child", headers=auth).get_json()["items"]
        assert [c["evidence_ref"] for c in listed] == ["ev-1"]  # nothing written
    finally:
        app.extensions["agegate"].engine.dispose()


def test_a_failed_statement_does_not_carry_its_parameters_into_messages_or_logs(database_url: str) -> None:
    """The export failing mid-stream used to log a traceback with the SQL parameters (D2)."""
    engine = make_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE ref = :ref"), {"ref": "child-ref-secret-42"})
    finally:
        engine.dispose()
    assert "child-ref-secret-42" not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)
