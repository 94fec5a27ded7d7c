"""Node's jose verifies tokens the service issues, and the verifier README's JavaScript reads
their status bit from the service's status list before and after a revocation.

Needs node and ``npm ci --prefix verifier/interop`` (``make test`` runs it; the lockfile pins jose).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agegate_verifier.jose import b64url_decode

from tests.conftest import ALL_SCOPES, ISSUER

VERIFIER = Path(__file__).resolve().parents[2] / "verifier"
INTEROP = VERIFIER / "interop"


def node(script: str, payload: dict[str, Any]) -> Any:
    done = subprocess.run(["node", str(INTEROP / script)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module", autouse=True)
def readme_snippet() -> None:
    assert (INTEROP / "node_modules" / "jose").is_dir(), "run: npm ci --prefix verifier/interop (make test does)"
    readme = (VERIFIER / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- tested: status-bits\.mjs -->\n```js\n(.*?)```", readme, re.S)
    assert code is not None
    (INTEROP / "build").mkdir(exist_ok=True)
    (INTEROP / "build" / "status-bits.mjs").write_text(code.group(1), encoding="utf-8")


def test_node_jose_verifies_an_issued_token_and_reads_its_status_bit(http, api, clock) -> None:  # type: ignore[no-untyped-def]
    auth = api.bearer(*ALL_SCOPES)
    body = {"subject_ref": "teen", "evidence": {"method": "self_declared", "birth_date": "2010-01-01"}}
    assert http.post("/v1/subjects", json=body, headers=auth).status_code == 201
    token = http.post("/v1/tokens", json={"subject_ref": "teen", "audience": "persona-chat"}, headers=auth).get_json()["token"]
    jwks = http.get("/.well-known/jwks.json").get_json()
    now = int(clock().timestamp())
    [result] = node("verify_tokens.mjs", {"jwks": jwks, "issuer": ISSUER, "audience": "persona-chat", "now": now,
                                          "tokens": [token]})
    assert result["ok"] is True and result["payload"] == json.loads(b64url_decode(token.split(".")[1]))

    reference = result["payload"]["status"]["status_list"]

    def status() -> int:
        listing = http.get(reference["uri"][len(ISSUER):]).get_data(as_text=True)
        payload = {"statusListJwt": listing, "jwks": jwks, "uri": reference["uri"], "indexes": [reference["idx"]],
                   "now": int(clock().timestamp())}
        [value] = node("check_status_bits.mjs", payload)
        return int(value)

    assert status() == 0
    assert http.delete("/v1/subjects/teen", headers=auth).status_code == 204
    assert status() == 1
