"""Operations endpoints (CONTRACT §9): liveness, readiness, metrics, and 503 + Retry-After
while the database is away, recovering by itself when it returns."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from service.app import create_app
from service.store import migrate
from tests.conftest import METRICS_AUTH
from tests.integration.conftest import POSTGRES_URL, PostgresDatabases, bearer_for, make_client, settings_for

UNREACHABLE = {
    "postgres-port-1": "postgresql+psycopg://postgres@127.0.0.1:1/x",
    "sqlite-missing-dir": "sqlite:////nonexistent-agegate-dir/sub/agegate.db",
}


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 503
    assert body["type"] and body["title"] and body["detail"]
    retry_after = response.headers.get("Retry-After", "")
    assert retry_after.isdigit() and 0 < int(retry_after) <= 120, retry_after


@pytest.fixture
def live_app(fresh_database_url: str) -> Iterator[Flask]:
    """A real app on a migrated database of its own.

    Not the shared rolled-back `app`: on SQLite its open transaction holds the write lock
    (BEGIN IMMEDIATE), and /readyz, which opens its own connection, would wait behind it.
    """
    migrate.upgrade(fresh_database_url)
    app = create_app(settings_for(fresh_database_url))
    yield app
    app.extensions["agegate"].engine.dispose()


def test_healthz_answers_200(live_app: Flask) -> None:
    response = live_app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_200_with_the_database_up(live_app: Flask) -> None:
    response = live_app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


@pytest.fixture(params=sorted(UNREACHABLE))
def unreachable_app(request: pytest.FixtureRequest) -> Iterator[Flask]:
    if request.param.startswith("sqlite"):
        assert not os.path.exists("/nonexistent-agegate-dir")
    app = create_app(settings_for(UNREACHABLE[request.param]))
    yield app
    app.extensions["agegate"].engine.dispose()


def test_healthz_stays_200_with_the_database_unreachable(unreachable_app: Flask) -> None:
    assert unreachable_app.test_client().get("/healthz").status_code == 200


def test_readyz_answers_503_with_the_database_unreachable(unreachable_app: Flask) -> None:
    assert_unavailable(unreachable_app.test_client().get("/readyz"))


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/consents?child_ref=child"),
        ("POST", "/v1/consents"),
        ("GET", "/v1/subjects/someone"),
        ("GET", "/v1/audit/consent-log"),
    ],
)
def test_an_authenticated_v1_request_answers_503_with_the_database_unreachable(
    unreachable_app: Flask, method: str, path: str
) -> None:
    response = unreachable_app.test_client().open(
        path, method=method, headers={"Authorization": "Bearer " + "t" * 43}, json={} if method == "POST" else None
    )
    assert_unavailable(response)


def test_the_token_endpoint_answers_503_with_the_database_unreachable(unreachable_app: Flask) -> None:
    response = unreachable_app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "cl_x", "client_secret": "s"}
    )
    assert_unavailable(response)


def test_the_jwks_answers_503_with_the_database_unreachable_on_a_cold_start(unreachable_app: Flask) -> None:
    assert_unavailable(unreachable_app.test_client().get("/.well-known/jwks.json"))


class Outage:
    """Takes a database away from a running app and brings it back.

    Postgres: the app's own login role loses LOGIN and its sessions are killed, which to the
    app looks like a database that went away. SQLite: the file's folder is renamed away.
    """

    def __init__(self, url: str, app: Flask, postgres: PostgresDatabases | None) -> None:
        self.url, self.app, self.postgres = url, app, postgres
        self.name = make_url(url).database or ""
        self.role = make_url(url).username or ""

    def down(self) -> None:
        if self.postgres is not None:
            self.postgres.execute(f'ALTER ROLE "{self.role}" NOLOGIN')
            self.postgres.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.role}'")
        else:
            folder = Path(self.name).parent
            folder.rename(folder.with_name(folder.name + "-away"))
            self.app.extensions["agegate"].engine.dispose()  # a pooled SQLite handle would outlive the rename

    def up(self) -> None:
        if self.postgres is not None:
            self.postgres.execute(f'ALTER ROLE "{self.role}" LOGIN')
        else:
            folder = Path(self.name).parent
            folder.with_name(folder.name + "-away").rename(folder)


@pytest.fixture(params=["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"])
def outage_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Flask, Outage]]:
    postgres = None
    if request.param == "sqlite":
        folder = tmp_path / "db"
        folder.mkdir()
        url = f"sqlite:///{folder / 'agegate.db'}"
    else:
        postgres = request.getfixturevalue("postgres_databases")
        url = postgres.create("agegate_it_outage", role="agegate_it_outage")
    migrate.upgrade(url)
    app = create_app(settings_for(url))
    outage = Outage(url, app, postgres)
    try:
        yield app, outage
    finally:
        if postgres is not None:
            outage.up()
        elif Path(outage.name).parent.with_name("db-away").exists():
            outage.up()
        app.extensions["agegate"].engine.dispose()


def test_v1_answers_503_while_the_database_is_away_and_recovers_by_itself(outage_app: tuple[Flask, Outage]) -> None:
    app, outage = outage_app
    http = app.test_client()
    url = app.extensions["agegate"].settings.database_url
    auth = bearer_for(http, *make_client(url, "consent:read", tenant="t"))
    other = make_client(url, "consent:read", tenant="t")
    assert http.get("/v1/consents?child_ref=child", headers=auth).status_code == 200
    assert http.get("/readyz").status_code == 200

    outage.down()
    assert_unavailable(http.get("/v1/consents?child_ref=child", headers=auth))  # a known, cached token
    assert_unavailable(http.get("/readyz"))
    assert_unavailable(
        http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": other[0], "client_secret": other[1]})
    )
    assert http.get("/healthz").status_code == 200

    outage.up()
    assert http.get("/readyz").status_code == 200
    response = http.get("/v1/consents?child_ref=child", headers=auth)
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}
    bearer_for(http, *other)


def sample(metrics: str, endpoint: str, method: str, status: str) -> float | None:
    pattern = re.compile(
        r"^agegate_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE
    )
    for match in pattern.finditer(metrics):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels == {"endpoint": endpoint, "method": method, "status": status}:
            return float(match["value"])
    return None


def test_metrics_count_requests_by_route_template(live_app: Flask) -> None:
    http = live_app.test_client()
    http.get("/healthz")
    http.get("/healthz")
    http.get("/readyz")
    http.post("/v1/consents/secret-consent-id-123/withdraw", json={})  # 401: no token
    http.get("/no/such/path/with-a-ref-42")

    response = http.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE agegate_http_requests_total counter" in text or "# TYPE agegate_http_requests counter" in text
    assert sample(text, "/healthz", "GET", "200") == 2.0
    assert sample(text, "/readyz", "GET", "200") == 1.0
    assert sample(text, "/v1/consents/<consent_id>/withdraw", "POST", "401") == 1.0
    assert sample(text, "unmatched", "GET", "404") == 1.0
    # raw paths (which carry ids and refs) never become label values
    assert "secret-consent-id-123" not in text
    assert "with-a-ref-42" not in text
    assert "agegate_http_request_seconds_bucket" in text


def test_metrics_are_per_app_not_process_global(live_app: Flask) -> None:
    """Two apps in one process (tests, workers) must not share or clash on counters."""
    live_app.test_client().get("/healthz")
    second = create_app(live_app.extensions["agegate"].settings)
    try:
        text = second.test_client().get("/metrics", headers=METRICS_AUTH).get_data(as_text=True)
    finally:
        second.extensions["agegate"].engine.dispose()
    assert sample(text, "/healthz", "GET", "200") is None


@pytest.mark.skipif(not POSTGRES_URL, reason="AGEGATE_TEST_DATABASE_URL is not set")
def test_an_exhausted_connection_pool_answers_503_not_500(postgres_databases: PostgresDatabases) -> None:
    """Every pooled connection busy past pool_timeout (5 s) is overload: retry later, not a crash."""
    url = postgres_databases.create("agegate_it_pool")
    migrate.upgrade(url)
    app = create_app(settings_for(url))
    engine = app.extensions["agegate"].engine
    held = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]  # type: ignore[attr-defined]
    try:
        response = app.test_client().get("/readyz")
    finally:
        for conn in held:
            conn.close()
        # the probe outlives its 1.5 s answer while it waits for the pool: let it finish first
        for thread in threading.enumerate():
            if thread.name == "agegate-readiness":
                thread.join(10)
        engine.dispose()
    assert_unavailable(response)


def test_the_jwks_is_served_from_the_last_read_while_the_database_is_away(
    outage_app: tuple[Flask, Outage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verifiers fetch the JWKS on an unknown kid; an outage of the service's database must not
    turn that into a 503 when the process already holds the keys (issue 16)."""
    from service.tokens import keys

    app, outage = outage_app
    http = app.test_client()
    before = http.get("/.well-known/jwks.json")
    assert before.status_code == 200
    monkeypatch.setattr(keys, "REFRESH_SECONDS", 0.0)  # every request tries to re-read
    outage.down()
    during = http.get("/.well-known/jwks.json")
    assert during.status_code == 200, during.get_data(as_text=True)
    assert during.get_json() == before.get_json()
    outage.up()
    assert http.get("/.well-known/jwks.json").get_json() == before.get_json()


def latency_count(metrics: str, endpoint: str, method: str) -> float | None:
    match = re.search(
        rf'^agegate_http_request_seconds_count\{{endpoint="{re.escape(endpoint)}",method="{method}"\}} (\S+)$', metrics, re.MULTILINE
    )
    return None if match is None else float(match[1])


def test_a_request_the_edge_refuses_is_counted_not_timed_and_keeps_its_headers(live_app: Flask) -> None:
    """The one before hook stops at the edge's refusal as the separate hooks did: the 400 gets
    a request id and the safety headers, is counted under its route, and is not timed."""
    http = live_app.test_client()
    refused = http.post("/v1/tokens/verify", data=b'{"token": "a\\u0000b"}', content_type="application/json")
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    assert len(refused.headers["X-Request-Id"]) == 32
    assert refused.headers["X-Content-Type-Options"] == "nosniff" and refused.headers["Cache-Control"] == "no-store"
    assert http.post("/v1/tokens/verify", json={"token": "t"}).status_code == 401  # passes the edge: timed
    text = http.get("/metrics", headers=METRICS_AUTH).get_data(as_text=True)
    assert sample(text, "/v1/tokens/verify", "POST", "400") == 1.0
    assert sample(text, "/v1/tokens/verify", "POST", "401") == 1.0
    assert latency_count(text, "/v1/tokens/verify", "POST") == 1.0
