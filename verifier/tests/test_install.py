"""`pip install ./verifier` into an empty venv adds four packages, imports no web or database
stack, and there verifies every published vector, the export and the receipt."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

VERIFIER = Path(__file__).resolve().parents[1]

VECTORS = VERIFIER / "vectors"

CHECK = textwrap.dedent(
    """
    import importlib.metadata, json, pathlib, subprocess, sys
    import agegate_verifier, agegate_verifier.asgi, agegate_verifier.wsgi, agegate_verifier.cli
    import agegate_verifier.log, agegate_verifier.receipt, agegate_verifier.forgeries, agegate_verifier.jose
    from agegate_verifier.testing import TestIssuer

    issuer = TestIssuer()
    assert issuer.verifier().gate(issuer.token(), "companion").allowed

    # The published vectors: every genuine token verifies, every forgery is refused.
    from agegate_verifier import StaticKeys, Verifier
    vectors = pathlib.Path(sys.argv[1])
    genuine = json.loads((vectors / "tokens/genuine.json").read_text())
    keys = StaticKeys.from_jwks(json.loads((vectors / "keys/jwks.json").read_text()))
    class Listed:
        def status(self, uri, idx):
            return 0
    verifier = Verifier(genuine["issuer"], genuine["audience"], keys=keys, statuses=Listed(), clock=lambda: genuine["now"])
    for case in genuine["tokens"]:
        assert verifier.verify(case["token"]) == case["claims"], case["name"]
    for case in json.loads((vectors / "tokens/forged.json").read_text())["tokens"]:
        assert verifier.gate(case["token"], "companion").reason == case["reason"], case["name"]
    stacks = {"flask", "sqlalchemy", "psycopg", "alembic", "authlib", "werkzeug", "joserfc", "service"}
    print(json.dumps({
        "installed": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
        "imported": sorted(name for name in sys.modules if name.partition(".")[0] in stacks),
    }))
    """
)


def test_pip_install_into_an_empty_venv_adds_exactly_four_packages(tmp_path: Path) -> None:
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)  # truly empty: not even pip or setuptools
    python = target / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-warn-script-location",
                    str(VERIFIER)], check=True, capture_output=True, timeout=300)
    found = json.loads(subprocess.run([str(python), "-c", CHECK, str(VECTORS)], check=True, capture_output=True,
                                      text=True, cwd=tmp_path, timeout=60).stdout)
    assert found == {"installed": ["agegate-verifier", "cffi", "cryptography", "pycparser"], "imported": []}
    command = str(target / "bin" / "agegate-verify")
    jwks = str(VECTORS / "keys/jwks.json")
    log = subprocess.run([command, "log", str(VECTORS / "log/export.ndjson"), "--jwks", jwks], capture_output=True,
                         text=True, timeout=60)
    assert log.returncode == 0 and log.stdout.startswith("OK: tenant t-acme, seq 1..12"), log.stdout + log.stderr
    receipt = subprocess.run([command, "receipt", str(VECTORS / "receipts/receipt.jwt"), "--jwks", jwks],
                             capture_output=True, text=True, timeout=60)
    assert receipt.returncode == 0 and receipt.stdout.startswith("OK: receipt"), receipt.stdout + receipt.stderr
