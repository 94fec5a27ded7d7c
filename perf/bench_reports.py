"""Regulator paths at scale (issue 14 and the export target), on a fresh Postgres database:

- `GET /v1/reports/summary` and `GET /v1/reports/minors-pi?year=Y` over 10,000,000 subjects
  (birth dates sealed under the service's KEK with their clear birth month, registrations
  spread over 2020 to now, 10% of subjects with a token day in the last 60 days): seconds per
  report and the peak RSS of the gunicorn worker that computed it (VmHWM). Every answer is
  checked against figures computed here from the seeded birth dates with the domain's
  `age_on`, subject by subject;
- `GET /v1/audit/consent-log` over 1,000,000 chained events: events/s and worker peak RSS.

Rows are bulk-loaded with COPY (secondary indexes of `subjects` dropped during the load and
rebuilt after, foreign-key triggers off for the loading session only); the chain uses the
service's own `canonical` and hash rule.

    python perf/bench_reports.py [--subjects 10000000] [--events 1000000] [--rounds 3] [--json OUT]
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
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import APP_SCOPES, REGULATOR_SCOPES, BenchService, subject_slot_columns  # noqa: E402
from harness import alternate, command_line, emit, figure, log, median  # noqa: E402

from service.auditlog.chain import GENESIS, canonical, link_hash  # noqa: E402
from service.domain.brackets import age_on, bracket_for_age  # noqa: E402
from service.kek import KeyEncryptionKey  # noqa: E402
from service.store.audit_log import timestamp  # noqa: E402
from service.store.subjects import _BIRTH_DATE, _context  # noqa: E402

TENANT = "t-big"
FIRST_BIRTH = date(1930, 1, 1)
FIRST_REGISTRATION = datetime(2020, 1, 1, tzinfo=timezone.utc)
SHANGHAI = timedelta(hours=8)  # AGEGATE_TIMEZONE of the bench service; no DST since 1991


class Expected:
    """What the reports must say, tallied subject by subject while seeding."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.year_start = date(today.year, 1, 1)
        self.births: Counter[date] = Counter()
        self.persons = self.under_18 = self.under_14 = 0

    def add(self, born: date, registered_on: date) -> None:
        self.births[born] += 1
        self.persons += 1
        age = age_on(born, max(registered_on, self.year_start))
        self.under_18 += age < 18
        self.under_14 += age < 14

    def brackets(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for born, count in self.births.items():
            counts[bracket_for_age(age_on(born, self.today)).value] += count
        return {name: counts.get(name, 0) for name in ("under_14", "minor", "adult", "older")}


def secondary_indexes(conn) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """(statements that drop, statements that rebuild) the secondary indexes of `subjects`,
    with the foreign keys of other tables that lean on its unique constraint."""
    leaning = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE confrelid = 'subjects'::regclass AND contype = 'f'"
    ).fetchall()
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'subjects'::regclass AND contype = 'u'"
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'subjects' "
        "AND i.schemaname = current_schema() AND i.indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = 'subjects'::regclass AND contype IN ('p', 'u'))"
    ).fetchall()
    drops = [f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' for table, name, _ in leaning]
    drops += [f'ALTER TABLE subjects DROP CONSTRAINT "{name}"' for name, _ in constraints]
    drops += [f'DROP INDEX "{name}"' for name, _ in indexes]
    rebuilds = [f'ALTER TABLE subjects ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints]
    rebuilds += [definition for _, definition in indexes]
    rebuilds += [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in leaning]
    return drops, rebuilds


def seed_subjects(conn, kek: KeyEncryptionKey, count: int, expected: Expected) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    span = int((now - FIRST_REGISTRATION).total_seconds())
    slot_columns, slot_values = subject_slot_columns(conn, count)
    drops, rebuilds = secondary_indexes(conn)
    for statement in drops:
        conn.execute(statement)
    conn.execute("SET session_replication_role = replica")  # no per-row foreign-key checks while loading
    columns = f"tenant, subject_ref, birth_date_enc, birth_month, assurance, method, verified_at, created_at, {slot_columns}"
    with conn.cursor() as cur, cur.copy(f"COPY subjects ({columns}) FROM STDIN") as copy:
        for i in range(count):
            ref = f"big-{i}"
            born = FIRST_BIRTH + timedelta(days=(i * 7919) % 34_000)
            registered = FIRST_REGISTRATION + timedelta(seconds=(i * 104_729) % span)
            if registered.date() <= born:
                registered = datetime.combine(born + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
            if registered > now:
                registered = now
            sealed = kek.seal(_BIRTH_DATE, born.isoformat().encode(), _context(TENANT, ref))
            copy.write_row((TENANT, ref, sealed, born.year * 100 + born.month, "self_declared", "self_declared",
                            registered, registered, *slot_values(i)))
            expected.add(born, (registered + SHANGHAI).date())
    conn.execute("SET session_replication_role = origin")
    for statement in rebuilds:
        conn.execute(statement)


def seed_activity(conn, count: int, today: date) -> int:  # type: ignore[no-untyped-def]
    """Every 10th subject gets a last token day in the last 60 days; returns how many fall in the 30-day window."""
    active = 0
    with conn.cursor() as cur, cur.copy("COPY subject_activity (tenant, subject_ref, last_issued_on) FROM STDIN") as copy:
        for i in range(0, count, 10):
            day = today - timedelta(days=(i // 10) % 60)
            active += day >= today - timedelta(days=29)
            copy.write_row((TENANT, f"big-{i}", day))
    return active


def seed_log(conn, count: int) -> None:  # type: ignore[no-untyped-def]
    """`count` chained events in one COPY. The log's counting trigger is off for this session
    (one transaction updating the same hourly row a million times grows one version chain
    without end) and the counts are filled afterwards, as migration 0007 backfills them."""
    start = datetime(2026, 7, 15, tzinfo=timezone.utc)
    head = GENESIS
    conn.execute("SET session_replication_role = replica")
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
    conn.execute("SET session_replication_role = origin")
    conn.execute(
        "INSERT INTO consent_log_counts (tenant, hour, event_type, events) "
        "SELECT tenant, date_trunc('hour', recorded_at, 'UTC'), (event::json) ->> 'type', count(*) "
        "FROM consent_log WHERE tenant = %s GROUP BY 1, 2, 3",
        (TENANT,),
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
    parser.add_argument("--subjects", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    import psycopg

    # A report that regressed to a full decrypt would outlive gunicorn's default 30 s timeout.
    with BenchService("agegate_bench_reports", args.logdir, AGEGATE_TIMEOUT="600") as svc:
        regulator = svc.client(TENANT, "regulator", REGULATOR_SCOPES)
        app = svc.client(TENANT, "app-backend", APP_SCOPES)
        svc.register_self_declared(app, "probe-0", "1990-01-01")  # opens status list 1
        today = (datetime.now(timezone.utc) + SHANGHAI).date()
        expected = Expected(today)
        expected.add(date(1990, 1, 1), today)
        kek = KeyEncryptionKey(base64.urlsafe_b64decode(svc.env["AGEGATE_KEK"] + "="))
        dsn = svc.db_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            started = time.perf_counter()
            seed_subjects(conn, kek, args.subjects, expected)
            active = seed_activity(conn, args.subjects, today)
            conn.commit()
            log(f"seeded {args.subjects:,} subjects in {time.perf_counter() - started:.0f} s")
            started = time.perf_counter()
            seed_log(conn, args.events)
            conn.commit()
            log(f"seeded {args.events:,} chained events in {time.perf_counter() - started:.0f} s")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in ("subjects", "subject_activity", "consent_log", "status_slots"):
                conn.execute(f"VACUUM ANALYZE {table}")  # as autovacuum would: visibility map for index-only scans

        expected_total = args.subjects + 1
        expected_brackets = expected.brackets()
        assert svc.server is not None
        peaks: dict[str, list[float]] = {"summary": [], "minors": [], "export": []}

        def timed_get(kind: str, path: str) -> tuple[float, bytes]:
            assert svc.server is not None
            resettable = svc.server.reset_peak_rss()
            started = time.perf_counter()
            _, last = stream(svc.port, path, regulator)
            elapsed = time.perf_counter() - started
            peaks[kind].append(svc.server.peak_rss_mb() if resettable else float("nan"))
            return elapsed, last

        def summary() -> float:
            elapsed, body = timed_get("summary", f"/v1/reports/summary?tenant={TENANT}")
            report = json.loads(body)
            if (report["subjects_total"], report["by_bracket"], report["monthly_active_subjects"]) != (
                expected_total, expected_brackets, active
            ):
                raise RuntimeError(f"summary disagrees with the seeded rows: {report} != {expected_brackets}, {active}")
            log(f"summary: {elapsed:.2f} s, worker peak RSS {peaks['summary'][-1]:.0f} MB")
            return elapsed

        def minors() -> float:
            elapsed, body = timed_get("minors", f"/v1/reports/minors-pi?tenant={TENANT}&year={today.year}")
            report = json.loads(body)
            got = (report["persons_processed"]["exact"], report["under_18"]["exact"], report["under_14"]["exact"])
            if got != (expected.persons, expected.under_18, expected.under_14):
                raise RuntimeError(f"minors-pi {got} != {(expected.persons, expected.under_18, expected.under_14)}")
            withdrawn = args.events // 5  # seed_log: every 5th event is a withdrawal, all on 2026-07-15
            if today.year == 2026 and report["consents"] != {"granted": args.events - withdrawn, "declined": 0, "withdrawn": withdrawn}:
                raise RuntimeError(f"minors-pi consents {report['consents']}")
            log(f"minors-pi: {elapsed:.2f} s, worker peak RSS {peaks['minors'][-1]:.0f} MB")
            return elapsed

        def export() -> float:
            elapsed, last = timed_get("export", f"/v1/audit/consent-log?tenant={TENANT}")
            checkpoint = json.loads(last)
            if checkpoint.get("kind") != "checkpoint" or checkpoint.get("count") != args.events:
                raise RuntimeError(f"export: last line {last[:200]!r}")
            rate = args.events / elapsed
            log(f"export: {rate:,.0f} events/s, worker peak RSS {peaks['export'][-1]:.0f} MB")
            return rate

        runs = alternate({"summary": summary, "minors": minors, "export": export}, args.rounds)

    summary_s, minors_s, export_rate = median(runs["summary"]), median(runs["minors"]), median(runs["export"])
    report_rss = max(peaks["summary"] + peaks["minors"])
    export_rss = max(peaks["export"])
    n = f"{args.subjects:,}"
    figures = [
        figure(f"`GET /v1/reports/summary` over {n} subjects", value=summary_s, unit="s", runs=runs["summary"],
               target="issue 14: <= 10 s", passed=summary_s <= 10,
               detail="brackets by birth month (one index-only pass), boundary months decrypted; answer checked"),
        figure(f"`GET /v1/reports/minors-pi` over {n} subjects", value=minors_s, unit="s", runs=runs["minors"],
               target="issue 14: <= 10 s", passed=minors_s <= 10,
               detail=f"year {today.year}, {args.events:,} log events in it; figures checked subject by subject"),
        figure(f"report worker peak RSS ({n} subjects)", value=report_rss, unit="MB",
               runs=peaks["summary"] + peaks["minors"], target="issue 14: <= 200 MB", passed=report_rss <= 200,
               detail="worst run of either report: gunicorn worker VmHWM, reset (clear_refs) before each request"),
        figure(f"consent-log export over HTTP, {args.events:,} events", value=export_rate, unit="events/s",
               runs=runs["export"], target=">= 50,000 events/s", passed=export_rate >= 50_000,
               detail="streamed NDJSON read by a 64 KiB-chunk client; checkpoint count checked"),
        figure(f"consent-log export peak RSS ({args.events:,} events)", value=export_rss, unit="MB",
               runs=peaks["export"], target="<= 150 MB", passed=export_rss <= 150,
               detail="worst run: largest gunicorn worker VmHWM, reset (clear_refs) before each export"),
    ]
    emit({"script": "bench_reports.py", "command": command_line(), "figures": figures, "notes": []}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
