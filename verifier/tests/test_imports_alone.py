"""agegate_verifier imports and verifies with the service's web and database stack absent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

SCRIPT = textwrap.dedent(
    """
    import sys

    BLOCKED = {"flask", "sqlalchemy", "alembic", "psycopg", "marshmallow", "authlib", "werkzeug", "joserfc",
               "service"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())

    import agegate_verifier, agegate_verifier.asgi, agegate_verifier.wsgi, agegate_verifier.cli
    import agegate_verifier.log, agegate_verifier.receipt, agegate_verifier.forgeries
    from agegate_verifier.testing import TestIssuer

    issuer = TestIssuer()
    assert issuer.verifier().gate(issuer.token(), "companion").allowed
    leaked = sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)
    assert not leaked, leaked
    print("ok")
    """
)


def test_the_verifier_needs_no_flask_sqlalchemy_database_or_service() -> None:
    result = subprocess.run(
        [sys.executable, "-P", "-c", SCRIPT], cwd=SRC, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
