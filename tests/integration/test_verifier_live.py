"""agegate-verify, the verifier distribution's command, gates a token from a running agegate
over real HTTP: the issuer's JWKS and status list fetched from `agegate serve`."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from service.store import migrate
from tests.integration.conftest import make_client
from tests.integration.test_cli import AGEGATE, agegate_env
from tests.integration.test_serve_webhooks import _call, _free_port

VERIFY = Path(sys.executable).parent / "agegate-verify"


def test_agegate_verify_gates_a_token_issued_by_a_running_agegate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agegate.db'}"
    migrate.upgrade(url)
    client_id, secret = make_client(url, "subjects:write", "tokens:issue", tenant="demo")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = agegate_env(url, AGEGATE_ISSUER=base)
    with (tmp_path / "serve.log").open("w") as log:
        server = subprocess.Popen([str(AGEGATE), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - loopback only
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        bearer = _call(base, "POST", "/oauth/token", form=b"grant_type=client_credentials", basic=basic)["access_token"]
        _call(base, "POST", "/v1/subjects", bearer,
              {"subject_ref": "adult", "evidence": {"method": "self_declared", "birth_date": "1990-01-01"}})
        issued = _call(base, "POST", "/v1/tokens", bearer, {"subject_ref": "adult", "audience": "persona-chat"})
        for feature, decision in issued["features"].items():
            done = subprocess.run([str(VERIFY), "token", issued["token"], "--issuer", base + "/", "--audience",
                                   "persona-chat", "--feature", feature], capture_output=True, text=True, timeout=60)
            verdict, _, summary = done.stdout.partition(": ")
            assert (done.returncode, verdict) == ((0, "ALLOW") if decision["decision"] == "allow" else (1, "DENY"))
            assert json.loads(summary)["decision"] == decision["decision"], done.stdout
        wrong = subprocess.run([str(VERIFY), "token", issued["token"], "--issuer", base, "--audience", "persona-voice"],
                               capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 1 and wrong.stdout.startswith("INVALID: wrong_audience")
    finally:
        server.terminate()
        server.wait(20)
