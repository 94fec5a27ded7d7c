"""Mixed load for minutes (issue 17 item 4): every kind of caller at once, webhooks on, and
whether anything grows that should not.

A fresh Postgres database, migrated with `agegate db upgrade`; clients made with `agegate
clients create` (an app backend, a persona service, a regulator); gunicorn with the project's
gunicorn.conf.py and its production defaults (gevent, one worker per core); `agegate worker`
delivering to perf/webhook_receiver.py (its own process), subscribed by the app to every
event type. Then locust runs perf/locustfile.py headless for --duration seconds (app
backends, persona services online and offline, guardians on the hosted pages, a regulator),
while every --sample-every seconds this script reads the resident memory and open file
descriptors of the gunicorn master, each gunicorn worker and the `agegate worker`, and the
connections Postgres holds for the database (pg_stat_activity). After the load the worker
gets up to --drain seconds to deliver what is still owed.

The load runs --warmup seconds before the --duration measured: a new worker fills bounded
caches in its first minute (SQLAlchemy's compiled statements, the offline verifiers' token
caches, the status lists' revoked sets, psycopg's buffers; traced with tracemalloc, see
perf/RESULTS.md), and comparing that minute with the last would count filling a cache as
growth. Requests and failures count the warm-up too; only the windows compared start after it.

Figures (PASS/MISS): failures (0); the means over the last minute against the first after the
warm-up of the resident memory of each process, of the Postgres connections and of the open
descriptors of all the processes together (each <= +10%); webhook deliveries (every event the
tenant's log gained, delivered by the end); and, for the record, requests per second by caller
kind with p50/p99. "Minute" is min(60 s, duration / 5), so a short trial compares its first and
last fifths.

    python perf/bench_mixed.py [--duration 300] [--warmup 60] [--users 32] [--json OUT] [--logdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import APP_SCOPES, AUDIENCE, PERSONA_SCOPES, BenchService  # noqa: E402
from harness import (  # noqa: E402
    BIN,
    PERF,
    PG_ADMIN_URL,
    agegate,
    command_line,
    create_client,
    database_name,
    emit,
    figure,
    free_port,
    http_json,
    access_token,
    log,
)

from service.events.payloads import SUBSCRIBABLE_TYPES  # noqa: E402

KINDS = ("app", "persona", "guardian", "regulator")


# --------------------------------------------------------------------------- sampling


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Sampler(threading.Thread):
    """Every `every` seconds: RSS and open fds of each process, Postgres connections."""

    def __init__(self, every: float, processes: Any, database: str) -> None:
        super().__init__(daemon=True)
        self.every, self.processes, self.database = every, processes, database
        self.samples: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.stopped = threading.Event()

    def run(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            while True:
                at = time.monotonic() - self.started
                sample: dict[str, Any] = {"t": round(at, 1), "processes": {}}
                for role, pid in self.processes().items():
                    sample["processes"][role] = {"pid": pid, "rss_kb": _status_kb(pid, "VmRSS"), "fds": _fds(pid)}
                rows = conn.execute("SELECT state, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY state",
                                    (self.database,)).fetchall()
                sample["pg"] = {str(state): int(n) for state, n in rows}
                sample["pg_total"] = sum(sample["pg"].values())
                # the open transactions, oldest first: what they wait on and their statement's start
                # (the service binds parameters, so the text holds no values)
                open_ = conn.execute(
                    "SELECT extract(epoch FROM now() - xact_start), state, coalesce(wait_event_type || ':' || wait_event, ''), "
                    "left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_activity "
                    "WHERE datname = %s AND state <> 'idle' AND xact_start IS NOT NULL ORDER BY xact_start LIMIT 3",
                    (self.database,)).fetchall()
                sample["oldest_xact_s"] = round(float(open_[0][0]), 2) if open_ else 0.0
                sample["oldest"] = [f"{age:.1f} s {state} {wait} {query}" for age, state, wait, query in open_]
                sample["waiting_on_locks"] = int(conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                    (self.database,)).fetchone()[0])
                self.samples.append(sample)
                if self.stopped.wait(max(0.0, self.every - (time.monotonic() - self.started - at))):
                    return


def _window(samples: list[dict[str, Any]], start: float, end: float) -> list[dict[str, Any]]:
    return [s for s in samples if start <= s["t"] <= end]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# --------------------------------------------------------------------------- the run


def percentile(histogram: dict[str, int], q: float) -> float:
    """From locust's histogram (rounded ms -> count)."""
    points = sorted((float(k), n) for k, n in histogram.items())
    total = sum(n for _, n in points)
    if not total:
        return float("nan")
    seen = 0
    for value, n in points:
        seen += n
        if seen >= q * total:
            return value
    return points[-1][0]


def delivered(arrivals: Path, tenant: str, after_seq: int) -> tuple[int, int]:
    """(distinct events of `tenant` past `after_seq` received, deliveries received in all)."""
    seen, lines = set(), 0
    for line in arrivals.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == tenant and int(fields[2]) > after_seq:
            seen.add(int(fields[2]))
            lines += 1
    return len(seen), lines


def produced(conn: Any, tenant: str, after_seq: int) -> int:
    row = conn.execute("SELECT count(*) FROM consent_log WHERE tenant = %s AND seq > %s", (tenant, after_seq)).fetchone()
    return int(row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=300, help="seconds of locust load")
    parser.add_argument("--warmup", type=int, default=60,
                        help="seconds of load before the measured --duration (caches fill; see the module doc)")
    parser.add_argument("--users", type=int, default=32, help="locust users (weights in perf/locustfile.py)")
    parser.add_argument("--spawn-rate", type=float, default=32.0, help="users started per second")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--drain", type=float, default=180.0, help="seconds the worker gets after the load")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="gunicorn workers (production default: one per core)")
    parser.add_argument("--database", default="agegate_bench_mixed")
    parser.add_argument("--tenant", default="t-mixed")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logdir", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-mixed-")))
    args = parser.parse_args()
    args.logdir.mkdir(parents=True, exist_ok=True)
    window = min(60.0, args.duration / 5)

    arrivals = args.logdir / "arrivals.txt"
    arrivals.write_text("")
    receiver_port = free_port()
    receiver = subprocess.Popen([sys.executable, str(PERF / "webhook_receiver.py"), str(receiver_port), str(arrivals)])
    worker: subprocess.Popen[bytes] | None = None
    try:
        with BenchService(args.database, args.logdir, workers=args.workers, keep_db=args.keep_db) as svc:
            assert svc.server is not None and svc.server.proc is not None
            env = svc.env
            app = create_client(env, args.tenant, "mixed-app", APP_SCOPES + " webhooks:manage")
            persona = create_client(env, args.tenant, "mixed-persona", PERSONA_SCOPES, AUDIENCE)
            regulator = json.loads(agegate(env, "clients", "create", "--regulator", "--name", "mixed-regulator",
                                           "--json").strip().splitlines()[-1])
            bearer = {"Authorization": f"Bearer {access_token(svc.base, app)}"}
            subscription = http_json("POST", svc.base + "/v1/webhooks", {
                "url": f"http://127.0.0.1:{receiver_port}/hooks", "events": list(SUBSCRIBABLE_TYPES)}, bearer)
            db = psycopg.connect(env["AGEGATE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://"),
                                 autocommit=True)
            cursor0 = int(db.execute("SELECT cursor_seq FROM webhook_subscriptions WHERE id = %s",
                                     (subscription["id"],)).fetchone()[0])

            with (args.logdir / "worker.log").open("wb") as worker_log:
                worker = subprocess.Popen([str(BIN / "agegate"), "worker"], env=env, stdout=worker_log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            time.sleep(3)  # imported and through its first turn before the load and the samples begin
            master = svc.server.proc.pid
            first_workers = sorted(svc.server.worker_pids())
            restarts: list[str] = []

            def processes() -> dict[str, int]:
                now = sorted(svc.server.worker_pids())  # type: ignore[union-attr]
                for pid in now:
                    if pid not in first_workers and f"{pid}" not in restarts:
                        restarts.append(f"{pid}")
                roles = {"gunicorn master": master}
                roles.update({f"gunicorn worker {n + 1}": pid for n, pid in enumerate(now)})
                roles["agegate worker"] = worker.pid  # type: ignore[union-attr]
                return roles

            summary_path = args.logdir / "locust-summary.json"
            locust_env = {
                **env,
                "AGEGATE_BENCH_TENANT": args.tenant,
                "AGEGATE_BENCH_APP": json.dumps(app),
                "AGEGATE_BENCH_PERSONA": json.dumps(persona),
                "AGEGATE_BENCH_REGULATOR": json.dumps(regulator),
                "AGEGATE_BENCH_SUMMARY": str(summary_path),
            }
            command = [str(BIN / "locust"), "-f", str(PERF / "locustfile.py"), "--headless", "-u", str(args.users),
                       "-r", str(args.spawn_rate), "-t", f"{args.warmup + args.duration}s", "--host", svc.base, "--only-summary",
                       "--stop-timeout", "10", "--loglevel", "WARNING"]
            log(f"locust: {args.users} users for {args.warmup} s of warm-up and {args.duration} s against {svc.base}; worker delivering to "
                f"127.0.0.1:{receiver_port}")
            sampler = Sampler(args.sample_every, processes, database_name(args.database))
            with (args.logdir / "locust.log").open("wb") as locust_log:
                sampler.start()
                load = subprocess.Popen(command, cwd=PERF.parent, env=locust_env, stdout=locust_log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    load.wait(args.warmup + args.duration + 120)
                except subprocess.TimeoutExpired:
                    load.send_signal(signal.SIGINT)
                    load.wait(30)
                load_seconds = time.monotonic() - sampler.started
            sampler.stopped.set()
            sampler.join(30)
            log(f"load over after {load_seconds:.0f} s; draining webhooks (up to {args.drain:.0f} s)")

            drain_started = time.monotonic()
            owed = produced(db, args.tenant, cursor0)
            got, _ = delivered(arrivals, args.tenant, cursor0)
            while got < owed and time.monotonic() - drain_started < args.drain:
                time.sleep(1)
                owed = produced(db, args.tenant, cursor0)
                got, _ = delivered(arrivals, args.tenant, cursor0)
            drain_seconds = time.monotonic() - drain_started
            got, lines = delivered(arrivals, args.tenant, cursor0)
            states = dict(db.execute("SELECT state, count(*) FROM webhook_deliveries GROUP BY state").fetchall())
            db.close()
            worker.terminate()
            worker.wait(30)
            gunicorn_log = svc.server.log_tail(40)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        receiver.terminate()
        receiver.wait(10)

    if not summary_path.exists():
        raise SystemExit(f"locust wrote no summary; see {args.logdir / 'locust.log'}")
    summary = json.loads(summary_path.read_text())
    figures, notes = report(args, summary, sampler.samples, window, load_seconds, restarts,
                            (owed, got, lines, drain_seconds, states))
    if restarts:
        notes.append(f"gunicorn replaced workers during the run (new pids {', '.join(restarts)}); log tail: "
                     + gunicorn_log[-600:])
    notes.append(f"samples (t s: pg connections / rss MB per process): " + "; ".join(
        f"{s['t']:.0f}: {s['pg_total']} / " + ",".join(f"{p['rss_kb'] / 1024:.0f}" for p in s["processes"].values()
                                                      if p["rss_kb"])
        for s in sampler.samples))
    if sampler.samples:
        worst = max(sampler.samples, key=lambda s: s["oldest_xact_s"])
        notes.append(f"open transactions at the sample with the oldest (t {worst['t']:.0f} s): " + " | ".join(worst["oldest"]))
    (args.logdir / "samples.json").write_text(json.dumps(sampler.samples, indent=1))
    emit({"script": "bench_mixed.py", "command": command_line(), "figures": figures, "notes": notes}, args.json)
    return 0


def report(args: Any, summary: dict[str, Any], samples: list[dict[str, Any]], window: float, load_seconds: float,
           restarts: list[str], webhooks: tuple[int, int, int, float, dict[str, int]]) -> tuple[list[dict], list[str]]:  # type: ignore[type-arg]
    kinds = summary["kinds"]
    span = max(1e-9, (summary["last_request"] or 0) - (summary["start"] or 0))
    http = {k: v for k, v in kinds.items() if k not in ("offline", "check")}
    requests = sum(v["requests"] for v in http.values())
    failures = sum(v["failures"] for v in kinds.values())
    merged: dict[str, int] = {}
    for v in http.values():
        for ms, n in v["response_times"].items():
            merged[ms] = merged.get(ms, 0) + n
    by_kind = "; ".join(
        f"{k} {kinds[k]['requests'] / span:.1f} req/s (p50 {percentile(kinds[k]['response_times'], 0.5):.0f} ms, "
        f"p99 {percentile(kinds[k]['response_times'], 0.99):.0f} ms, {kinds[k]['failures']} failed)"
        for k in KINDS if k in kinds)
    offline = kinds.get("offline", {"requests": 0, "failures": 0})
    p50, p99 = percentile(merged, 0.5), percentile(merged, 0.99)
    errors = "; ".join(f"{e['occurrences']}x {e['method']} {e['name']}: {e['error'][:160]}" for e in summary["errors"][:8])
    label = f"mixed load {args.duration} s (after {args.warmup} s warm-up), {args.users} users"
    figures = [
        figure(f"{label}: HTTP requests/s, all four caller kinds", value=requests / span, unit="req/s",
               runs=[requests / span], target="recorded (p50/p99 and by kind in the notes)", passed=None,
               detail=f"{requests:,} HTTP requests in {span:.0f} s, p50 {p50:.0f} ms, p99 {p99:.0f} ms; {by_kind}; "
                      f"offline verifications (agegate_verifier, in locust) {offline['requests']:,} "
                      f"({offline['requests'] / span:.0f}/s)"),
        figure(f"{label}: failures", value=failures, unit="failures", runs=[failures], target="0",
               passed=failures == 0, detail=errors or "none"),
    ]

    # whole 10-second buckets only: the first and the last are cut by the start and the stop
    warm = (summary["start"] or 0) + args.warmup
    full = [t for t in sorted({b[0] for b in summary.get("buckets", [])})[1:-1] if t >= warm]
    if full:
        count = max(1, min(len(full) // 2, int(window // 10)))

        def rate(times: list[int]) -> float:
            n = sum(b[2] for b in summary["buckets"] if b[0] in times and b[1] in KINDS)
            return n / (10 * len(times))

        figures[0]["detail"] += (f"; HTTP req/s in the first whole {count * 10} s after the warm-up {rate(full[:count]):.1f}, "
                                 f"in the last {rate(full[-count:]):.1f}")

    start_window = _window(samples, args.warmup + 0.5, args.warmup + window)
    end_window = _window(samples, load_seconds - window, load_seconds)
    growth_rows, fd_rows, worst, fds_first, fds_last = [], [], float("-inf"), 0.0, 0.0
    roles = list(samples[0]["processes"]) if samples else []
    for role in roles:
        def series(window_samples: list[dict[str, Any]], field: str) -> list[float]:
            return [s["processes"][role][field] for s in window_samples if s["processes"].get(role, {}).get(field)]

        first, last = series(start_window, "rss_kb"), series(end_window, "rss_kb")
        growth = _mean(last) / _mean(first) - 1 if first and last else float("inf")
        worst = max(worst, growth)
        growth_rows.append(f"{role} {_mean(first) / 1024:.1f} -> {_mean(last) / 1024:.1f} MB ({growth:+.1%})")
        fd_first, fd_last = _mean(series(start_window, "fds")), _mean(series(end_window, "fds"))
        fds_first, fds_last = fds_first + fd_first, fds_last + fd_last
        fd_rows.append(f"{role} {fd_first:.0f} -> {fd_last:.0f}")
    fd_growth = fds_last / fds_first - 1 if fds_first else float("inf")
    minute = f"{window:.0f} s"
    figures.append(figure(
        f"{label}: resident memory, last {minute} vs first {minute}, worst process", value=worst * 100, unit="%",
        runs=[worst * 100], target="<= +10% for every process", passed=bool(roles) and worst <= 0.10 and not restarts,
        detail="mean VmRSS per window: " + "; ".join(growth_rows) + (f"; WORKERS REPLACED: {restarts}" if restarts else "")))
    pg_first = [s["pg_total"] for s in start_window]
    pg_last = [s["pg_total"] for s in end_window]
    figures.append(figure(
        f"{label}: Postgres connections, last {minute} vs first {minute}", value=_mean(pg_last),
        unit="connections (mean)", runs=pg_last, ceiling=_mean(pg_first) or None, ceiling_name="first window's mean",
        target="not growing: <= +10% on the first window", passed=bool(pg_first and pg_last) and _mean(pg_last) <= 1.10 * _mean(pg_first),
        detail=f"pg_stat_activity for {database_name(args.database)}: first window {pg_first} (mean {_mean(pg_first):.1f}), "
               f"last window {pg_last} (mean {_mean(pg_last):.1f}); by state at the end "
               f"{samples[-1]['pg'] if samples else {}}; longest open transaction seen at a sample "
               f"{max((s['oldest_xact_s'] for s in samples), default=0):.2f} s, most backends waiting on a lock "
               f"{max((s['waiting_on_locks'] for s in samples), default=0)}"))
    figures.append(figure(
        f"{label}: open file descriptors of all its processes, last {minute} vs first {minute}", value=fds_last,
        unit="descriptors (mean)", runs=[fds_last], ceiling=fds_first or None, ceiling_name="first window's mean",
        target="not growing: <= +10% on the first window", passed=bool(roles) and fd_growth <= 0.10,
        detail="summed over the processes, as client connections move between workers; mean per process: "
               + "; ".join(fd_rows)))
    owed, got, lines, drain_seconds, states = webhooks
    figures.append(figure(
        f"{label}: webhook events delivered by the end", value=got, unit="events", runs=[got], ceiling=owed or None,
        ceiling_name="events the tenant's log gained", target="all (receiver has every seq)", passed=got == owed,
        detail=f"{owed:,} events logged, {got:,} distinct received ({lines:,} deliveries, {lines - got} repeated); "
               f"drain after the load {drain_seconds:.0f} s; delivery rows by state {states}"))
    notes = [
        "gunicorn with gunicorn.conf.py and its production defaults (gevent, "
        f"{args.workers} workers), `agegate worker` with its defaults, receiver, locust and Postgres share the machine; "
        f"{args.warmup} s of the same load before the measured {args.duration} s (caches fill), counted in requests "
        "and failures, not in the windows compared",
        f"windows of {minute}, samples every {args.sample_every:.0f} s; failures include validation failures of "
        "answers (wrong shape, wrong redirect), not only HTTP errors",
    ]
    return figures, notes


if __name__ == "__main__":
    sys.exit(main())
