"""`agegate serve` delivers webhooks from an in-process worker and logs each delivery, which is
what `make run` shows (CONTRACT.md §11)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from service.store import migrate
from tests.integration.conftest import GUARDIAN_RESIDENT_ID, make_client
from tests.integration.test_cli import AGEGATE, agegate_env
from tests.webhook_receiver import Receiver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, method: str, path: str, token: str | None = None, body: Any = None, form: bytes | None = None,
          basic: str | None = None) -> Any:
    headers = {}
    data = form
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        headers["Authorization"] = f"Basic {basic}"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read() or b"null")


def test_serve_runs_a_worker_that_delivers_and_logs_each_delivery(tmp_path: Path) -> None:
    import base64

    url = f"sqlite:///{tmp_path / 'agegate.db'}"
    migrate.upgrade(url)
    client_id, secret = make_client(url, "subjects:write", "consent:write", "webhooks:manage", tenant="demo")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = agegate_env(url, AGEGATE_ISSUER=base, AGEGATE_WEBHOOK_ALLOW_PRIVATE=None)  # loopback issuer: private allowed
    log_path = tmp_path / "serve.log"
    receiver = Receiver()
    with log_path.open("w") as log:
        server = subprocess.Popen([str(AGEGATE), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
                time.sleep(0.2)
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        token = _call(base, "POST", "/oauth/token", form=b"grant_type=client_credentials", basic=basic)["access_token"]
        _call(base, "POST", "/v1/webhooks", token, {"url": receiver.url, "events": ["consent.granted"]})
        _call(base, "POST", "/v1/subjects", token, {"subject_ref": "kid", "evidence": {"method": "self_declared", "birth_date": "2016-03-01"}})
        _call(base, "POST", "/v1/subjects", token, {"subject_ref": "mum", "evidence": {"method": "resident_id", "resident_id": GUARDIAN_RESIDENT_ID}})
        _call(base, "POST", "/v1/consents", token, {
            "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"],
            "method": "in_app", "evidence_ref": "e", "notice_version": "v3"})
        (delivery,) = receiver.wait_for(1, timeout=20)
        assert json.loads(delivery.body)["type"] == "consent.granted"
        deadline = time.monotonic() + 10
        while "webhook evt_" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        logged = log_path.read_text()
        assert f"webhook {delivery.headers['webhook-id']} seq=1" in logged and ": 204 in " in logged
        assert GUARDIAN_RESIDENT_ID not in logged and "2016-03-01" not in logged and "whsec_" not in logged
    finally:
        server.terminate()
        server.wait(20)
        receiver.stop()
