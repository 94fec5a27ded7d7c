"""POST /v1/subjects on a runtime built as the service builds it (its own engine and session
factories, not one rolled-back connection): a new subject is one statement that commits on
its own on PostgreSQL, and every other outcome is the one the contract documents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, func, select

from service.app import create_app
from service.store import migrate
from service.store.db import transaction
from service.store.models import Subject
from tests.integration.conftest import GUARDIAN_RESIDENT_ID, bearer_for, make_client, settings_for


@dataclass
class Served:
    http: Any
    auth: dict[str, str]
    runtime: Any
    statements: list[tuple[str, bool]]  # (SQL, whether the connection was in autocommit)

    def register(self, ref: str, **evidence: str) -> Any:
        self.statements.clear()
        return self.http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=self.auth)

    def subjects(self) -> int:
        with transaction(self.runtime.sessions) as session:
            return session.scalar(select(func.count()).select_from(Subject)) or 0


@pytest.fixture
def served(fresh_database_url: str) -> Iterator[Served]:
    migrate.upgrade(fresh_database_url)
    app = create_app(settings_for(fresh_database_url))
    runtime = app.extensions["agegate"]
    http = app.test_client()
    auth = bearer_for(http, *make_client(fresh_database_url, "subjects:write", "subjects:read", tenant="tenant-a"))
    statements: list[tuple[str, bool]] = []

    @event.listens_for(runtime.engine, "before_cursor_execute")
    def _record(conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        # psycopg's flag; Python 3.11's sqlite3 has none (SQLite registers in a transaction)
        statements.append((statement, getattr(conn.connection.dbapi_connection, "autocommit", False) is True))

    try:
        yield Served(http, auth, runtime, statements)
    finally:
        runtime.engine.dispose()


def test_a_new_subject_on_postgres_is_one_statement_that_commits_itself(served: Served) -> None:
    if served.runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite registers in a write transaction")
    served.register("warm-up", method="self_declared", birth_date="1990-01-01")  # the bearer lookup
    response = served.register("kid", method="self_declared", birth_date="2016-03-01")
    assert response.status_code == 201
    assert [autocommit for _, autocommit in served.statements] == [True]
    sql = " ".join(served.statements[0][0].split())
    assert sql.startswith("WITH new_slot AS (INSERT INTO status_slots") and "INSERT INTO subjects" in sql


def test_each_outcome_of_a_registration_is_as_documented(served: Served) -> None:
    assert served.register("kid", method="self_declared", birth_date="2016-03-01").status_code == 201
    again = served.register("kid", method="self_declared", birth_date="2016-03-01")
    assert (again.status_code, again.get_json()["age_bracket"]) == (200, "under_14")
    contradicting = served.register("kid", method="self_declared", birth_date="2015-03-01")
    assert (contradicting.status_code, contradicting.get_json()["code"]) == (409, "contradicting_evidence")

    assert served.register("parent", method="self_declared", birth_date="1984-04-06").status_code == 201
    upgraded = served.register("parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
    assert (upgraded.status_code, upgraded.get_json()["assurance"]) == (200, "document")

    held = served.register("impostor", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
    assert (held.status_code, held.get_json()["code"]) == (409, "duplicate_resident_id")
    assert served.subjects() == 2

    assert served.http.delete("/v1/subjects/kid", headers=served.auth).status_code == 204
    assert served.register("kid", method="self_declared", birth_date="2015-03-01").status_code == 201
