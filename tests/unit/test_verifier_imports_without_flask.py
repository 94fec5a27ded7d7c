"""service.verifier imports and verifies with the service's web and database stack absent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys

    BLOCKED = {"flask", "sqlalchemy", "alembic", "psycopg", "marshmallow", "authlib", "werkzeug"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())

    from service.verifier import Verifier
    from service.verifier.wsgi import require_feature
    from tests.tokenkit import MemoryStatuses, TestIssuer

    issuer = TestIssuer()
    verifier = Verifier(issuer.url, issuer.audience, keys=issuer.static_keys(), statuses=MemoryStatuses())
    assert verifier.gate(issuer.token(), "companion").allowed
    leaked = sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)
    service_modules = sorted(
        name for name in sys.modules if name.startswith("service.") and not name.startswith("service.verifier")
    )
    assert not leaked and not service_modules, (leaked, service_modules)
    print("ok")
    """
)


def test_the_verifier_needs_no_flask_sqlalchemy_or_database() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
