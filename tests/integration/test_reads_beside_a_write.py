"""Read sessions never queue behind a write: the keyring and status caches refresh in read
sessions of their own, so a step may sign (a receipt, a token) inside its write transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from service.app import build_runtime
from service.flows.subjects import Evidence, SubjectRegistration, register_subject
from service.store import migrate
from service.store.transactions import run_in_transaction
from service.tokens.keys import ensure_signing_key
from tests.integration.conftest import settings_for


def test_the_keyring_refreshes_inside_an_open_write_transaction(fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url)
    runtime = build_runtime(settings_for(fresh_database_url))
    try:
        kid = run_in_transaction(runtime.sessions, lambda session: ensure_signing_key(session, runtime.kek, runtime.clock()))

        def write_then_read_the_keys(session: Session) -> str:
            # the write takes SQLite's write lock (BEGIN IMMEDIATE) until commit
            register_subject(session, runtime.deps, SubjectRegistration("t", "kid", Evidence("self_declared", birth_date=date(2016, 3, 1))))
            runtime.keyring.refresh()
            return runtime.keyring.snapshot().kid

        assert run_in_transaction(runtime.sessions, write_then_read_the_keys) == kid
    finally:
        runtime.engine.dispose()
