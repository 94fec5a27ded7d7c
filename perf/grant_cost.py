"""What one consent grant costs: CPU (Python and Postgres) and statements, load-independent.

On a machine shared with other work a rate says little; CPU time per grant and statements per
grant do not depend on who else runs. This drives `POST /v1/consents` in-process (the app
from create_app, Flask's test client, `--threads` callers, so one tenant's group commit forms
batches as under gunicorn) against a Postgres database of its own, and counts:

- Python CPU per grant: this process's CPU time (the app, SQLAlchemy, psycopg; no gunicorn);
- Postgres CPU per grant: the CPU time of this database's backends (from /proc);
- statements per grant, by kind, as SQLAlchemy sends them, and transactions per grant (each
  also costs psycopg's BEGIN and its COMMIT or ROLLBACK round trip).

    python perf/grant_cost.py [--grants 3000] [--threads 16] [--json OUT]

Run it under `py-spy record -o OUT.svg -- python perf/grant_cost.py` for a profile of the
same work. Postgres on 127.0.0.1 (PERF_DB_SUFFIX names the database apart, as for the other
scripts); Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import create_database, drop_database, emit, in_process_app, log, resident_id  # noqa: E402

DB_NAME = "agegate_grant_cost"
TENANT = "t-cost"
TICKS = os.sysconf("SC_CLK_TCK")


def _statement_kind(statement: str) -> str:
    """'INSERT INTO consents', 'SELECT', 'SAVEPOINT' ...: what a statement is, without values."""
    words = statement.split(None, 3)
    head = words[0].upper() if words else "?"
    if head == "INSERT" and len(words) > 2:
        return f"INSERT {words[2]}"
    if head == "WITH":
        return "WITH (CTE)"
    return head


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds so far of each process still running (a pool may close a connection)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=3000, help="grants measured (after a warm-up of 300)")
    parser.add_argument("--threads", type=int, default=16, help="callers at once (bench_db: 16 connections)")
    parser.add_argument("--families", type=int, default=40, help="child/guardian pairs the grants cycle over")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from sqlalchemy import event, text

    from service.store import clients as client_store
    from service.store.db import transaction

    url = create_database(DB_NAME)
    try:
        app = in_process_app(url)
        runtime = app.extensions["agegate"]
        with transaction(runtime.sessions) as session:
            new = client_store.create_client(session, tenant=TENANT, name="cost", audience=None,
                                             scopes=["subjects:write", "consent:write"], now=datetime.now(timezone.utc))
        http = app.test_client()
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(new.client_id, new.client_secret)).get_json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        log(f"seeding {args.families} families")
        families = []
        for i in range(args.families):
            child, guardian = f"kid-{i}", f"parent-{i}"
            for ref, evidence in (
                (child, {"method": "self_declared", "birth_date": f"{2015 + i % 4}-0{1 + i % 9}-1{i % 10}"}),
                (guardian, {"method": "resident_id", "resident_id": resident_id(f"19{80 + i % 15}0{1 + i % 9}1{i % 10}", i)}),
            ):
                response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth)
                assert response.status_code == 201, response.get_json()
            families.append((child, guardian))

        statements: Counter[str] = Counter()
        transactions: Counter[str] = Counter()
        counting = threading.Event()

        @event.listens_for(runtime.engine, "before_cursor_execute")
        def _count(_conn, _cursor, statement, *_):  # type: ignore[no-untyped-def]
            if counting.is_set():
                statements[_statement_kind(statement)] += 1

        for outcome in ("commit", "rollback"):
            event.listen(runtime.engine, outcome, lambda _conn, outcome=outcome: counting.is_set() and transactions.update([outcome]))

        counter = iter(range(10**9))
        lock = threading.Lock()
        failures: Counter[int] = Counter()

        def grant_until(limit: int) -> None:
            client = app.test_client()
            while True:
                with lock:
                    n = next(counter)
                if n >= limit:
                    return
                child, guardian = families[n % len(families)]
                response = client.post("/v1/consents", headers=auth, json={
                    "child_ref": child, "guardian_ref": guardian, "relationship": "parent",
                    "scopes": ["pi_processing", "companion"], "method": "in_app_parent_account",
                    "evidence_ref": f"ev-{n}", "notice_version": "privacy-notice-v3", "expires_at": None,
                })
                if response.status_code != 201:
                    failures[response.status_code] += 1

        def run(limit: int) -> float:
            started = time.perf_counter()
            callers = [threading.Thread(target=grant_until, args=(limit,)) for _ in range(args.threads)]
            for caller in callers:
                caller.start()
            for caller in callers:
                caller.join()
            return time.perf_counter() - started

        warm_up = 300
        run(warm_up)
        with runtime.engine.connect() as conn:
            # the pool's connections, this one among them (one tenant's batches use one at a time)
            backends = list(conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))
        python_before, postgres_before = time.process_time(), _cpu_seconds(backends)
        counting.set()
        wall = run(warm_up + args.grants)
        counting.clear()
        python_cpu, postgres_after = time.process_time() - python_before, _cpu_seconds(backends)
        postgres_cpu = sum(postgres_after[pid] - postgres_before[pid] for pid in postgres_after.keys() & postgres_before.keys())
        runtime.engine.dispose()
    finally:
        drop_database(DB_NAME)

    grants = args.grants
    total_statements = sum(statements.values())
    result = {
        "grants": grants,
        "failures": dict(failures),
        "threads": args.threads,
        "grants_per_second_in_process": round(grants / wall, 1),
        "python_cpu_ms_per_grant": round(1000 * python_cpu / grants, 3),
        "postgres_cpu_ms_per_grant": round(1000 * postgres_cpu / grants, 3),
        "statements_per_grant": round(total_statements / grants, 3),
        "transactions_per_grant": round(sum(transactions.values()) / grants, 3),
        "round_trips_per_grant": round((total_statements + 2 * sum(transactions.values())) / grants, 3),
        "statements": {kind: round(n / grants, 3) for kind, n in statements.most_common()},
        "transactions": dict(transactions),
        "postgres_backends_measured": len(postgres_after.keys() & postgres_before.keys()),
    }
    log(f"{grants} grants, {args.threads} threads: python {result['python_cpu_ms_per_grant']} ms + postgres "
        f"{result['postgres_cpu_ms_per_grant']} ms CPU a grant; {result['statements_per_grant']} statements, "
        f"{result['transactions_per_grant']} transactions a grant")
    emit(result, args.json)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
