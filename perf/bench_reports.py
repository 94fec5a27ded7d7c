"""Regulator paths at scale (issue 5 and the export target), on a fresh Postgres database:

- `GET /v1/reports/summary` over 1,000,000 subjects (birth dates sealed under the service's
  KEK, so every row is decrypted as in production); context ceiling: the same rows
  streamed with psycopg and not decrypted;
- `GET /v1/audit/consent-log` over 1,000,000 chained events: events/s and the peak RSS of
  the gunicorn worker that streamed it (VmHWM).

Rows are bulk-loaded with COPY; the chain uses the service's own `canonical` and hash rule.

    python perf/bench_reports.py [--subjects 1000000] [--events 1000000] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import APP_SCOPES, REGULATOR_SCOPES, BenchService, subject_slot_columns  # noqa: E402
from harness import alternate, command_line, emit, figure, log, median  # noqa: E402

from service.auditlog.chain import GENESIS, canonical, link_hash  # noqa: E402
from service.kek import KeyEncryptionKey  # noqa: E402
from service.store.audit_log import timestamp  # noqa: E402
try:  # the store's sealing of birth dates (purpose and associated data), so the service can open them
    from service.store.subjects import _BIRTH_DATE, _context  # noqa: E402
except ImportError:  # as of 2026-11-27; a mismatch shows up as a failed summary, never as wrong numbers
    _BIRTH_DATE = "birth-date"

    def _context(tenant: str, subject_ref: str) -> bytes:
        return f"{tenant}\x00{subject_ref}".encode()

TENANT = "t-big"


def seed_subjects(conn, kek: KeyEncryptionKey, count: int) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    first = date(1930, 1, 1)
    slot_columns, slot_values = subject_slot_columns(conn, count)
    columns = f"tenant, subject_ref, birth_date_enc, assurance, method, verified_at, created_at, {slot_columns}"
    with conn.cursor() as cur, cur.copy(f"COPY subjects ({columns}) FROM STDIN") as copy:
        for i in range(count):
            ref = f"big-{i}"
            born = (first + timedelta(days=(i * 7919) % 34_000)).isoformat().encode()
            sealed = kek.seal(_BIRTH_DATE, born, _context(TENANT, ref))
            copy.write_row((TENANT, ref, sealed, "self_declared", "self_declared", now, now, *slot_values(i)))


def seed_log(conn, count: int) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 7, 15, tzinfo=timezone.utc)
    head = GENESIS
    with conn.cursor() as cur:
        with cur.copy("COPY consent_log (tenant, seq, event, prev, hash, recorded_at) FROM STDIN") as copy:
            for seq in range(1, count + 1):
                at = start + timedelta(microseconds=seq * 1000)
                event = {
                    "type": "granted" if seq % 5 else "withdrawn", "consent_id": f"00000000-0000-4000-8000-{seq:012d}",
                    "tenant": TENANT, "child_ref": f"kid-{seq % 500_000}", "guardian_ref": f"parent-{seq % 400_000}",
                    "relationship": "parent", "scopes": ["pi_processing", "companion"],
                    "method": "in_app_parent_account", "evidence_ref": f"ev-{seq}", "notice_version": "privacy-notice-v3",
                    "policy": "2026-07-15.1", "occurred_at": timestamp(at), "recorded_at": timestamp(at),
                    "client_id": "cl_bench",
                }
                text = canonical(event)
                digest = hashlib.sha256(bytes.fromhex(head) + text).hexdigest()
                if seq <= 3:
                    assert digest == link_hash(head, event)
                copy.write_row((TENANT, seq, text.decode(), head, digest, at))
                head = digest
        cur.execute(
            "INSERT INTO consent_log_heads (tenant, seq, hash, recorded_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (tenant) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, recorded_at = EXCLUDED.recorded_at",
            (TENANT, count, head, start + timedelta(microseconds=count * 1000)),
        )


def stream(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET `path` from 127.0.0.1, reading in chunks; returns (newline count, last line)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} -> {response.status}: {response.read(300)!r}")
        lines, tail = 0, b""
        while chunk := response.read(1 << 16):
            lines += chunk.count(b"\n")
            tail = (tail + chunk)[-8192:]
        return lines, tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    import psycopg

    # A summary over a million rows outlives gunicorn's default 30 s worker timeout if slow.
    with BenchService("agegate_bench_reports", args.logdir, AGEGATE_TIMEOUT="600") as svc:
        regulator = svc.client(TENANT, "regulator", REGULATOR_SCOPES)
        app = svc.client(TENANT, "app-backend", APP_SCOPES)
        svc.register_self_declared(app, "probe-0", "1990-01-01")  # opens status list 1
        kek = KeyEncryptionKey(base64.urlsafe_b64decode(svc.env["AGEGATE_KEK"] + "="))
        dsn = svc.db_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            started = time.perf_counter()
            seed_subjects(conn, kek, args.subjects)
            conn.commit()
            log(f"seeded {args.subjects:,} subjects in {time.perf_counter() - started:.0f} s")
            started = time.perf_counter()
            seed_log(conn, args.events)
            conn.commit()
            log(f"seeded {args.events:,} chained events in {time.perf_counter() - started:.0f} s")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE subjects")
            conn.execute("VACUUM ANALYZE consent_log")

        expected_total = args.subjects + 1

        def summary() -> float:
            started = time.perf_counter()
            lines, last = stream(svc.port, f"/v1/reports/summary?tenant={TENANT}", regulator)
            elapsed = time.perf_counter() - started
            report = json.loads(last)
            if report["subjects_total"] != expected_total or sum(report["by_bracket"].values()) != expected_total:
                raise RuntimeError(f"summary disagrees with the seeded rows: {report}")
            log(f"summary: {elapsed:.2f} s")
            return elapsed

        def raw_rows() -> float:
            started = time.perf_counter()
            rows = 0
            with psycopg.connect(dsn) as conn, conn.cursor(name="scan") as cur:
                cur.itersize = 10_000
                cur.execute("SELECT subject_ref, birth_date_enc FROM subjects WHERE tenant = %s", (TENANT,))
                for _ in cur:
                    rows += 1
            assert rows == expected_total, rows
            return time.perf_counter() - started

        export_peaks: list[float] = []

        def export() -> float:
            assert svc.server is not None
            resettable = svc.server.reset_peak_rss()
            started = time.perf_counter()
            lines, last = stream(svc.port, f"/v1/audit/consent-log?tenant={TENANT}", regulator)
            elapsed = time.perf_counter() - started
            checkpoint = json.loads(last)
            if lines != args.events + 1 or checkpoint.get("kind") != "checkpoint" or checkpoint.get("count") != args.events:
                raise RuntimeError(f"export: {lines} lines, last {last[:200]!r}")
            rate = args.events / elapsed
            export_peaks.append(svc.server.peak_rss_mb() if resettable else float("nan"))
            log(f"export: {rate:,.0f} events/s, worker peak RSS {export_peaks[-1]:.0f} MB")
            return rate

        runs = alternate({"summary": summary, "raw": raw_rows, "export": export}, args.rounds)
        peak_rss = max(export_peaks)

    summary_s, raw_s, export_rate = median(runs["summary"]), median(runs["raw"]), median(runs["export"])
    figures = [
        figure(f"`GET /v1/reports/summary` over {args.subjects:,} subjects", value=summary_s, unit="s",
               runs=runs["summary"], ceiling=raw_s, ceiling_name="the same rows streamed by psycopg, not decrypted",
               ceiling_runs=runs["raw"], ratio=raw_s / summary_s, target="issue 5: report the time", passed=None,
               detail="ratio = ceiling time / summary time"),
        figure(f"consent-log export over HTTP, {args.events:,} events", value=export_rate, unit="events/s",
               runs=runs["export"], target=">= 50,000 events/s", passed=export_rate >= 50_000,
               detail="streamed NDJSON read by a 64 KiB-chunk client; checkpoint count checked"),
        figure(f"consent-log export peak RSS ({args.events:,} events)", value=peak_rss, unit="MB",
               runs=export_peaks, target="<= 150 MB", passed=peak_rss <= 150,
               detail="worst run: largest gunicorn worker VmHWM, reset (clear_refs) before each export"),
    ]
    emit({"script": "bench_reports.py", "command": command_line(), "figures": figures, "notes": []}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
