"""Webhook delivery under consent load (issue 11): event -> delivered latency and delivery
throughput while the service takes consent changes at a fixed rate.

gunicorn serves the API on a fresh Postgres database; `agegate worker` runs beside it as in
production; a receiver on loopback (its own process) records each delivery's arrival. A
paced load generator grants consents over HTTP at `--rate` per second across `--tenants`
tenants for `--duration` seconds (each grant is one consent-log event, delivered to one
subscription per tenant). Latency is arrival minus the event's `recorded_at` (stamped inside
the writing transaction, so it includes the commit); delivery throughput is deliveries per
second over the load window, reported against the consent write rate achieved in the same run.

    python perf/bench_webhooks.py [--rate 200] [--duration 30] [--json OUT] [--logdir DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import APP_SCOPES, BenchService, consent_body, seed_families  # noqa: E402
from harness import BIN, PERF, command_line, emit, figure, free_port, http_json, log  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def paced_grants(base: str, plan: list[tuple[dict[str, str], str]], rate: float, threads: int) -> tuple[float, int]:
    """POST each planned grant at its slot (start + i/rate); returns (seconds, failures)."""
    port = int(base.rsplit(":", 1)[1])
    start = time.monotonic() + 0.2
    failures = 0
    lock = threading.Lock()

    def run(offset: int) -> None:
        nonlocal failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(offset, len(plan), threads):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            headers, body = plan[i]
            conn.request("POST", "/v1/consents", body=body, headers={**headers, "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                with lock:
                    failures += 1
        conn.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.monotonic() - start, failures


def count_lines(path: Path) -> int:
    with path.open() as f:
        return sum(1 for _ in f)


def wait_for_lines(path: Path, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while count_lines(path) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def log_backlog(database_url: str, tenant: str, count: int) -> None:
    """Append `count` granted-shaped events to the tenant's log, 500 per transaction."""
    from dataclasses import dataclass
    from datetime import timezone

    from service import events
    from service.store import audit_log
    from service.store.db import make_engine, make_sessionmaker
    from service.store.transactions import run_in_transaction

    @dataclass(frozen=True)
    class Facts:
        consent_id: str
        tenant: str
        child_ref: str = "backlog-kid"
        guardian_ref: str = "backlog-parent"
        relationship: str = "parent"
        scopes: str = "pi_processing"
        method: str = "bench"
        evidence_ref: str = "ev"
        notice_version: str = "v3"
        policy: str = "bench"

    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    for first in range(0, count, 500):
        now = datetime.now(timezone.utc)
        batch = [events.granted(Facts(f"backlog-{n}", tenant), occurred_at=now, client_id=None) for n in range(first, min(count, first + 500))]
        run_in_transaction(sessions, lambda session, batch=batch, now=now: audit_log.append(session, tenant, batch, now))
    engine.dispose()
    log(f"{count} events logged for {tenant} with no worker running")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="consent changes per second")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--families", type=int, default=100, help="child/guardian pairs per tenant")
    parser.add_argument("--concurrency", type=int, default=16, help="agegate worker --concurrency")
    parser.add_argument("--threads", type=int, default=16, help="load generator connections")
    parser.add_argument("--backlog", type=int, default=5000, help="events logged while no worker runs, then drained")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logdir", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-webhooks-")))
    args = parser.parse_args()
    args.logdir.mkdir(parents=True, exist_ok=True)

    arrivals_path = args.logdir / "arrivals.txt"
    arrivals_path.write_text("")
    receiver_port = free_port()
    receiver = subprocess.Popen([sys.executable, str(PERF / "webhook_receiver.py"), str(receiver_port), str(arrivals_path)])
    with BenchService("agegate_bench_webhooks", args.logdir, workers=2) as svc:
        plan: list[tuple[dict[str, str], str]] = []
        tenants = []
        for t in range(args.tenants):
            tenant = f"t-hooks-{t}"
            app = svc.client(tenant, "app", APP_SCOPES + " webhooks:manage")
            http_json("POST", svc.base + "/v1/webhooks", {"url": f"http://127.0.0.1:{receiver_port}/hooks", "events": ["consent.granted"]}, app)
            tenants.append((app, seed_families(svc, app, f"h{t}", args.families)))
        total = int(args.rate * args.duration)
        for n in range(total):
            app, families = tenants[n % len(tenants)]
            child, guardian = families[(n // len(tenants)) % len(families)]
            plan.append((app, consent_body(child, guardian, str(n))))
        with (args.logdir / "worker.log").open("w") as worker_log:
            worker = subprocess.Popen([str(BIN / "agegate"), "worker", "--concurrency", str(args.concurrency)],
                                      env=svc.env, stdout=worker_log, stderr=subprocess.STDOUT)
        try:
            time.sleep(1.5)  # the worker's first turn
            log(f"granting {total} consents at {args.rate:.0f}/s over {args.tenants} tenants")
            seconds, failures = paced_grants(svc.base, plan, args.rate, args.threads)
            written = total - failures
            wait_for_lines(arrivals_path, written, 120)
        finally:
            worker.terminate()
            worker.wait(30)
        # Phase 2, the worker's own ceiling: a backlog logged while no worker ran, then drained.
        log_backlog(svc.env["AGEGATE_DATABASE_URL"], "t-hooks-0", args.backlog)
        before = count_lines(arrivals_path)
        with (args.logdir / "worker-drain.log").open("w") as worker_log:
            drain_started = time.monotonic()
            worker = subprocess.Popen([str(BIN / "agegate"), "worker", "--concurrency", str(args.concurrency)],
                                      env=svc.env, stdout=worker_log, stderr=subprocess.STDOUT)
        try:
            wait_for_lines(arrivals_path, before + args.backlog, 300)
            drain_seconds = time.monotonic() - drain_started
        finally:
            worker.terminate()
            worker.wait(30)
            receiver.terminate()
            receiver.wait(10)

    rows = [line.split() for line in arrivals_path.read_text().splitlines()][:before]
    latencies = [float(r[0]) - datetime.fromisoformat(r[3].replace("Z", "+00:00")).timestamp() for r in rows]
    distinct = {(r[1], r[2]) for r in rows}
    arrived = sorted(float(r[0]) for r in rows)
    write_rate = written / seconds
    span = (arrived[-1] - arrived[0]) if len(arrived) > 1 else float("nan")
    delivery_rate = len(rows) / span if span else float("nan")
    p50, p99, worst = percentile(latencies, 0.50), percentile(latencies, 0.99), max(latencies, default=float("nan"))
    detail = (f"{written} consents granted in {seconds:.1f} s ({failures} failed), {len(rows)} deliveries "
              f"({len(distinct)} distinct events) in {span:.1f} s; latency p50 {p50 * 1000:.0f} ms, "
              f"max {worst * 1000:.0f} ms; worker --concurrency {args.concurrency}, gunicorn 2 sync workers")
    log(detail)
    figures = [
        figure(f"webhook event -> delivered p99 latency at {args.rate:.0f} consent changes/s", value=p99, unit="s",
               runs=[p99], target="<= 2 s", passed=p99 <= 2.0, detail=detail),
        figure(f"`agegate worker` draining a backlog of {args.backlog:,} events", value=args.backlog / drain_seconds,
               unit="deliveries/s", runs=[args.backlog / drain_seconds], target=f">= {0.5 * args.rate:.0f}/s (0.5x {args.rate:.0f} changes/s)",
               passed=args.backlog / drain_seconds >= 0.5 * args.rate,
               detail=f"worker started with {args.backlog} events owed; {drain_seconds:.1f} s until the last arrived (includes start-up)"),
        figure("webhook delivery throughput vs consent write rate, same run", value=delivery_rate, unit="deliveries/s",
               runs=[delivery_rate], ceiling=write_rate, ceiling_name="consent writes/s achieved in the run",
               ceiling_runs=[write_rate], target=">= 0.50x the write rate",
               passed=delivery_rate >= 0.5 * write_rate and len(distinct) == written),
    ]
    emit({"script": "bench_webhooks.py", "command": command_line(), "figures": figures, "notes": [
        "latency = receiver arrival - the event's recorded_at (set in the writing transaction); "
        "receiver, worker, gunicorn, Postgres and the load generator share the machine's cores"]}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
