"""`agegate clients create|list|revoke|rotate-secret` as an operator runs them (CONTRACT §1-2)."""

from __future__ import annotations

import json

import pytest

from service.store.db import make_engine, make_sessionmaker, transaction
from service.store.models import Client
from tests.integration.test_cli import migrated, ok, run, url  # noqa: F401  (fixtures)


def _listed(url: str) -> dict[str, dict[str, object]]:
    rows = [json.loads(line) for line in ok(run(url, "clients", "list", "--json")).splitlines()]
    return {row["client_id"]: row for row in rows}


def test_an_operator_creates_lists_rotates_and_revokes_clients(migrated: str) -> None:  # noqa: F811
    backend = json.loads(ok(run(migrated, "clients", "create", "--tenant", "app-1", "--name", "backend",
                                "--scopes", "subjects:write consent:read", "--json")))
    regulator = json.loads(ok(run(migrated, "clients", "create", "--regulator", "--name", "CAC", "--json")))

    listed = _listed(migrated)
    assert listed[backend["client_id"]]["tenant"] == "app-1" and listed[backend["client_id"]]["revoked_at"] is None
    assert listed[regulator["client_id"]]["tenant"] is None and listed[regulator["client_id"]]["regulator"] is True
    assert listed[regulator["client_id"]]["scopes"] == ["audit:export"]
    everything = ok(run(migrated, "clients", "list", "--json"))
    assert backend["client_secret"] not in everything and regulator["client_secret"] not in everything
    assert list(_listed_tenant(migrated, "app-1")) == [backend["client_id"]]

    rotated = json.loads(ok(run(migrated, "clients", "rotate-secret", backend["client_id"], "--json")))
    assert rotated["client_id"] == backend["client_id"] and rotated["client_secret"] != backend["client_secret"]
    assert "within 60 s" in ok(run(migrated, "clients", "revoke", backend["client_id"]))
    listed = _listed(migrated)
    assert listed[backend["client_id"]]["revoked_at"] is not None
    assert listed[backend["client_id"]]["secret_rotated_at"] is not None

    engine = make_engine(migrated)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            stored = session.get(Client, regulator["client_id"])
            assert stored is not None and stored.tenant is None
    finally:
        engine.dispose()


def _listed_tenant(url: str, tenant: str) -> list[str]:
    out = ok(run(url, "clients", "list", "--tenant", tenant, "--json"))
    return [json.loads(line)["client_id"] for line in out.splitlines()]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--regulator", "--tenant", "t", "--name", "n"], "belong to no tenant"),
        (["create", "--regulator", "--name", "n", "--scopes", "subjects:read"], "only the scope audit:export"),
        (["create", "--name", "n", "--scopes", "subjects:read"], "--tenant and --scopes are required"),
        (["revoke", "cl_never_issued"], "no client cl_never_issued"),
        (["rotate-secret", "cl_never_issued"], "no client cl_never_issued"),
    ],
    ids=["regulator-with-tenant", "regulator-with-other-scope", "no-tenant", "revoke-unknown", "rotate-unknown"],
)
def test_a_refused_clients_command_says_why_in_one_line(migrated: str, args: list[str], message: str) -> None:  # noqa: F811
    result = run(migrated, "clients", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert "Traceback" not in result.stderr
