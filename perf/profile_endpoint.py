"""Profile one endpoint under the benchmark's own load: py-spy on every gunicorn worker,
plus Postgres wait events sampled from pg_stat_activity, summarised as text.

    .venv-perf/bin/pip install py-spy      # not in the perf extra: a profiling-only tool
    .venv-perf/bin/python perf/profile_endpoint.py consents [--seconds 10]

Endpoints: tokens, verify, subjects, consents. Prints the functions with the most samples
(self and inclusive, idle time included so waits on locks and fsync show) and the wait
events of the service's Postgres sessions. Loopback only; bounded in time.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import APP_SCOPES, AUDIENCE, PERSONA_SCOPES, BenchService, consent_body, seed_families  # noqa: E402
from harness import BIN, log  # noqa: E402
from loadgen import ensure_wrk, run_load  # noqa: E402


def summarise(raw_files: list[Path], top: int, grep: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for path in raw_files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = stack.split(";")
            total += count
            self_counts[frames[-1]] += count
            for frame in set(frames):
                incl_counts[frame] += count
    out = [f"{total} samples (all workers, idle included)", "", "top self:"]
    out += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in self_counts.most_common(top)]
    out += ["", "top inclusive (agegate, sqlalchemy, psycopg, flask frames):"]
    interesting = [(f, n) for f, n in incl_counts.most_common() if any(
        key in f for key in ("service/", "sqlalchemy/", "psycopg/", "flask/", "marshmallow/", "rfc8785", "werkzeug/"))]
    out += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in interesting[:top]]
    out += ["", "agegate's own frames, inclusive (what each line of service/ costs, waits included):"]
    own = [(f, n) for f, n in incl_counts.most_common() if "/service/" in f or f.startswith("service/")
           or "(service/" in f or ("service" in f and ".py" in f and "site-packages" not in f)]
    out += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own[:top]]
    if grep:
        out += ["", "selected frames, inclusive:"]
        for word in grep:
            matched = [(f, n) for f, n in incl_counts.most_common() if word in f][:3]
            out += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in matched] or [f"    -    {word}: no samples"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", choices=["tokens", "verify", "subjects", "consents"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--grep", action="append", default=["do_ping", "_lock_head", "allocate_slot", "commit"],
                        help="also report the inclusive share of frames containing this text")
    args = parser.parse_args()

    pyspy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if pyspy is None:
        print("py-spy not found: .venv-perf/bin/pip install py-spy", file=sys.stderr)
        return 2
    wrk = ensure_wrk(log)
    tmp = Path(tempfile.mkdtemp(prefix="agegate-profile-"))
    with BenchService("agegate_profile", tmp) as svc:
        app = svc.client("t-prof", "app-backend", APP_SCOPES)
        headers = app
        path = {"tokens": "/v1/tokens", "verify": "/v1/tokens/verify", "subjects": "/v1/subjects",
                "consents": "/v1/consents"}[args.endpoint]
        if args.endpoint == "consents":
            bodies = [consent_body(c, g) for c, g in seed_families(svc, app, "p", 40)]
        elif args.endpoint == "subjects":
            bodies = ['{"subject_ref": "n-{n}", "evidence": {"method": "self_declared", "birth_date": "1990-05-05"}}']
        else:
            refs = [f"s-{i}" for i in range(100)]
            for i, ref in enumerate(refs):
                svc.register_self_declared(app, ref, ("2015-03-03", "2010-03-03", "1990-03-03", "1955-03-03")[i % 4])
            bodies = [json.dumps({"subject_ref": r, "audience": AUDIENCE, "ttl": 600}) for r in refs]
            if args.endpoint == "verify":
                headers = svc.client("t-prof", "persona", PERSONA_SCOPES, audience=AUDIENCE)
                bodies = [json.dumps({"token": svc.post("/v1/tokens", app, json.loads(b), 201)["token"],
                                      "feature": "companion"}) for b in bodies]
        svc.analyze()
        run_load(svc.base + path, bodies=bodies, headers=headers, duration=2, wrk=wrk)  # warm-up

        assert svc.server is not None
        raws = []
        spies = []
        for pid in svc.server.worker_pids():
            raw = tmp / f"worker-{pid}.txt"
            raws.append(raw)
            spies.append(subprocess.Popen([pyspy, "record", "--idle", "--format", "raw", "--rate", "250",
                                           "--duration", str(args.seconds + 1), "--pid", str(pid), "--output", str(raw)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        waits: collections.Counter[str] = collections.Counter()
        stop = threading.Event()

        def sample_waits() -> None:
            import psycopg

            dsn = svc.db_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, autocommit=True) as conn:
                deadline = time.monotonic() + args.seconds + 5
                while not stop.is_set() and time.monotonic() < deadline:
                    for state, kind, event in conn.execute(
                        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    ):
                        waits[f"{state}: {kind or 'CPU'}/{event or '-'}"] += 1
                    time.sleep(0.02)

        sampler = threading.Thread(target=sample_waits, daemon=True)
        sampler.start()
        result = run_load(svc.base + path, bodies=bodies, headers=headers, connections=args.connections,
                          duration=args.seconds, wrk=wrk)
        stop.set()
        sampler.join(10)
        for spy in spies:
            spy.wait(args.seconds + 30)
    print(f"# profile of POST {path}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms, "
          f"{result.bad_status} non-2xx, {args.connections} connections, {args.seconds} s")
    print("\n".join(summarise([r for r in raws if r.exists()], args.top, args.grep)))
    total = sum(waits.values()) or 1
    print("\nPostgres sessions of the service, sampled every 20 ms (state: wait type/event):")
    for key, n in waits.most_common(12):
        print(f"  {100 * n / total:5.1f}%  {key}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
