"""Consent-log export and offline verification at scale, against the real service.

Creates a fresh Postgres database, migrates it, COPYs N chained consent-log events of one
tenant into ``consent_log`` and ``consent_log_heads`` (hashed with chain.py's rule, events
shaped like ``service.events.consent_event``), starts gunicorn ``service.wsgi:app`` with one
worker on a free loopback port, creates an ``audit:export`` client with the ``agegate`` CLI,
streams ``GET /v1/audit/consent-log`` to a file, then runs ``agegate audit verify FILE
--jwks URL`` on it. Drops the database at the end. Prints a markdown table:

    python perf/bench_audit_export.py --events 1000000 [--results perf/RESULTS.md]

Targets on 1,000,000 events: export and verify each >= 50,000 events/s, peak RSS <= 150 MB.
Memory is the gunicorn worker's VmHWM (peak resident set, startup included) and, for the
verifier, the ``agegate`` process's VmHWM and its worker processes' (polled while they run).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from service.auditlog.chain import GENESIS, canonical, link_hash  # noqa: E402
from service.store.audit_log import timestamp  # noqa: E402

TENANT = "t-bench-export"
START = datetime(2026, 7, 15, 8, 0, tzinfo=timezone.utc)
COPY_SQL = "COPY consent_log (tenant, seq, event, prev, hash, recorded_at) FROM STDIN"


def event(seq: int, recorded_at: datetime) -> dict[str, object]:
    """An event shaped like service.events.consent_event, with recorded_at filled as append() does."""
    return {
        "type": "granted" if seq % 5 else "withdrawn",
        "consent_id": f"cns_{seq:020d}",
        "tenant": TENANT,
        "child_ref": f"child-{seq * 7919 % 10_000_019}",
        "guardian_ref": f"guardian-{seq * 104_729 % 10_000_019}",
        "relationship": "parent",
        "scopes": ["pi_processing", "companion"],
        "method": "in_app_parent_account",
        "evidence_ref": None if seq % 3 == 0 else f"ev-{seq:012d}",
        "notice_version": "privacy-notice-v3",
        "policy": "2026-07-15.1",
        "occurred_at": timestamp(recorded_at - timedelta(seconds=1)),
        "recorded_at": timestamp(recorded_at),
        "client_id": "cl-bench-app",
    }


def load(url: str, n: int) -> float:
    """COPY n chained events and the head row; return seconds taken."""
    import psycopg

    started = time.perf_counter()
    prev = GENESIS
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        # The log's counting trigger (migration 0007) would update one hourly count row a
        # million times in this one transaction (a version chain that cannot be pruned: the
        # COPY never ended). Load with triggers off, then count as the migration backfills.
        conn.execute("SET session_replication_role = replica")
        with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            for seq in range(1, n + 1):
                recorded_at = START + timedelta(milliseconds=seq)
                ev = event(seq, recorded_at)
                text = canonical(ev)
                # link_hash would canonicalise a second time; check the shortcut agrees.
                digest = hashlib.sha256(bytes.fromhex(prev) + text).hexdigest()
                if seq <= 3:
                    assert digest == link_hash(prev, ev)
                copy.write_row((TENANT, seq, text.decode(), prev, digest, recorded_at))
                prev = digest
        conn.execute("SET session_replication_role = origin")
        conn.execute(
            "INSERT INTO consent_log_heads (tenant, seq, hash, recorded_at) VALUES (%s, %s, %s, %s)",
            (TENANT, n, prev, START + timedelta(milliseconds=n)),
        )
        conn.execute(
            "INSERT INTO consent_log_counts (tenant, hour, event_type, events) "
            "SELECT tenant, date_trunc('hour', recorded_at, 'UTC'), (event::json) ->> 'type', count(*) "
            "FROM consent_log WHERE tenant = %s GROUP BY 1, 2, 3",
            (TENANT,),
        )
        conn.execute("ANALYZE consent_log")
    return time.perf_counter() - started


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def export(base: str, token: str, path: Path, svc: harness.Gunicorn) -> tuple[float, int, float, float]:
    """Stream the export to `path`; return (seconds, lines, the worker's VmHWM in MB, its CPU s)."""
    (worker,) = svc.worker_pids()
    cpu = cpu_seconds(worker)
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=600)
    lines = 0
    started = time.perf_counter()
    try:
        conn.request("GET", f"/v1/audit/consent-log?tenant={TENANT}",
                     headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"export -> {response.status}: {response.read(400)!r}")
        with path.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                lines += chunk.count(b"\n")
    finally:
        conn.close()
    elapsed = time.perf_counter() - started
    return elapsed, lines, svc.peak_rss_mb(), cpu_seconds(worker) - cpu


def verify(env: dict[str, str], path: Path, jwks_url: str) -> tuple[float, str, float, float, float]:
    """Run `agegate audit verify`; return (seconds, output, its VmHWM, its workers' largest,
    CPU seconds of it and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    proc = subprocess.Popen([str(harness.BIN / "agegate"), "audit", "verify", str(path), "--jwks", jwks_url],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    main_mb = workers_mb = 0.0
    deadline = time.monotonic() + 1800
    while proc.poll() is None and time.monotonic() < deadline:
        main_mb = max(main_mb, vm_hwm_mb(proc.pid))
        for child in children(proc.pid):
            workers_mb = max(workers_mb, vm_hwm_mb(child))
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
    out = proc.communicate()[0].decode(errors="replace").strip()
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"agegate audit verify exited {proc.returncode}: {out[-600:]}")
    return elapsed, out, main_mb, workers_mb, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=600,
                        help="gunicorn worker timeout (the service default, 30 s, ends longer exports)")
    parser.add_argument("--keep", action="store_true", help="keep the database (for profiling)")
    parser.add_argument("--results", type=Path, help="append the markdown table to this file")
    args = parser.parse_args()

    name = f"agegate_bench_export_{os.getpid()}"
    harness.log(f"creating {name}")
    url = harness.create_database(name)
    try:
        from service.store.migrate import upgrade

        upgrade(url)
        harness.log(f"loading {args.events:,} events into {name}")
        loaded = load(url, args.events)
        port = harness.free_port()
        env = harness.service_env(url, port, AGEGATE_WORKERS="1", AGEGATE_TIMEOUT=str(args.timeout))
        client = harness.create_client(env, TENANT, "regulator", "audit:export")
        with tempfile.TemporaryDirectory() as tmp, \
                harness.Gunicorn("service.wsgi:app", env, port, Path(tmp) / "gunicorn.log") as svc:
            token = harness.access_token(svc.base, client)
            idle_mb = svc.peak_rss_mb()
            path = Path(tmp) / "export.ndjson"
            harness.log("exporting")
            exported, lines, server_mb, export_cpu = export(svc.base, token, path, svc)
            if lines != args.events + 1:
                raise RuntimeError(f"export has {lines} lines, want {args.events + 1}: {svc.log_tail()}")
            size_mb = path.stat().st_size / 1e6
            harness.log("verifying")
            verified, out, verify_mb, workers_mb, verify_cpu = verify(env, path, svc.base + "/.well-known/jwks.json")
        harness.log("stopped the service")
        if f" {args.events} events," not in out:
            raise RuntimeError(f"unexpected verify output: {out}")
    finally:
        if not args.keep:
            harness.drop_database(name)
            harness.log(f"dropped {name}")

    n = args.events
    cores = len(os.sched_getaffinity(0))
    rows = [
        f"### Consent-log export and verify ({datetime.now(timezone.utc):%Y-%m-%d}, {cores} cores,"
        f" load {os.getloadavg()[0]:.1f}, `{harness.command_line()}`)",
        "",
        "| step | events | seconds | events/s | CPU/event | target | peak RSS | RSS target |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
        f"| COPY into Postgres (setup) | {n:,} | {loaded:.1f} | {n / loaded:,.0f} | - | - | - | - |",
        f"| GET /v1/audit/consent-log ({size_mb:.0f} MB NDJSON) | {n:,} | {exported:.1f}"
        f" | {n / exported:,.0f} | {export_cpu / n * 1e6:.1f} us (gunicorn worker) | {'PASS' if n / exported >= 50_000 else 'MISS'} >= 50,000"
        f" | gunicorn worker {server_mb:.0f} MB (idle {idle_mb:.0f} MB)"
        f" | {'PASS' if server_mb <= 150 else 'MISS'} <= 150 MB |",
        f"| agegate audit verify | {n:,} | {verified:.1f} | {n / verified:,.0f}"
        f" | {verify_cpu / n * 1e6:.1f} us (main + workers) | {'PASS' if n / verified >= 50_000 else 'MISS'} >= 50,000"
        f" | main {verify_mb:.0f} MB, largest worker {workers_mb:.0f} MB"
        f" | {'PASS' if max(verify_mb, workers_mb) <= 150 else 'MISS'} <= 150 MB per process |",
        "",
    ]
    text = "\n".join(rows)
    print(text)
    if args.results:
        with args.results.open("a", encoding="utf-8") as results:
            results.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
