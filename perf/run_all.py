"""Run every agegate benchmark in one go and write perf/RESULTS.md (`make bench`).

Each benchmark is its own script run in its own process (so one's imports, caches and
garbage cannot colour another's numbers); each writes a JSON document of figures, which
this script renders as one table: every figure beside its ceiling, the ratio, the target
and PASS/MISS. Text after the `<!-- profiles -->` marker in an existing RESULTS.md (hand
written profile notes) is kept.

    .venv-perf/bin/python perf/run_all.py [--quick] [--only verifier,http,db,status,reports,webhooks,mixed,audit,export]

--quick shortens every run (smoke test of the harness; its numbers are not the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PERF, cpu_ticks, machine, machine_busy, postgres_version, versions  # noqa: E402
from loadgen import ensure_wrk  # noqa: E402

RESULTS = PERF / "RESULTS.md"
MARKER = "<!-- profiles -->"

# name -> (script, full arguments, quick arguments, timeout seconds)
BENCHES: dict[str, tuple[str, list[str], list[str], int]] = {
    "verifier": ("bench_verifier.py", ["--rounds", "7"], ["--rounds", "5", "--tokens", "500", "--repeat-calls", "20000"], 300),
    "http": ("bench_http.py", ["--rounds", "7", "--duration", "4"],
             ["--rounds", "5", "--duration", "1", "--subjects", "20", "--verify-tokens", "40"], 600),
    "db": ("bench_db.py", ["--rounds", "7", "--duration", "4"], ["--rounds", "5", "--duration", "1", "--families", "4"], 600),
    "status": ("bench_status_list.py", ["--rounds", "7"], ["--rounds", "5", "--entries", "100000"], 300),
    "reports": ("bench_reports.py", ["--rounds", "3"], ["--rounds", "1", "--subjects", "20000", "--events", "20000"], 3600),
    "webhooks": ("bench_webhooks.py", ["--duration", "30"], ["--duration", "3", "--backlog", "500", "--families", "10"], 900),
    "mixed": ("bench_mixed.py", ["--duration", "300"], ["--duration", "30", "--warmup", "10", "--users", "12", "--sample-every", "5", "--drain", "60"], 900),
}
AUDIT = PERF / "bench_audit_verify.py"
EXPORT = PERF / "bench_audit_export.py"
QUIET = 0.20  # machine busy fraction below which a benchmark may start


class ForeignLoad:
    """CPU used on the machine by anything but this script and its children, while a
    benchmark runs: other people's tests on a shared box, and Postgres (ours included)."""

    def __enter__(self) -> ForeignLoad:
        waited = 0.0
        self.before = machine_busy(1.0)
        while self.before > QUIET and waited < 60:  # bounded wait for a quiet machine
            waited += 5
            time.sleep(4)
            self.before = machine_busy(1.0)
        self.waited = waited
        self.ticks0 = cpu_ticks()
        self.ours0 = _own_cpu()
        self.wall0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        busy1, total1 = cpu_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        busy = (busy1 - self.ticks0[0]) / hz
        ours = _own_cpu() - self.ours0
        wall = time.monotonic() - self.wall0
        cores = os.cpu_count() or 1
        self.foreign = max(0.0, busy - ours) / (wall * cores) if wall else 0.0
        self.ours = ours / (wall * cores) if wall else 0.0

    def text(self) -> str:
        wait = f" after waiting {self.waited:.0f} s for it to quieten" if self.waited else ""
        return (f"machine busy {self.before:.0%} before start{wait}; during the run the benchmark's own "
                f"processes used {self.ours:.0%} of the cores and everything else (Postgres included) "
                f"{self.foreign:.0%}")


def _own_cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def say(message: str) -> None:
    print(f"[run_all {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_script(name: str, script: str, args: list[str], timeout: int, workdir: Path) -> dict:  # type: ignore[type-arg]
    out = workdir / f"{name}.json"
    cmd = [sys.executable, str(PERF / script), *args, "--json", str(out), "--logdir", str(workdir)]
    if name == "verifier":
        cmd.remove("--logdir")
        cmd.remove(str(workdir))
    shown = " ".join(["python", f"perf/{script}", *args])
    say(f"{name}: {shown}")
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, timeout=timeout, stdout=sys.stdout, stderr=sys.stderr)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    elapsed = time.monotonic() - started
    if code != 0 or not out.exists():
        say(f"{name}: FAILED ({code}) after {elapsed:.0f} s")
        return {"script": script, "command": shown, "error": f"exit {code} after {elapsed:.0f} s; see the console log",
                "figures": [], "notes": []}
    document = json.loads(out.read_text())
    document["command"] = shown
    document["seconds"] = round(elapsed)
    say(f"{name}: done in {elapsed:.0f} s")
    return document  # type: ignore[no-any-return]


def _audit_once(events: int, timeout: int) -> tuple[float | None, float | None, str]:
    proc = subprocess.run([sys.executable, str(AUDIT), "--events", str(events)], timeout=timeout,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-500:])
    row = proc.stdout.strip().splitlines()[-1]
    rate = re.search(r"=\s*([\d,]+) events/s", row)
    rss = re.search(r"peak RSS (\d+) MB", row)
    total = float(rss.group(1)) if rss else None
    return (float(rate.group(1).replace(",", "")) if rate else None, total, row)


def run_audit(quick: bool, timeout: int = 900) -> dict:  # type: ignore[type-arg]
    """perf/bench_audit_verify.py prints one markdown row per run (`agegate-verify log` in a child); parse it.

    Rate: median of 5 runs at 200,000 events, then one run at 1,000,000 for the peak RSS
    (and its own rate), which keeps the whole `make bench` within its time budget.
    """
    small, large = (5_000, 20_000) if quick else (200_000, 1_000_000)
    shown = f"python perf/bench_audit_verify.py --events {small} (x5), then --events {large}"
    say(f"audit: {shown}")
    started = time.monotonic()
    try:
        rates, rows = [], []
        for _ in range(5):
            rate, _, row = _audit_once(small, timeout)
            rates.append(rate or 0.0)
            rows.append(row)
        big_rate, big_rss, row = _audit_once(large, timeout)
        rows.append(row)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return {"script": AUDIT.name, "command": shown, "error": str(error)[:300], "figures": [], "notes": []}
    rate = statistics.median(rates)
    figures = [
        _figure(f"`agegate-verify log` (offline), {small:,}-event exports", rate, "events/s",
                ">= 60,000 events/s", rate >= 60_000, runs=rates),
    ]
    if big_rate is not None:
        figures.append(_figure(f"`agegate-verify log` (offline), {large:,} events", big_rate, "events/s",
                               ">= 60,000 events/s", big_rate >= 60_000, "one run"))
    if big_rss is not None:
        figures.append(_figure(f"`agegate-verify log` peak RSS, {large:,} events", big_rss, "MB", "<= 150 MB",
                               big_rss <= 150, "ru_maxrss of the verifying child process; one run"))
    return {"script": AUDIT.name, "command": shown, "figures": figures, "notes": rows,
            "seconds": round(time.monotonic() - started)}


def run_export(quick: bool, timeout: int = 900) -> dict:  # type: ignore[type-arg]
    """perf/bench_audit_export.py (another engineer's): export over HTTP then `agegate audit
    verify` on the file, one run at 1,000,000 events; parse its markdown table."""
    events = 20_000 if quick else 1_000_000
    shown = f"python perf/bench_audit_export.py --events {events}"
    say(f"export: {shown}")
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, str(EXPORT), "--events", str(events)], timeout=timeout,
                              capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return {"script": EXPORT.name, "command": shown, "error": "timeout", "figures": [], "notes": []}
    if proc.returncode != 0:
        return {"script": EXPORT.name, "command": shown, "error": proc.stderr.strip()[-300:], "figures": [], "notes": []}
    figures, notes = [], []
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or not (cells[0].startswith("GET /v1/audit") or cells[0].startswith("agegate audit verify")):
            continue
        notes.append(line.strip())
        rate = float(cells[3].replace(",", ""))
        label = "consent-log export (HTTP, 1 worker)" if cells[0].startswith("GET") else "`agegate audit verify` CLI"
        figures.append(_figure(f"{label} end to end, {events:,} events", rate, "events/s", ">= 50,000 events/s",
                               rate >= 50_000, f"one run; {cells[4]}"))
        sizes = [float(x) for x in re.findall(r"(\d+) MB", cells[6].split("(idle")[0])]
        if sizes:
            peak = max(sizes)
            figures.append(_figure(f"{label} peak RSS, {events:,} events", peak, "MB", "<= 150 MB", peak <= 150,
                                   f"one run; {cells[6]}"))
    return {"script": EXPORT.name, "command": shown, "figures": figures, "notes": notes,
            "seconds": round(time.monotonic() - started)}


def _figure(name: str, value: float, unit: str, target: str, passed: bool, detail: str = "",
            runs: list[float] | None = None) -> dict:  # type: ignore[type-arg]
    return {"figure": name, "value": value, "unit": unit, "runs": runs or [value], "ceiling": None, "ceiling_name": "",
            "ceiling_runs": [], "ratio": None, "target": target, "status": "PASS" if passed else "MISS",
            "detail": detail}


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def render(documents: list[dict], started: datetime, elapsed: float, quick: bool, wrk: str | None) -> str:  # type: ignore[type-arg]
    info = machine()
    vers = versions("flask", "werkzeug", "gunicorn", "sqlalchemy", "psycopg", "cryptography", "joserfc",
                    "pyjwt", "locust", "pyinstrument")
    lines = [
        "# agegate performance results",
        "",
        "Written by `make bench` (`perf/run_all.py`); do not edit above the profiles marker.",
        "Every ratio is measured side by side in one run against a ceiling measured by the same",
        "script on the same machine; each figure is the median of the listed alternating runs.",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC, whole run {elapsed / 60:.1f} min" + (" — **--quick smoke run, not figures**" if quick else ""),
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; {info['os']}",
        f"- Python {info['python']}; " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"- PostgreSQL {postgres_version()} (local, 127.0.0.1, fsync on, synchronous_commit on)",
        "- load generator: " + (f"wrk {wrk}" if wrk else
            "**Python fallback (perf/loadgen.py)**, wrk missing or PERF_LOADGEN=python: it takes about one of "
            "the cores from the servers, which caps the trivial ceiling harder than the real endpoints, so "
            "HTTP ratios come out flattered (2026-11-27: tokens 0.42x and verify 0.83x with it, 0.16-0.22x "
            "and 0.61-0.67x with wrk); compare HTTP figures only within one generator"),
        "- command: `make bench` (= `.venv-perf/bin/python perf/run_all.py`)",
        "",
        "| figure | measured (median) | ceiling (median) | ratio | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for doc in documents:
        if doc.get("error"):
            lines.append(f"| {doc['script']} | ERROR: {doc['error']} | | | | ERROR |")
        for f in doc["figures"]:
            ceiling = f"{fmt(f['ceiling'])} ({f['ceiling_name']})" if f.get("ceiling") else "-"
            ratio = f"{f['ratio']:.2f}x" if f.get("ratio") is not None else "-"
            result = f"**{f['status']}**" if f["status"] == "MISS" else f["status"]
            lines.append(f"| {f['figure']} | {fmt(f['value'], f['unit'])} | {ceiling} | {ratio} | {f['target']} | {result} |")
    lines += [
        "",
        "How to run: `make bench` (creates `.venv-perf` with `pip install -e '.[perf]'`, needs a local",
        "PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres`, installs `wrk` with apt-get when",
        "root and it is missing, else uses the Python load generator). One benchmark:",
        "`.venv-perf/bin/python perf/run_all.py --only http --results /tmp/http.md` (verifier, http, db, status,",
        "reports, webhooks, mixed, audit, export; `--only` writes only the chosen rows, so give `--results` unless",
        "the file is to be replaced); `--quick` is a smoke test. The 5-minute mixed run (issue 17: the four",
        "kinds of caller, webhooks delivered by `agegate worker`, memory, descriptors and Postgres connections",
        "sampled every 10 s, after a 1-minute warm-up of the same load that fills the bounded caches) in one",
        "command: `.venv-perf/bin/python perf/run_all.py --only mixed --results FILE` (about 8 minutes).",
        "Mixed load on a running service:",
        "`.venv-perf/bin/locust -f perf/locustfile.py --headless -u 16 -r 4 -t 30s --host http://127.0.0.1:8000`",
        "(with the service's AGEGATE_DATABASE_URL and AGEGATE_KEK in the environment, so it can create",
        "its clients). Profiles: `.venv-perf/bin/pip install py-spy` then",
        "`.venv-perf/bin/python perf/profile_endpoint.py consents`.",
        "",
        "## Runs, commands, notes",
        "",
    ]
    for doc in documents:
        lines.append(f"### {doc['script']}")
        lines.append("")
        lines.append(f"`{doc['command']}`" + (f" ({doc['seconds']} s)" if "seconds" in doc else ""))
        lines.append("")
        for f in doc["figures"]:
            runs = ", ".join(fmt(r) for r in f.get("runs", []))
            lines.append(f"- {f['figure']}: runs [{runs}] {f['unit']}")
            if f.get("ceiling_runs"):
                lines.append(f"  - ceiling runs [{', '.join(fmt(r) for r in f['ceiling_runs'])}]")
            if f.get("detail"):
                lines.append(f"  - {f['detail']}")
        if doc.get("load"):
            lines.append(f"- load: {doc['load']}")
        for note in doc.get("notes", []):
            lines.append(f"- note: {note}")
        if doc.get("runs_note"):
            lines.append(f"- note: {doc['runs_note']}")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join([*BENCHES, "audit", "export"]))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n] or [*BENCHES, "audit", "export"]

    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    wrk = ensure_wrk(say)
    pg = postgres_version()
    if pg.startswith("unavailable"):
        say(f"PostgreSQL at 127.0.0.1:5432 is {pg}: the HTTP and database benchmarks will fail "
            "(set PERF_PG_ADMIN_URL to reach another local cluster)")
    documents = []
    workdir = Path(tempfile.mkdtemp(prefix="agegate-bench-"))
    try:
        for name in chosen:
            with ForeignLoad() as load:
                if name == "audit":
                    if not AUDIT.exists():
                        say("audit: perf/bench_audit_verify.py not present, skipped")
                        continue
                    document = run_audit(args.quick)
                elif name == "export":
                    if not EXPORT.exists():
                        say("export: perf/bench_audit_export.py not present, skipped")
                        continue
                    document = run_export(args.quick)
                else:
                    script, full, quick, timeout = BENCHES[name]
                    document = run_script(name, script, quick if args.quick else full, timeout, workdir)
            document["load"] = load.text()
            say(f"{name}: {document['load']}")
            documents.append(document)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    text = render(documents, started_at, elapsed, args.quick, wrk)
    previous = args.results.read_text(encoding="utf-8") if args.results.exists() else ""
    kept = previous.split(MARKER, 1)[1] if MARKER in previous else "\n\n## Profiles\n\n(none recorded yet)\n"
    args.results.write_text(text + "\n" + MARKER + kept, encoding="utf-8")
    say(f"wrote {args.results} in {elapsed / 60:.1f} min")
    misses = sum(f["status"] == "MISS" for d in documents for f in d["figures"])
    errors = sum(bool(d.get("error")) for d in documents)
    say(f"{misses} MISS, {errors} ERROR")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
