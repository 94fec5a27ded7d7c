"""`pip install ./verifier` into an empty venv adds four packages and imports no web or database stack."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

VERIFIER = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent(
    """
    import importlib.metadata, json, subprocess, sys
    import agegate_verifier, agegate_verifier.asgi, agegate_verifier.wsgi, agegate_verifier.cli
    import agegate_verifier.log, agegate_verifier.receipt, agegate_verifier.forgeries, agegate_verifier.jose
    from agegate_verifier.testing import TestIssuer

    issuer = TestIssuer()
    assert issuer.verifier().gate(issuer.token(), "companion").allowed
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
    found = json.loads(subprocess.run([str(python), "-c", CHECK], check=True, capture_output=True, text=True,
                                      cwd=tmp_path, timeout=60).stdout)
    assert found == {"installed": ["agegate-verifier", "cffi", "cryptography", "pycparser"], "imported": []}
    usage = subprocess.run([str(target / "bin" / "agegate-verify"), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "log" in usage.stdout
