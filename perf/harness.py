"""What the benchmark scripts share: medians of alternating runs, figures, Postgres
databases made for one run, gunicorn processes, the `agegate` CLI and loopback HTTP.

Every benchmark script prints (or writes with --json) one document::

    {"script": "...", "command": "...", "figures": [figure, ...], "notes": ["..."]}

and `run_all.py` renders them into RESULTS.md.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

PERF = Path(__file__).resolve().parent
ROOT = PERF.parent
BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
PG_ADMIN_URL = os.environ.get("PERF_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Appended to every benchmark database's name, so benchmarks run side by side on one cluster
# (by several engineers) never drop each other's database.
DB_SUFFIX = os.environ.get("PERF_DB_SUFFIX", "")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- statistics


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def alternate(variants: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each variant once per round, reversing the order every other round, so drift
    (thermal, page cache, autovacuum) hits all variants alike. Returns name -> results."""
    results: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_no in range(rounds):
        for name in names if round_no % 2 == 0 else reversed(names):
            results[name].append(variants[name]())
    return results


def paired_ratio(values: list[float], ceilings: list[float]) -> float:
    """Median of per-round ratios: each run against the ceiling run of the same round,
    which sits next to it in time, so slow drifts of the machine cancel."""
    return median([v / c for v, c in zip(values, ceilings) if c])


def figure(
    name: str,
    *,
    value: float,
    unit: str,
    runs: list[float] | None = None,
    ceiling: float | None = None,
    ceiling_name: str = "",
    ceiling_runs: list[float] | None = None,
    target: str,
    passed: bool | None,
    ratio: float | None = None,
    detail: str = "",
) -> dict[str, Any]:
    """One row of RESULTS.md. `ratio` defaults to value/ceiling when a ceiling is given."""
    if ratio is None and ceiling:
        ratio = value / ceiling
    return {
        "figure": name,
        "value": value,
        "unit": unit,
        "runs": [round(r, 3) for r in runs or []],
        "ceiling": ceiling,
        "ceiling_name": ceiling_name,
        "ceiling_runs": [round(r, 3) for r in ceiling_runs or []],
        "ratio": ratio,
        "target": target,
        "status": "n/a" if passed is None else ("PASS" if passed else "MISS"),
        "detail": detail,
    }


def emit(document: dict[str, Any], path: Path | None) -> None:
    text = json.dumps(document, indent=2, default=str)
    if path is None:
        print(text)
    else:
        path.write_text(text, encoding="utf-8")


RESULTS = PERF / "RESULTS.md"
_MARKER = "<!-- profiles -->"


def record_section(title: str, lines: list[str], results: Path = RESULTS) -> None:
    """Write ``### title`` and ``lines`` into RESULTS.md below the profiles marker, replacing
    an earlier section of that title: `make bench` keeps what stands below the marker."""
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    if _MARKER not in text:
        text += f"\n{_MARKER}\n"
    head, tail = text.split(_MARKER, 1)
    heading = f"### {title}\n"
    if heading in tail:
        before, rest = tail.split(heading, 1)
        after = rest[rest.find("\n### "):] if "\n### " in rest else "\n"
        tail = before.rstrip("\n") + "\n\n" + after.lstrip("\n")
    section = heading + "\n" + "\n".join(lines) + "\n"
    results.write_text(head + _MARKER + tail.rstrip("\n") + "\n\n" + section, encoding="utf-8")


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *[str(a) for a in sys.argv]])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    return found


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over the next `seconds` (everything on the machine)."""
    busy0, total0 = cpu_ticks()
    time.sleep(seconds)
    busy1, total1 = cpu_ticks()
    return (busy1 - busy0) / max(1, total1 - total0)


# --------------------------------------------------------------------------- Postgres


def _admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


def postgres_version() -> str:
    try:
        with _admin() as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f"unavailable ({type(error).__name__})"


def database_name(name: str) -> str:
    """The database the benchmarks make for `name`: plus PERF_DB_SUFFIX, checked as a bare identifier."""
    name += DB_SUFFIX
    if not name.replace("_", "").isalnum():
        raise ValueError(name)
    return name


def create_database(name: str) -> str:
    """(Re)create database `name` (plus PERF_DB_SUFFIX) on the local cluster; return its SQLAlchemy URL."""
    name = database_name(name)
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_ADMIN_URL)
    return f"postgresql+psycopg://{parts.netloc}/{name}"


def drop_database(name: str) -> None:
    name = database_name(name)
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def in_process_app(url: str) -> Any:
    """The service as create_app builds it, on database `url` migrated to head, with a fresh
    KEK: for the scripts that call the WSGI app in-process (grant_cost.py, request_cost.py)."""
    from service.app import create_app
    from service.config import Settings
    from service.store import migrate

    migrate.upgrade(url)
    return create_app(Settings(database_url=url, issuer="http://127.0.0.1:1", kek=os.urandom(32),
                               using_development_kek=False))


# --------------------------------------------------------------------------- the service


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """Environment for the agegate CLI and gunicorn: a fresh KEK per benchmark run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGEGATE_")}
    env.update(
        AGEGATE_DATABASE_URL=database_url,
        AGEGATE_ISSUER=f"http://127.0.0.1:{port}",
        AGEGATE_KEK=base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode(),
        AGEGATE_BIND=f"127.0.0.1:{port}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def gunicorn_env(args: Any) -> dict[str, str]:
    """AGEGATE_WORKER_CLASS / AGEGATE_THREADS for gunicorn.conf.py from --worker-class/--threads."""
    return {"AGEGATE_WORKER_CLASS": args.worker_class, "AGEGATE_THREADS": str(args.threads)}


def agegate(env: Mapping[str, str], *args: str, timeout: float = 120) -> str:
    """Run the `agegate` CLI of this venv; return stdout; raise with stderr on failure."""
    proc = subprocess.run([str(BIN / "agegate"), *args], env=dict(env), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"agegate {' '.join(args[:2])} failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def create_client(env: Mapping[str, str], tenant: str, name: str, scopes: str, audience: str | None = None) -> dict[str, str]:
    args = ["clients", "create", "--tenant", tenant, "--name", name, "--scopes", scopes, "--json"]
    if audience:
        args += ["--audience", audience]
    out = agegate(env, *args)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


class Gunicorn:
    """One gunicorn master (and its workers) started by us, stopped by its own pid."""

    def __init__(self, app: str, env: Mapping[str, str], port: int, log_path: Path, health: str = "/healthz") -> None:
        self.app, self.env, self.port, self.log_path, self.health = app, dict(env), port, log_path, health
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, wait: float = 60) -> None:
        self.env["AGEGATE_BIND"] = f"127.0.0.1:{self.port}"
        log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), self.app],
            cwd=ROOT, env=self.env, stdout=log_file, stderr=log_file, start_new_session=True,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited: {self.log_tail()}")
            try:
                status, _ = http_request("GET", self.base + self.health, timeout=2)
                if status == 200 and len(self.worker_pids()) >= int(self.env.get("AGEGATE_WORKERS", "1")):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn {self.app} not ready in {wait}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # gunicorn's graceful stop; workers follow the master
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        return pids

    def peak_rss_mb(self) -> float:
        """Largest VmHWM (peak resident set) among the workers."""
        peak = 0
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except OSError:
                continue
        return peak / 1024

    def reset_peak_rss(self) -> bool:
        """Reset the workers' VmHWM (Linux: write 5 to clear_refs); False where unsupported."""
        done = True
        for pid in self.worker_pids():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                done = False
        return done

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --------------------------------------------------------------------------- loopback HTTP


def http_request(
    method: str, url: str, body: bytes | str | None = None, headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.hostname not in {"127.0.0.1", "localhost"}:
        raise ValueError("loopback only")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        path = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_json(method: str, url: str, body: object = None, headers: Mapping[str, str] | None = None,
              expect: int | tuple[int, ...] = (200, 201)) -> Any:
    data = None if body is None else json.dumps(body)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    status, raw = http_request(method, url, data, hdrs)
    wanted = (expect,) if isinstance(expect, int) else expect
    if status not in wanted:
        raise RuntimeError(f"{method} {urlsplit(url).path} -> {status}: {raw[:400]!r}")
    return json.loads(raw) if raw else None


def access_token(base: str, client: Mapping[str, str]) -> str:
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    status, raw = http_request(
        "POST", base + "/oauth/token", urlencode({"grant_type": "client_credentials"}),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 200:
        raise RuntimeError(f"/oauth/token -> {status}: {raw[:300]!r}")
    return str(json.loads(raw)["access_token"])


# --------------------------------------------------------------------------- test data


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(birth: str, serial: int) -> str:
    """A well-formed GB 11643-1999 number (ISO 7064 MOD 11-2) for birth date YYYYMMDD."""
    body = f"110105{birth}{serial % 1000:03d}"
    check = (12 - sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS)) % 11) % 11
    return body + ("X" if check == 10 else str(check))
