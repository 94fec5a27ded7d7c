"""Closed-loop HTTP load against loopback: wrk when installed, else a Python fallback.

`run_load()` keeps `connections` requests in flight for `duration` seconds and returns a
`LoadResult`. Bodies come from a list cycled per connection; "{n}" in a body becomes a
value unique to the run and request; a body "<Authorization value>\t<body>" carries its
own Authorization header (several tenants in one run). Only 127.0.0.1 / localhost URLs are accepted.

wrk (Debian package `wrk`) is preferred: in C it costs the 2-core machine little CPU, so
the server gets most of it. When it is missing, `ensure_wrk()` installs it with apt-get if
running as root, and otherwise the fallback runs: this same file as a separate process,
`connections` threads each looping over http.client. It is slower and takes CPU from the
server, but both sides of every ratio are measured with the same generator, and
RESULTS.md names the generator used.

    python perf/loadgen.py --url http://127.0.0.1:8000/echo --bodies FILE --connections 16 --duration 5

PERF_LOADGEN=python forces the fallback; PERF_NO_WRK_INSTALL=1 forbids the apt-get attempt.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk_request.lua"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    errors: int  # connect/read/write/timeout errors
    bad_status: int  # responses outside 2xx/3xx
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rps": round(self.rps, 1)}


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"refusing to load {host!r}: benchmarks only target loopback")


def ensure_wrk(log=print) -> str | None:  # type: ignore[no-untyped-def]
    """Return the wrk path; try `apt-get install -y wrk` once if absent and root; else None."""
    if os.environ.get("PERF_LOADGEN") == "python":
        log("load generator: PERF_LOADGEN=python -> Python fallback load generator")
        return None
    found = shutil.which("wrk")
    if found:
        return found
    if os.environ.get("PERF_NO_WRK_INSTALL") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        log("wrk: not installed (and not root) -> Python fallback load generator")
        return None
    log("wrk: not installed; trying `apt-get install -y wrk` (root) ...")
    try:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        try:
            subprocess.run(["apt-get", "update"], check=True, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as error:
            log(f"wrk: apt-get install failed ({type(error).__name__}) -> Python fallback load generator")
            return None
    found = shutil.which("wrk")
    log(f"wrk: installed at {found}" if found else "wrk: still missing -> Python fallback load generator")
    return found


def run_load(
    url: str,
    *,
    bodies: list[str],
    headers: dict[str, str] | None = None,
    method: str = "POST",
    connections: int = 16,
    duration: float = 5.0,
    wrk: str | None = None,
) -> LoadResult:
    """Run one closed-loop load of `duration` seconds; `wrk` is its path, None for the fallback."""
    check_loopback(url)
    headers = {"Content-Type": "application/json", **(headers or {})}
    with tempfile.TemporaryDirectory(prefix="agegate-load-") as tmp:
        bodies_file = Path(tmp) / "bodies.txt"
        bodies_file.write_text("\n".join(b.replace("\n", " ") for b in bodies) + "\n", encoding="utf-8")
        if wrk:
            return _run_wrk(wrk, url, bodies_file, headers, method, connections, duration)
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--url", url, "--bodies", str(bodies_file),
               "--method", method, "--connections", str(connections), "--duration", str(duration),
               "--json", str(out)]
        for name, value in headers.items():
            cmd += ["--header", f"{name}: {value}"]
        subprocess.run(cmd, check=True, timeout=duration + 60)
        return LoadResult(**json.loads(out.read_text()))


def _run_wrk(wrk: str, url: str, bodies_file: Path, headers: dict[str, str], method: str,
             connections: int, duration: float) -> LoadResult:
    env = {
        **os.environ,
        "WRK_METHOD": method,
        "WRK_BODIES": str(bodies_file),
        "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        "WRK_PREFIX": uuid.uuid4().hex[:8],
    }
    # One wrk thread: on 2 cores a second one only competes with the server.
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
           "-s", str(LUA), url]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:500]} {proc.stdout[-500:]}")
    data = json.loads(line[len("WRKJSON "):])
    return LoadResult(
        tool="wrk",
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        bad_status=data["status"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


# --------------------------------------------------------------------------- fallback


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _fallback(url: str, bodies: list[str], headers: dict[str, str], method: str,
              connections: int, duration: float) -> LoadResult:
    check_loopback(url)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    prefix = uuid.uuid4().hex[:8]
    deadline = time.perf_counter() + duration
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0, "bad_status": 0}
    # Hard cap on requests so the loop is bounded by count as well as time.
    cap = 2_000_000

    def worker(tid: int) -> None:
        local: list[float] = []
        done = errors = bad = 0
        position = tid * 7919
        conn: http.client.HTTPConnection | None = None
        while done < cap // connections:
            now = time.perf_counter()
            if now >= deadline:
                break
            position += 1
            body = bodies[position % len(bodies)]
            request_headers = headers
            if "\t" in body:
                auth, body = body.split("\t", 1)
                request_headers = {**headers, "Authorization": auth}
            if "{n}" in body:
                body = body.replace("{n}", f"{prefix}-{tid}-{done}")
            data = body.encode()
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=10)
                conn.request(method, path, body=data if method != "GET" else None, headers=request_headers)
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 400:
                    bad += 1
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            local.append(time.perf_counter() - started)
            done += 1
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(local)
            counts["requests"] += done
            counts["errors"] += errors
            counts["bad_status"] += bad

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(duration + 30)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        tool="python-fallback",
        requests=counts["requests"],
        seconds=elapsed,
        errors=counts["errors"],
        bad_status=counts["bad_status"],
        p50_ms=_percentile(latencies, 50) * 1000,
        p90_ms=_percentile(latencies, 90) * 1000,
        p99_ms=_percentile(latencies, 99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Python fallback load generator (loopback only)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    bodies = [line for line in args.bodies.read_text(encoding="utf-8").splitlines() if line] or [""]
    headers = dict(h.split(": ", 1) for h in args.header)
    result = _fallback(args.url, bodies, headers, args.method, args.connections, min(args.duration, 600))
    text = json.dumps(asdict(result))
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
