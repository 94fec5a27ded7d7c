"""Exports and reports read from a real PostgreSQL streaming replica, the primary as fallback.

A throw-away primary cluster on a free port (never the shared one), `pg_basebackup -R` into a
temporary directory, the replica started on another free port and torn down after. Replay is
paused while the primary moves on, so what the export saw can only have come from the replica.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool, text

from agegate_verifier.log import verify_export

from service.app import create_app
from service.store import migrate
from tests.conftest import ISSUER, TEST_KEK
from tests.integration.conftest import (
    CHILD_BIRTH_DATE,
    GUARDIAN_RESIDENT_ID,
    bearer_for,
    consent_body,
    make_client,
    needs_postgres,
    register,
)

pytestmark = needs_postgres

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=60)


def scalar(url: str, sql: str) -> object:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


@dataclass
class Pair:
    primary: str
    replica: str
    replica_dir: Path

    def caught_up(self) -> None:
        target = scalar(self.primary, "SELECT pg_current_wal_lsn()::text")
        for _ in range(100):
            if scalar(self.replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
                return
            time.sleep(0.1)
        raise AssertionError("the replica did not catch up")

    def stop_replica(self) -> None:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.replica_dir), "-m", "immediate", "-w", "stop")


@pytest.fixture
def primary_and_replica() -> Iterator[Pair]:
    name = f"agegate_replica_{uuid.uuid4().hex[:8]}"
    primary_port, replica_port = free_port(), free_port()
    replica_dir = Path(tempfile.mkdtemp(prefix="agegate-replica-"))
    shutil.chown(replica_dir, "postgres", "postgres")
    replica_dir.chmod(0o700)
    # fsync off and initdb --no-sync: a throw-away cluster needs no durability, and it halves the set-up
    subprocess.run(["pg_createcluster", PG_VERSION, name, "--port", str(primary_port), "-o", "fsync=off", "--", "--auth=trust", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    try:
        subprocess.run(["pg_ctlcluster", PG_VERSION, name, "start"], check=True, capture_output=True, timeout=60)
        primary = f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/postgres"
        migrate.upgrade(primary)
        as_postgres(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
                    "-D", str(replica_dir), "-R", "-X", "stream", "--checkpoint=fast")
        # Debian keeps a cluster's configuration outside its data directory: give the copy its own.
        (replica_dir / "postgresql.conf").write_text(
            f"port = {replica_port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{replica_dir}'\n"
            "hot_standby = on\nfsync = off\n"
        )
        (replica_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        for made in ("postgresql.conf", "pg_hba.conf"):
            shutil.chown(replica_dir / made, "postgres", "postgres")
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(replica_dir), "-l", str(replica_dir / "log"), "-w", "start")
        replica = f"postgresql+psycopg://postgres@127.0.0.1:{replica_port}/postgres"
        assert scalar(replica, "SELECT pg_is_in_recovery()") is True
        yield Pair(primary, replica, replica_dir)
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(replica_dir),
                        "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(replica_dir, ignore_errors=True)
        subprocess.run(["pg_ctlcluster", PG_VERSION, name, "stop", "-m", "immediate"], capture_output=True, timeout=60)
        subprocess.run(["pg_dropcluster", PG_VERSION, name], capture_output=True, timeout=60)


def test_an_export_from_the_replica_verifies_and_names_the_head_it_saw(primary_and_replica: Pair) -> None:
    from service.config import Settings

    pair = primary_and_replica
    settings = Settings(database_url=pair.primary, replica_database_url=pair.replica, issuer=ISSUER, kek=TEST_KEK,
                        using_development_kek=False)
    app = create_app(settings)
    try:
        check_replica_routing(pair, app)
    finally:
        runtime = app.extensions["agegate"]
        runtime.reporting.dispose()
        runtime.engine.dispose()


def check_replica_routing(pair: Pair, app) -> None:  # type: ignore[no-untyped-def]
    http = app.test_client()
    auth = bearer_for(http, *make_client(pair.primary, "subjects:write", "consent:write", "audit:export", tenant="tenant-a"))
    register(http, auth, "child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
    register(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
    assert http.post("/v1/consents", json=consent_body(), headers=auth).status_code == 201
    pair.caught_up()
    replica_head = scalar(pair.replica, "SELECT hash FROM consent_log_heads WHERE tenant = 'tenant-a'")

    scalar(pair.replica, "SELECT pg_wal_replay_pause()")
    assert http.post("/v1/consents", json=consent_body(evidence_ref="ev-2"), headers=auth).status_code == 201
    primary_head = scalar(pair.primary, "SELECT hash FROM consent_log_heads WHERE tenant = 'tenant-a'")
    assert primary_head != replica_head

    jwks = http.get("/.well-known/jwks.json").get_json()
    lines = http.get("/v1/audit/consent-log", headers=auth).get_data().splitlines()
    report = verify_export(lines, jwks, issuer=ISSUER)
    checkpoint = json.loads(lines[-1])
    assert (report.count, checkpoint["head"]) == (1, replica_head)  # the replica's view, paused before the 2nd grant
    summary = http.get("/v1/reports/summary", headers=auth).get_json()
    assert summary["consents_active"] == 1 and summary["subjects_total"] == 2

    pair.stop_replica()  # the primary answers instead, with the head it has
    lines = http.get("/v1/audit/consent-log", headers=auth).get_data().splitlines()
    assert verify_export(lines, jwks, issuer=ISSUER).count == 2
    assert json.loads(lines[-1])["head"] == primary_head
    assert http.get("/v1/reports/summary", headers=auth).get_json()["consents_active"] == 2
