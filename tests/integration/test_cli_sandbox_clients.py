"""`agegate clients create --sandbox`: a tenant's kind is fixed by its first client (CONTRACT §15)."""

from __future__ import annotations

import json

from service.store.db import make_engine, make_sessionmaker, transaction
from service.store import sandbox as sandbox_store
from tests.integration.test_cli import migrated, ok, run, url  # noqa: F401  (fixtures)

SCOPES = "subjects:write tokens:issue"


def _create(url: str, tenant: str, *extra: str):  # noqa: ANN202
    return run(url, "clients", "create", "--tenant", tenant, "--name", "n", "--scopes", SCOPES, "--json", *extra)


def test_a_sandbox_client_makes_its_tenant_a_sandbox_and_the_list_says_so(migrated: str) -> None:  # noqa: F811
    first = json.loads(ok(_create(migrated, "try-app", "--sandbox")))
    second = json.loads(ok(_create(migrated, "try-app", "--sandbox")))
    production = json.loads(ok(_create(migrated, "live-app")))

    rows = {json.loads(line)["client_id"]: json.loads(line) for line in ok(run(migrated, "clients", "list", "--json")).splitlines()}
    assert rows[first["client_id"]]["sandbox"] is True and rows[second["client_id"]]["sandbox"] is True
    assert rows[production["client_id"]]["sandbox"] is False
    assert "try-app (sandbox)" in ok(run(migrated, "clients", "list"))

    engine = make_engine(migrated)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            assert sandbox_store.sandbox_tenants(session) == {"try-app"}
            assert sandbox_store.clock_offset(session, "try-app") is not None
            assert sandbox_store.clock_offset(session, "live-app") is None
    finally:
        engine.dispose()


def test_a_sandbox_tenant_cannot_become_a_production_one(migrated: str) -> None:  # noqa: F811
    ok(_create(migrated, "try-app", "--sandbox"))
    refused = _create(migrated, "try-app")
    assert refused.returncode == 2
    assert "sandbox tenant; it cannot be turned into a production one" in refused.stderr


def test_a_production_tenant_cannot_get_a_sandbox_client(migrated: str) -> None:  # noqa: F811
    ok(_create(migrated, "live-app"))
    refused = _create(migrated, "live-app", "--sandbox")
    assert refused.returncode == 2
    assert "production tenant; a sandbox needs a tenant of its own" in refused.stderr
    assert json.loads(ok(run(migrated, "clients", "list", "--json")).splitlines()[0])["sandbox"] is False


def test_a_regulator_client_is_never_a_sandbox_one(migrated: str) -> None:  # noqa: F811
    refused = run(migrated, "clients", "create", "--regulator", "--name", "CAC", "--sandbox")
    assert refused.returncode == 2 and "belong to no tenant" in refused.stderr


def test_the_compliance_report_refuses_a_sandbox_tenant(migrated: str, tmp_path) -> None:  # noqa: F811, ANN001
    ok(_create(migrated, "try-app", "--sandbox"))
    out = tmp_path / "report.html"
    refused = run(migrated, "report", "--tenant", "try-app", "--year", "2026", "--out", str(out))
    assert refused.returncode == 2 and "sandbox tenant" in refused.stderr and not out.exists()
    ok(_create(migrated, "live-app"))
    ok(run(migrated, "report", "--tenant", "live-app", "--year", "2026", "--out", str(out)))
    assert "Compliance report: live-app" in out.read_text(encoding="utf-8")
