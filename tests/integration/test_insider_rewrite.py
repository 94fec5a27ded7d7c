"""A database superuser rewriting or truncating a tenant's consent log (issue 16, D4).

Grants stop the service's own role (test_db_roles.py); nothing stops a superuser or the
schema's owner. What D4 found: such an insider can rehash the chain after editing a
`child_ref`, or cut the log back, and the service then signs a checkpoint over the forged
history, so the new export verifies on its own. Holding it to a checkpoint kept from an
earlier export (`agegate-verify log --since-checkpoint OLD`, CONTRACT §16) catches both.
The rewrites below are done the way an insider would: as the superuser, with the append-only
triggers silenced by session_replication_role.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, text

from service.app import create_app
from service.auditlog.chain import GENESIS, canonical, link_hash
from service.store import migrate
from tests.dbroles import runtime_role
from tests.integration.conftest import (
    CHILD_BIRTH_DATE,
    GUARDIAN_RESIDENT_ID,
    PostgresDatabases,
    bearer_for,
    consent_body,
    make_client,
    needs_postgres,
    register,
    settings_for,
)

pytestmark = needs_postgres

AGEGATE_VERIFY = Path(sys.executable).with_name("agegate-verify")


@dataclass
class Service:
    app: Flask
    superuser: Engine  # the schema owner here is the cluster's superuser: the worst insider
    auth: dict[str, str]
    tmp: Path

    def history(self, tenant: str, consents: int) -> None:
        """`consents` grants for the tenant's child, the first one withdrawn."""
        http = self.app.test_client()
        ids = []
        for n in range(consents):
            response = http.post("/v1/consents", json=consent_body(evidence_ref=f"{tenant}-{n}"), headers=self.auth[tenant])
            assert response.status_code == 201, response.get_json()
            ids.append(response.get_json()["consent_id"])
        assert http.post(f"/v1/consents/{ids[0]}/withdraw", json={}, headers=self.auth[tenant]).status_code == 200

    def export(self, tenant: str, name: str) -> Path:
        response = self.app.test_client().get(f"/v1/audit/consent-log?tenant={tenant}", headers=self.auth[tenant])
        assert response.status_code == 200, response.get_data(as_text=True)
        path = self.tmp / name
        path.write_bytes(response.get_data())
        return path

    def verify(self, export: Path, *since: Path) -> subprocess.CompletedProcess[str]:
        jwks = self.tmp / "jwks.json"
        jwks.write_bytes(self.app.test_client().get("/.well-known/jwks.json").get_data())
        command = [str(AGEGATE_VERIFY), "log", str(export), "--jwks", str(jwks)]
        if since:
            command += ["--since-checkpoint", str(since[0])]  # a file: its last line is the checkpoint
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def service(postgres_databases: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    owner_url = postgres_databases.create("agegate_it_insider")
    migrate.upgrade(owner_url)
    superuser = create_engine(owner_url)
    with runtime_role(owner_url) as url:  # the service itself runs as the restricted role
        app = create_app(settings_for(url))
        http = app.test_client()
        auth = {}
        for tenant in ("tenant-rewritten", "tenant-truncated"):
            auth[tenant] = bearer_for(http, *make_client(url, "subjects:write", "consent:write", "audit:export", tenant=tenant))
            register(http, auth[tenant], "child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
            register(http, auth[tenant], "parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
        try:
            yield Service(app, superuser, auth, tmp_path_factory.mktemp("insider"))
        finally:
            app.extensions["agegate"].engine.dispose()
            superuser.dispose()


def as_insider(service: Service, tenant: str, rewrite: Any) -> None:
    """Run rewrite(conn, entries) as the superuser with every trigger silenced, then move the
    chain head to whatever the log ends with, as a careful insider would."""
    with service.superuser.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        entries = conn.execute(
            text("SELECT seq, event, prev, hash FROM consent_log WHERE tenant = :t ORDER BY seq"), {"t": tenant}
        ).all()
        rewrite(conn, entries)
        last = conn.execute(
            text("SELECT seq, hash FROM consent_log WHERE tenant = :t ORDER BY seq DESC LIMIT 1"), {"t": tenant}
        ).one()
        conn.execute(text("UPDATE consent_log_heads SET seq = :s, hash = :h WHERE tenant = :t"), {"s": last[0], "h": last[1], "t": tenant})


def test_a_rehashed_chain_with_an_edited_child_ref_is_caught_by_the_kept_checkpoint(service: Service) -> None:
    tenant = "tenant-rewritten"
    service.history(tenant, consents=4)
    before = service.export(tenant, "before-rewrite.ndjson")
    assert service.verify(before).returncode == 0

    def edit_and_rehash(conn: Any, entries: list[Any]) -> None:
        prev = GENESIS
        for seq, stored, _, _ in entries:
            event = json.loads(stored)
            if seq == 2:
                assert event["child_ref"] == "child"
                event["child_ref"] = "someone-else"  # the forged history
            digest = link_hash(prev, event)
            conn.execute(
                text("UPDATE consent_log SET event = :e, prev = :p, hash = :h WHERE tenant = :t AND seq = :s"),
                {"e": canonical(event).decode(), "p": prev, "h": digest, "t": tenant, "s": seq},
            )
            prev = digest

    as_insider(service, tenant, edit_and_rehash)
    after = service.export(tenant, "after-rewrite.ndjson")
    lines = after.read_text().splitlines()
    assert json.loads(lines[1])["event"]["child_ref"] == "someone-else"

    alone = service.verify(after)
    assert alone.returncode == 0, alone.stdout  # D4: on its own the forged history verifies
    held = service.verify(after, before)
    assert held.returncode == 1, held.stdout
    assert "history_rewritten" in held.stdout


def test_a_log_cut_back_to_an_older_state_is_caught_by_the_kept_checkpoint(service: Service) -> None:
    tenant = "tenant-truncated"
    service.history(tenant, consents=4)
    before = service.export(tenant, "before-cut.ndjson")
    kept_seq = json.loads(before.read_text().splitlines()[-1])["seq"]

    def cut_back(conn: Any, entries: list[Any]) -> None:
        conn.execute(text("DELETE FROM consent_log WHERE tenant = :t AND seq > 2"), {"t": tenant})

    as_insider(service, tenant, cut_back)
    after = service.export(tenant, "after-cut.ndjson")
    assert json.loads(after.read_text().splitlines()[-1])["seq"] == 2 < kept_seq

    alone = service.verify(after)
    assert alone.returncode == 0, alone.stdout  # D4: a log cut back also verified on its own
    held = service.verify(after, before)
    assert held.returncode == 1, held.stdout
    assert "history_truncated" in held.stdout

    # New writes after the cut grow the log past the kept seq again: still caught.
    service.history(tenant, consents=3)
    regrown = service.export(tenant, "after-cut-regrown.ndjson")
    assert json.loads(regrown.read_text().splitlines()[-1])["seq"] > kept_seq
    held = service.verify(regrown, before)
    assert held.returncode == 1, held.stdout
    assert "history_rewritten" in held.stdout
