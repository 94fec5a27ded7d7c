"""Fixtures for tests that need a database of their own: a fresh SQLite file, or a fresh
Postgres database created beside AGEGATE_TEST_DATABASE_URL's (whose session-wide database
the other tests share) and dropped afterwards."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.config import Settings
from tests.conftest import ISSUER, METRICS_TOKEN, TEST_KEK, default_audience

POSTGRES_URL = os.environ.get("AGEGATE_TEST_DATABASE_URL", "")

# Child under 14 and an adult guardian with document assurance (born 1984-04-06).
CHILD_BIRTH_DATE = "2016-03-01"
GUARDIAN_RESIDENT_ID = "11010219840406970X"

needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="AGEGATE_TEST_DATABASE_URL is not set")


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, issuer=ISSUER, kek=TEST_KEK, using_development_kek=False, metrics_token=METRICS_TOKEN)


class PostgresDatabases:
    """Hands out throw-away schemas in the database of AGEGATE_TEST_DATABASE_URL.

    Each URL carries `options=-csearch_path=<schema>`, so the migrations, the app and the
    inspector all see only that schema. Schemas rather than databases: DROP DATABASE waits
    for a checkpoint, which takes minutes on a server busy with other engineers' load.
    A set but unreachable AGEGATE_TEST_DATABASE_URL fails the test: a CI job that meant to
    test Postgres must not go green by skipping it.
    """

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        self.schemas: list[str] = []
        self.roles: list[str] = []
        try:
            with self.admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as error:
            self.admin.dispose()
            pytest.fail(f"AGEGATE_TEST_DATABASE_URL is set but its server is unreachable: {error.orig}", pytrace=False)

    def create(self, prefix: str, *, role: str | None = None) -> str:
        """A fresh empty schema; with `role`, a new login role that owns it and is the URL's user."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        url = self.url
        if role is not None:
            role = f"{role}_{uuid.uuid4().hex[:12]}"
            self.execute(f'CREATE ROLE "{role}" LOGIN')
            self.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{self.url.database}" TO "{role}"')
            self.roles.append(role)
            url = url.set(username=role, password=None)
        self.execute(f'CREATE SCHEMA "{name}"' + (f' AUTHORIZATION "{role}"' if role else ""))
        self.schemas.append(name)
        return url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)

    def execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def drop_all(self) -> None:
        for name in self.schemas:
            self.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        for role in self.roles:
            self.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            self.execute(f'DROP OWNED BY "{role}"')
            self.execute(f'DROP ROLE IF EXISTS "{role}"')
        self.admin.dispose()


@pytest.fixture(scope="module")
def postgres_databases() -> Iterator[PostgresDatabases]:
    if not POSTGRES_URL:
        pytest.skip("AGEGATE_TEST_DATABASE_URL is not set")
    databases = PostgresDatabases(POSTGRES_URL)
    yield databases
    databases.drop_all()


def _fresh_params() -> list[Any]:
    params = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL:
        params.append(pytest.param("postgres", id="postgres"))
    return params


@pytest.fixture(params=_fresh_params())
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no tables) that only this test uses."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return databases.create("agegate_it_fresh")


def basic_auth(client_id: str, client_secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()}


def bearer_for(http: Any, client_id: str, client_secret: str) -> dict[str, str]:
    """Trade client credentials for a bearer header at /oauth/token."""
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic_auth(client_id, client_secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def make_client(url_or_sessions: Any, *scopes: str, tenant: str | None) -> tuple[str, str]:
    """Register a client straight through the store (what `agegate clients create` calls);
    tenant None registers a regulator's client (its one scope is audit:export)."""
    from datetime import datetime, timezone

    from service.store import clients as client_store
    from service.store.db import make_engine, make_sessionmaker, transaction

    engine = None
    sessions = url_or_sessions
    if isinstance(url_or_sessions, str):
        engine = make_engine(url_or_sessions)
        sessions = make_sessionmaker(engine)
    try:
        with transaction(sessions) as session:
            now = datetime.now(timezone.utc)
            if tenant is None:
                new = client_store.create_regulator_client(session, name="it", now=now)
            else:
                new = client_store.create_client(
                    session, tenant=tenant, name="it", scopes=list(scopes), audience=default_audience(tenant), now=now
                )
    finally:
        if engine is not None:
            engine.dispose()
    return new.client_id, new.client_secret


def register(http: Any, auth: dict[str, str], ref: str, **evidence: str) -> None:
    response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth)
    assert response.status_code in (200, 201), response.get_json()


def consent_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "child_ref": "child",
        "guardian_ref": "parent",
        "relationship": "parent",
        "scopes": ["pi_processing", "companion"],
        "method": "in_app_parent_account",
        "evidence_ref": "ev-1",
        "notice_version": "privacy-notice-v3",
        "expires_at": None,
    }
    body.update(overrides)
    return body

