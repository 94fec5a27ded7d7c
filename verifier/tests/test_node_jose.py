"""Node's jose verifies agegate's tokens, and the README's JavaScript reads the status bits.

Needs node and ``npm ci --prefix verifier/interop`` (``make test`` runs it; the lockfile pins jose).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

VERIFIER = Path(__file__).resolve().parents[1]
INTEROP = VERIFIER / "interop"
VECTORS = VERIFIER / "vectors"


def run_node(script: str, payload: dict[str, Any]) -> Any:
    result = subprocess.run(["node", str(INTEROP / script)], input=json.dumps(payload), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", autouse=True)
def readme_snippet() -> None:
    """Write the README's tested JavaScript where node resolves ``jose`` from the lockfile."""
    assert (INTEROP / "node_modules" / "jose").is_dir(), "run: npm ci --prefix verifier/interop (make test does)"
    readme = (VERIFIER / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- tested: status-bits\.mjs -->\n```js\n(.*?)```", readme, re.S)
    assert code is not None, "the README lost its tested status-bit snippet"
    assert len(code.group(1).strip().splitlines()) <= 16
    (INTEROP / "build").mkdir(exist_ok=True)
    (INTEROP / "build" / "status-bits.mjs").write_text(code.group(1), encoding="utf-8")


def test_node_jose_verifies_every_genuine_vector_token() -> None:
    genuine = json.loads((VECTORS / "tokens/genuine.json").read_bytes())
    jwks = json.loads((VECTORS / genuine["jwks"]).read_bytes())
    payload = {"jwks": jwks, "issuer": genuine["issuer"], "audience": genuine["audience"], "now": genuine["now"],
               "tokens": [case["token"] for case in genuine["tokens"]]}
    results = dict(zip([case["name"] for case in genuine["tokens"]], run_node("verify_tokens.mjs", payload)))
    # jose checks no status: revoked tokens pass here and fail on the status bit below.
    for case in genuine["tokens"]:
        if case["name"] != "fully-specified-alg-name":
            assert (results[case["name"]]["ok"], results[case["name"]].get("payload")) == (True, case["claims"])
    # The published JWK says "alg": "EdDSA", and jose binds a key to its JWK's alg: a token
    # named "Ed25519" needs a JWKS that says so. agegate's own verifiers accept both names.
    assert results["fully-specified-alg-name"] == {"ok": False, "code": "ERR_JWKS_NO_MATCHING_KEY"}


def test_node_jose_refuses_the_forgeries_a_jose_library_must_catch() -> None:
    genuine = json.loads((VECTORS / "tokens/genuine.json").read_bytes())
    forged = json.loads((VECTORS / "tokens/forged.json").read_bytes())
    caught = {"alg-none-empty-signature", "hs256-raw-x", "tampered-payload", "another-key-under-known-kid",
              "unknown-kid", "typ-statuslist", "typ-checkpoint", "exp-equal-to-now", "aud-wrong", "iss-wrong"}
    cases = [case for case in forged["tokens"] if case["name"] in caught]
    assert len(cases) == len(caught)
    payload = {"jwks": json.loads((VECTORS / genuine["jwks"]).read_bytes()), "issuer": genuine["issuer"],
               "audience": genuine["audience"], "now": genuine["now"], "tokens": [case["token"] for case in cases]}
    assert [r["ok"] for r in run_node("verify_tokens.mjs", payload)] == [False] * len(cases)


def test_the_readme_javascript_reads_every_status_of_the_vector_list() -> None:
    genuine = json.loads((VECTORS / "tokens/genuine.json").read_bytes())
    listing = (VECTORS / "status-lists/1.jwt").read_text().strip()
    payload = {"statusListJwt": listing, "jwks": json.loads((VECTORS / genuine["jwks"]).read_bytes()),
               "uri": genuine["status_list"]["uri"], "indexes": list(range(16)), "now": genuine["now"]}
    assert run_node("check_status_bits.mjs", payload) == [0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
