"""A frozen PostgreSQL (issue 16 D5): every process of a throw-away cluster SIGSTOPped, so the
kernel still accepts connections and acknowledges packets but nothing answers. Before: /readyz
did not answer in 8 s, requests hung until the worker timeout, and replacement workers exited
every ~11 s. Now, against real gunicorn: /readyz is 503 within 2 s, /healthz stays 200, the
worker is not replaced, a worker started during the freeze stays up, and everything recovers
on SIGCONT.

The cluster is created by this test on a free port (pg_createcluster) and dropped after it;
the shared cluster is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.store import migrate
from tests.integration.conftest import CHILD_BIRTH_DATE, make_client
from tests.integration.test_serving import Served, bearer_header, wait_until_up, free_port, gunicorn_env, run_gunicorn

pytestmark = pytest.mark.skipif(
    shutil.which("pg_createcluster") is None or os.geteuid() != 0,
    reason="needs Debian's postgresql-common (pg_createcluster) and root to make a throw-away cluster",
)


@dataclass
class Cluster:
    version: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        pid_file = Path(f"/var/lib/postgresql/{self.version}/{self.name}/postmaster.pid")
        postmaster = int(pid_file.read_text().split()[0])
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True).stdout.split()
        return [postmaster, *map(int, children)]

    def signal_all(self, signum: int) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


def _ctl(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=120)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    version = sorted(os.listdir("/usr/lib/postgresql"))[-1]
    made = Cluster(version, f"agegate_frozen_{uuid.uuid4().hex[:8]}", free_port())
    _ctl("pg_createcluster", version, made.name, "--port", str(made.port), "--", "--auth=trust")
    try:
        _ctl("pg_ctlcluster", "--skip-systemctl-redirect", version, made.name, "start")
        yield made
    finally:
        try:
            made.signal_all(signal.SIGCONT)
        except (FileNotFoundError, ValueError):
            pass
        _ctl("pg_dropcluster", "--stop", version, made.name)


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return sorted(map(int, out.split()))


def test_a_frozen_database_is_not_ready_within_2_s_and_the_workers_stay_up(cluster: Cluster, tmp_path: Path) -> None:
    migrate.upgrade(cluster.url)
    port = free_port()
    # a worker booting during the freeze may wait up to the connect timeout for the database;
    # it must stay under the worker timeout, as the defaults (5 s and 30 s) are
    env = gunicorn_env(cluster.url, port, AGEGATE_TIMEOUT="3", AGEGATE_DB_CONNECT_TIMEOUT="2")
    proc = run_gunicorn(env, tmp_path / "gunicorn.log")
    served = Served(port, cluster.url, {}, tmp_path / "gunicorn.log", True)
    try:
        wait_until_up(served, proc)
        served.auth = bearer_header(served, *make_client(cluster.url, "subjects:write", "tokens:issue", tenant="t"))
        child = {"subject_ref": "child", "evidence": {"method": "self_declared", "birth_date": CHILD_BIRTH_DATE}}
        assert served.request("POST", "/v1/subjects", child, served.auth)[0] == 201
        assert served.request("GET", "/readyz")[0] == 200
        (worker,) = worker_pids(proc.pid)

        cluster.signal_all(signal.SIGSTOP)
        frozen_at = time.monotonic()
        # a request caught by the freeze waits for the database (it is not the worker's fault)
        with pytest.raises(OSError):
            served.request("POST", "/v1/tokens", {"subject_ref": "child", "audience": "persona-chat"}, served.auth, timeout=1)
        readiness = [served.request("GET", "/readyz", timeout=5) for _ in range(3)]
        assert [status for status, _, _ in readiness] == [503] * 3
        assert max(seconds for _, _, seconds in readiness) < 2.0, readiness
        assert b"database_unavailable" in readiness[0][1]
        assert served.request("GET", "/healthz", timeout=2)[0] == 200
        time.sleep(max(0.0, frozen_at + 4.5 - time.monotonic()))  # 1.5 times AGEGATE_TIMEOUT
        assert worker_pids(proc.pid) == [worker]  # not killed for silence

        # a worker that boots during the freeze (a replacement) comes up and stays up
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while worker_pids(proc.pid) in ([], [worker]) and time.monotonic() < deadline:
            time.sleep(0.2)
        (replacement,) = worker_pids(proc.pid)
        assert replacement != worker
        wait_until_up(served, proc)
        time.sleep(3.5)
        assert worker_pids(proc.pid) == [replacement]
        assert served.request("GET", "/readyz", timeout=5)[0] == 503

        cluster.signal_all(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while served.request("GET", "/readyz", timeout=5)[0] != 200:
            assert time.monotonic() < deadline, "not ready again 10 s after the database thawed"
            time.sleep(0.2)
        status, body, _ = served.request("POST", "/v1/tokens", {"subject_ref": "child", "audience": "persona-chat"}, served.auth)
        assert status == 201, body
    finally:
        cluster.signal_all(signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
