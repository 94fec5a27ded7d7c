"""What an operator meets: a schema behind the code, request ids, JSON logs without personal
data, and the issuer `agegate serve --port` publishes."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.api.schema_gate import RECHECK_SECONDS, SchemaGate
from service.app import create_app
from service.cli import serving_issuer
from service.logs import configure_logging
from service.store import migrate
from tests.api.test_client_lifecycle import ManualSeconds
from tests.integration.conftest import settings_for
from tests.integration.test_cli import AGEGATE, agegate_env

# ---------------------------------------------------------------------------- schema behind


@pytest.fixture
def app_over(fresh_database_url: str) -> Iterator[Any]:
    app = create_app(settings_for(fresh_database_url))
    clock = ManualSeconds()
    app.extensions["agegate.schema_gate"] = SchemaGate(app.extensions["agegate"].engine, clock)
    app.extensions["test.clock"] = clock
    yield app
    app.extensions["agegate"].engine.dispose()


def test_an_unmigrated_database_is_not_ready_and_every_request_names_the_upgrade(app_over: Any) -> None:
    http = app_over.test_client()
    ready = http.get("/readyz")
    assert ready.status_code == 503 and ready.mimetype == "application/problem+json"
    assert "agegate db upgrade" in ready.get_json()["detail"]
    assert ready.get_json()["type"] == "urn:agegate:problem:schema_behind"
    for response in (
        http.post("/oauth/token", data={"grant_type": "client_credentials"}),
        http.get("/v1/subjects/u-1", headers={"Authorization": "Bearer x"}),
        http.get("/.well-known/jwks.json"),
    ):
        assert response.status_code == 503 and "Retry-After" in response.headers
        assert "agegate db upgrade" in response.get_json()["detail"]
    assert http.get("/healthz").status_code == 200


def test_a_schema_one_revision_behind_is_named_and_recovers_after_the_upgrade(app_over: Any, fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url, "0001")
    http = app_over.test_client()
    behind = http.get("/readyz").get_json()["detail"]
    assert "at 0001" in behind and f"needs {migrate.head_revision()}" in behind
    migrate.upgrade(fresh_database_url)
    assert http.get("/readyz").status_code == 503  # not re-read before RECHECK_SECONDS
    app_over.extensions["test.clock"].now += RECHECK_SECONDS
    assert http.get("/readyz").status_code == 200
    assert http.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code == 401


# ---------------------------------------------------------------------------- request ids and logs


def test_a_sane_request_id_is_echoed_and_any_other_is_replaced(http: Any) -> None:
    assert http.get("/healthz", headers={"X-Request-Id": "lb-7f3a.42"}).headers["X-Request-Id"] == "lb-7f3a.42"
    generated = http.get("/healthz", headers={"X-Request-Id": "bad id \"forged\" <x>"}).headers["X-Request-Id"]
    assert len(generated) == 32 and " " not in generated
    first, second = http.get("/healthz").headers["X-Request-Id"], http.get("/healthz").headers["X-Request-Id"]
    assert first != second


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Logging as `agegate serve` sets it up (JSON to stderr, DEBUG), restored afterwards.

    The first call, in the test body, sets it up (stderr is the test's capture only then);
    every call returns the records written since the previous one."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("alembic").level)
    started = []

    def read() -> list[dict[str, Any]]:
        if not started:
            configure_logging("json", "debug")
            started.append(True)
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]

    yield read
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("alembic").setLevel(saved[2])


def test_logs_are_json_lines_carrying_the_request_id(http: Any, json_logs: Any) -> None:
    json_logs()
    http.get("/v1/subjects/u-1", headers={"X-Request-Id": "req-123"})
    records = json_logs()
    access = [r for r in records if r["logger"] == "agegate.access"]
    assert access and access[-1]["request_id"] == "req-123"
    assert access[-1]["route"] == "/v1/subjects/<subject_ref>" and access[-1]["status"] == 401
    assert {"time", "level", "logger", "message"} <= set(access[-1])


def test_no_log_line_holds_a_token_secret_birth_date_or_id_number(http: Any, api: Any, json_logs: Any) -> None:
    json_logs()
    new = api.client("subjects:write", "subjects:read", "tokens:issue", "tokens:verify")
    bearer = api.bearer_of(new)
    access_token = bearer["Authorization"].split()[1]
    resident_id, birth_date = "11010219840406970X", "2016-03-01"
    http.post("/v1/subjects", json={"subject_ref": "kid", "evidence": {"method": "self_declared", "birth_date": birth_date}}, headers=bearer)
    http.post("/v1/subjects", json={"subject_ref": "mum", "evidence": {"method": "resident_id", "resident_id": resident_id}}, headers=bearer)
    http.post("/v1/subjects", json={"subject_ref": "kid", "evidence": {"method": "resident_id", "resident_id": "110102198404069701"}}, headers=bearer)
    age_token = http.post("/v1/tokens", json={"subject_ref": "kid", "audience": "persona-chat"}, headers=bearer).get_json()["token"]
    http.post("/v1/tokens/verify", json={"token": age_token + "x"}, headers=bearer)
    http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": new.client_id, "client_secret": "wrong-secret-guess"})
    http.get("/v1/subjects/kid", headers={"Authorization": "Bearer " + access_token[:-1]})
    text = json.dumps(json_logs())
    assert "agegate.access" in text  # the requests were logged at all
    for secret in (new.client_secret, "wrong-secret-guess", access_token, access_token[:-1], age_token, resident_id,
                   "110102198404069701", birth_date, "20160301"):
        leaking = [line for line in text.split("}, {") if secret in line]
        assert not leaking, leaking[0][:400]


# ---------------------------------------------------------------------------- serve --port


def test_the_issuer_follows_host_and_port_unless_agegate_issuer_is_set(caplog: pytest.LogCaptureFixture) -> None:
    assert serving_issuer("http://127.0.0.1:8000", "127.0.0.1", 8003, {}) == "http://127.0.0.1:8003"
    assert serving_issuer("https://age.example", "127.0.0.1", 8003, {"AGEGATE_ISSUER": "x"}) == "https://age.example"
    with caplog.at_level(logging.WARNING):
        assert serving_issuer("http://127.0.0.1:8000", "0.0.0.0", 8003, {}) == "http://127.0.0.1:8003"
        assert serving_issuer("http://127.0.0.1:8000", "127.0.0.1", 8003, {"AGEGATE_ISSUER": "x"}) == "http://127.0.0.1:8000"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("set AGEGATE_ISSUER" in w for w in warnings)
    assert any("names port 8000 but the service listens on 8003" in w for w in warnings)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_on_another_port_publishes_that_port_as_issuer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agegate.db'}"
    migrate.upgrade(url)
    port = _free_port()
    server = subprocess.Popen(
        [str(AGEGATE), "serve", "--port", str(port)], env=agegate_env(url, AGEGATE_ISSUER=None),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/agegate", timeout=2) as answer:
                    document = json.load(answer)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "agegate serve did not come up"
                time.sleep(0.2)
        assert document["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert "Traceback" not in stderr


def test_the_access_record_names_route_status_and_its_own_code(http: Any, caplog: pytest.LogCaptureFixture) -> None:
    """request_ids builds the access record itself (no stack walk): the same message, fields
    and level as Logger.info would give, attributed to log_access in request_ids.py."""
    with caplog.at_level(logging.INFO, logger="agegate.access"):
        http.post("/v1/tokens/verify", json={"token": "t"}, headers={"X-Request-Id": "req-9"})
    (record,) = [r for r in caplog.records if r.name == "agegate.access"]
    assert (record.levelno, record.getMessage()) == (logging.INFO, "POST /v1/tokens/verify 401")
    assert (record.route, record.method, record.status, record.client_id) == ("/v1/tokens/verify", "POST", 401, None)
    assert record.duration_ms >= 0
    assert record.funcName == "log_access" and record.pathname.endswith("request_ids.py")
