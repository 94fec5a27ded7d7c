"""Shared fixtures: a real database (SQLite always, Postgres when configured), one rolled-back
transaction per test, a fake clock, and the Flask test client."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from service.app import build_runtime
from service.config import Settings
from service.runtime import Runtime
from service.store import clients as client_store
from service.store import migrate
from service.store.db import make_engine, transaction
from service.store.transactions import run_in_transaction
from service.store.keys import REALMS
from service.tokens.keys import ensure_signing_key
from tests.dbroles import runtime_role

TEST_KEK = bytes(range(32))
ISSUER = "https://agegate.test"
START = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
METRICS_TOKEN = "test-scrape-token-0123456789"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def _database_params() -> list[Any]:
    params = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get("AGEGATE_TEST_DATABASE_URL"):
        params.append(pytest.param("postgres", id="postgres"))
    return params


@pytest.fixture(scope="session", params=_database_params())
def owner_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of the schema's owner, who runs the migrations."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'agegate.db'}"
    return os.environ["AGEGATE_TEST_DATABASE_URL"]


@pytest.fixture(scope="session")
def database_url(owner_database_url: str) -> Iterator[str]:
    """The URL the service connects with, after migrating as the owner: on Postgres a runtime
    role granted what `agegate db grant` grants, as in production (CONTRACT §16)."""
    migrate.upgrade(owner_database_url)
    if owner_database_url.startswith("sqlite"):
        yield owner_database_url
        return
    with runtime_role(owner_database_url) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture(scope="session")
def owner_engine(owner_database_url: str, database_url: str) -> Iterator[Engine]:
    """The schema owner's engine (database_url first: it migrates), for tests of what only
    the triggers, not the grants, stop."""
    engine = make_engine(owner_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def owner_connection(owner_engine: Engine) -> Iterator[Connection]:
    """As `connection`, but as the schema's owner."""
    with owner_engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, issuer=ISSUER, kek=TEST_KEK, using_development_kek=False, metrics_token=METRICS_TOKEN
    )


@pytest.fixture
def runtime(settings: Settings, engine: Engine, connection: Connection, clock: FakeClock) -> Runtime:
    from sqlalchemy.orm import Session, sessionmaker

    sessions = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint", class_=Session)
    runtime = build_runtime(settings, engine=engine, sessions=sessions, clock=clock)
    # what `agegate db upgrade` does on a real database, here inside the rolled-back one
    for realm in REALMS:  # production and sandbox keys (CONTRACT §15)
        run_in_transaction(sessions, lambda session: ensure_signing_key(session, runtime.kek, clock(), realm))
    return runtime


@pytest.fixture
def app(runtime: Runtime):  # type: ignore[no-untyped-def]
    from service.app import create_app

    return create_app(runtime=runtime)


@pytest.fixture
def http(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def default_audience(tenant: str) -> str:
    """The persona service the test helpers register for `tenant`: an audience belongs to one
    tenant (CONTRACT §16), so each tenant gets its own; tenant-a's is "persona-chat"."""
    return "persona-chat" if tenant == "tenant-a" else f"persona-chat-{tenant}"


class Api:
    """Creates OAuth2 clients and their bearer headers for the test client."""

    def __init__(self, runtime: Runtime, http: Any) -> None:
        self.runtime = runtime
        self.http = http

    def client(
        self, *scopes: str, tenant: str = "tenant-a", audience: str | None = None, sandbox: bool = False
    ) -> client_store.NewClient:
        with transaction(self.runtime.sessions) as session:
            return client_store.create_client(
                session,
                tenant=tenant,
                name="test",
                scopes=list(scopes),
                audience=audience or default_audience(tenant),
                now=self.runtime.clock(),
                sandbox=sandbox,
            )

    def regulator_client(self, name: str = "regulator") -> client_store.NewClient:
        with transaction(self.runtime.sessions) as session:
            return client_store.create_regulator_client(session, name=name, now=self.runtime.clock())

    def bearer(
        self, *scopes: str, tenant: str = "tenant-a", audience: str | None = None, sandbox: bool = False
    ) -> dict[str, str]:
        return self.bearer_of(self.client(*scopes, tenant=tenant, audience=audience, sandbox=sandbox))

    def regulator_bearer(self) -> dict[str, str]:
        """A regulator client's bearer header (CONTRACT §2, v2: no tenant, only audit:export)."""
        return self.bearer_of(self.regulator_client())

    def bearer_of(self, new: client_store.NewClient) -> dict[str, str]:
        basic = base64.b64encode(f"{new.client_id}:{new.client_secret}".encode()).decode()
        response = self.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


@pytest.fixture
def api(runtime: Runtime, http: Any) -> Api:
    return Api(runtime, http)


ALL_SCOPES = sorted(client_store.SCOPES)
