"""agegate under gunicorn against a Postgres database made for one benchmark run.

    with BenchService("agegate_bench_http", logdir) as svc:
        app = svc.client("t-bench", "app", "subjects:write tokens:issue")   # -> bearer headers
        svc.register_self_declared(app, "s-1", "2012-03-04")

The database is dropped and created, migrated with `agegate db upgrade`, clients are made
with `agegate clients create`, exactly as an operator would; gunicorn runs with the
project's gunicorn.conf.py. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness import (
    Gunicorn,
    access_token,
    agegate,
    create_client,
    create_database,
    drop_database,
    free_port,
    http_json,
    log,
    resident_id,
    service_env,
)

APP_SCOPES = "subjects:write subjects:read tokens:issue consent:write consent:read"
PERSONA_SCOPES = "tokens:verify"
REGULATOR_SCOPES = "audit:export"
AUDIENCE = "persona-chat"
# The WSGI app gunicorn serves; overridable to benchmark another build of the service.
WSGI_APP = os.environ.get("PERF_WSGI_APP", "service.wsgi:app")


class BenchService:
    def __init__(self, db_name: str, logdir: Path, *, workers: int = 2, keep_db: bool = False, **env: str) -> None:
        self.db_name = db_name
        self.logdir = logdir
        self.workers = workers
        self.keep_db = keep_db
        self.extra_env = env
        self.port = free_port()
        self.server: Gunicorn | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BenchService:
        self.db_url = create_database(self.db_name)
        self.env = service_env(self.db_url, self.port, AGEGATE_WORKERS=str(self.workers), **self.extra_env)
        log(f"{self.db_name}: migrating")
        agegate(self.env, "db", "upgrade")
        self.server = Gunicorn(WSGI_APP, self.env, self.port, self.logdir / f"{self.db_name}.log")
        self.server.start()
        # The first request creates the signing key: do it once, before concurrent load.
        http_json("GET", self.base + "/.well-known/jwks.json")
        log(f"{self.db_name}: service up at {self.base} ({self.workers} workers)")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()
        if not self.keep_db:
            try:
                drop_database(self.db_name)
            except Exception:  # noqa: BLE001 - cleanup only
                pass

    def analyze(self) -> None:
        """Refresh the planner's statistics after seeding, as autovacuum would within a minute
        of it: measured right after 200 inserts into a never-analyzed table, the token SELECT
        walked the (tenant, created_at) index over every subject of the tenant instead of the
        (tenant, subject_ref) one, a plan no deployment keeps."""
        import psycopg

        with psycopg.connect(self.db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute("ANALYZE")

    def client(self, tenant: str, name: str, scopes: str, audience: str | None = None) -> dict[str, str]:
        """Create a client with the CLI and return the headers carrying its access token."""
        credentials = create_client(self.env, tenant, name, scopes, audience)
        return {"Authorization": f"Bearer {access_token(self.base, credentials)}"}

    def post(self, path: str, headers: dict[str, str], body: object, expect: int | tuple[int, ...] = (200, 201)):  # type: ignore[no-untyped-def]
        return http_json("POST", self.base + path, body, headers, expect)

    def register_self_declared(self, headers: dict[str, str], subject_ref: str, birth_date: str) -> dict:  # type: ignore[type-arg]
        return self.post("/v1/subjects", headers,
                         {"subject_ref": subject_ref, "evidence": {"method": "self_declared", "birth_date": birth_date}})

    def register_resident(self, headers: dict[str, str], subject_ref: str, birth: str, serial: int) -> dict:  # type: ignore[type-arg]
        return self.post("/v1/subjects", headers, {
            "subject_ref": subject_ref,
            "evidence": {"method": "resident_id", "resident_id": resident_id(birth, serial)},
        })


def consent_body(child: str, guardian: str, n: str = "{n}") -> str:
    return json.dumps({
        "child_ref": child, "guardian_ref": guardian, "relationship": "parent",
        "scopes": ["pi_processing", "companion"], "method": "in_app_parent_account",
        "evidence_ref": f"ev-{n}", "notice_version": "privacy-notice-v3", "expires_at": None,
    })


def seed_families(svc: BenchService, headers: dict[str, str], tenant_tag: str, families: int) -> list[tuple[str, str]]:
    """Register `families` (child under 14, self-declared; guardian adult, resident ID)."""
    pairs = []
    for i in range(families):
        child, guardian = f"{tenant_tag}-kid-{i}", f"{tenant_tag}-parent-{i}"
        svc.register_self_declared(headers, child, f"{2015 + i % 4}-0{1 + i % 9}-1{i % 10}")
        svc.register_resident(headers, guardian, f"19{80 + i % 15}0{1 + i % 9}1{i % 10}", i)
        pairs.append((child, guardian))
    return pairs


# --------------------------------------------------------------------------- bulk seeding
# The status-list schema has moved once already (a locked counter row per list, then an
# identity column of slots); these helpers follow whichever one the migrations created.


def slots_schema(conn) -> bool:  # type: ignore[no-untyped-def]
    """True for the `status_slots` schema, False for the older `status_lists` one."""
    return conn.execute("SELECT to_regclass('status_slots') IS NOT NULL").fetchone()[0]  # type: ignore[no-any-return]


def grow_status_list(conn, entries: int, revoked: list[int]) -> int:  # type: ignore[no-untyped-def]
    """Make list 1 hold `entries` handed-out slots with `revoked` indexes set; returns the list id."""
    if slots_schema(conn):
        conn.execute("INSERT INTO status_slots (id) SELECT g FROM generate_series(1, %s::int) g ON CONFLICT DO NOTHING",
                     (entries,))
        conn.execute("SELECT setval(pg_get_serial_sequence('status_slots', 'id'), (SELECT max(id) FROM status_slots))")
        conn.execute("DELETE FROM status_revocations")
        conn.execute("INSERT INTO status_revocations (slot, revoked_at) SELECT s, now() FROM unnest(%s::int[]) s",
                     ([idx + 1 for idx in revoked],))
        return 1
    list_id = conn.execute("SELECT max(id) FROM status_lists").fetchone()[0]
    conn.execute("UPDATE status_lists SET next_idx = %s WHERE id = %s", (entries, list_id))
    conn.execute("DELETE FROM status_revocations WHERE list_id = %s", (list_id,))
    conn.execute("INSERT INTO status_revocations (list_id, idx, revoked_at) SELECT %s, i, now() FROM unnest(%s::int[]) i",
                 (list_id, revoked))
    return list_id  # type: ignore[no-any-return]


def subject_slot_columns(conn, count: int) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    """(column list, function i -> values) for the status columns of `count` bulk subjects."""
    if slots_schema(conn):
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM status_slots").fetchone()[0]
        conn.execute("INSERT INTO status_slots (id) SELECT g FROM generate_series(%s::int, %s::int) g", (first, first + count - 1))
        conn.execute("SELECT setval(pg_get_serial_sequence('status_slots', 'id'), (SELECT max(id) FROM status_slots))")
        return "status_slot", lambda i: (first + i,)
    list_id = conn.execute("SELECT max(id) FROM status_lists").fetchone()[0]
    return "status_list_id, status_idx", lambda i: (list_id, i + 1)
