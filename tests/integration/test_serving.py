"""The production serving path (issue 16 D1, issue 10), against real gunicorn on a free
loopback port with gunicorn.conf.py and real sockets:

- 50 slow clients (a header line every 0.3 s, never finishing) and slow-reading exports do
  not keep /healthz or a token issue from answering within a second;
- an export outlives the worker timeout when its reader is slow (no sync-worker cap);
- gunicorn's own 400/414/431 are problem+json;
- the server refuses to start without AGEGATE_KEK or with a bad setting, with one line;
- the metrics directory is emptied at start.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from service.auditlog.chain import GENESIS, link_hash
from service.store import migrate
from service.store.db import make_engine, make_sessionmaker, transaction
from service.store.models import ConsentLogEntry
from tests.integration.conftest import CHILD_BIRTH_DATE, GUARDIAN_RESIDENT_ID, POSTGRES_URL, consent_body, make_client

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
KEK = base64.urlsafe_b64encode(bytes(range(32))).decode()
LOGGED_EVENTS = 10_000
SLOW_CLIENTS = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGEGATE_", "PROMETHEUS_"))}
    env.update(
        AGEGATE_DATABASE_URL=database_url,
        AGEGATE_KEK=KEK,
        AGEGATE_ISSUER=f"http://127.0.0.1:{port}",
        AGEGATE_BIND=f"127.0.0.1:{port}",
        AGEGATE_WORKERS="1",
    )
    env.update(extra)
    return env


def run_gunicorn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "service.wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True,
        )


@dataclass
class Served:
    port: int
    database_url: str
    auth: dict[str, str]
    log: Path
    on_postgres: bool

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request on a fresh connection."""
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body)
            sent = {**(headers or {}), **({"Content-Type": "application/json"} if body is not None else {})}
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            return response.status, response.read(), time.monotonic() - started
        finally:
            conn.close()

    def raw(self, data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(data)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            return received


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Served]:
    """gunicorn with the production config over a migrated database holding one registered
    child and LOGGED_EVENTS log entries of its tenant (stored rows, as an export reads them)."""
    folder = tmp_path_factory.mktemp("served")
    if POSTGRES_URL:
        url = request.getfixturevalue("postgres_databases").create("agegate_it_served")
    else:
        url = f"sqlite:///{folder / 'agegate.db'}"
    migrate.upgrade(url)
    _seed_log(url)
    port = free_port()
    metrics = folder / "metrics"
    metrics.mkdir()
    (metrics / "counter_999999.db").write_bytes(b"left over from an earlier run")
    env = gunicorn_env(
        url, port,
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
        AGEGATE_TIMEOUT="2",  # exports below stream for longer than this
        # the production class on either database (SQLite's default is gthread; see config.py)
        AGEGATE_WORKER_CLASS="gevent",
    )
    log = folder / "gunicorn.log"
    proc = run_gunicorn(env, log)
    try:
        served = Served(port, url, {}, log, bool(POSTGRES_URL))
        wait_until_up(served, proc)
        assert not (metrics / "counter_999999.db").exists()
        served.auth = bearer_header(served, *make_client(url, "subjects:write", "tokens:issue", "audit:export", tenant="t"))
        status, body, _ = served.request(
            "POST", "/v1/subjects", {"subject_ref": "child", "evidence": {"method": "self_declared", "birth_date": CHILD_BIRTH_DATE}}, served.auth
        )
        assert status == 201, body
        yield served
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def bearer_header(served: Served, client_id: str, secret: str) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        conn.request(
            "POST", "/oauth/token", body=f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        return {"Authorization": f"Bearer {json.loads(body)['access_token']}"}
    finally:
        conn.close()


def wait_until_up(served: Served, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, served.log.read_text()
        try:
            if served.request("GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not come up: {served.log.read_text()}")


def _seed_log(url: str) -> None:
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    event = json.dumps({"type": "granted", "note": "x" * 300})  # ~400-byte export lines
    try:
        with transaction(make_sessionmaker(engine)) as session:
            session.execute(
                insert(ConsentLogEntry),
                [
                    {"tenant": "t", "seq": seq, "event": event, "prev": "0" * 64, "hash": f"{seq:064x}", "recorded_at": now}
                    for seq in range(1, LOGGED_EVENTS + 1)
                ],
            )
    finally:
        engine.dispose()


class SlowClients:
    """`count` connections that each send a request line, then one header line every
    `interval` seconds, never finishing their headers: a slowloris attack, or a very slow
    network. The server may drop them (gunicorn's gevent worker allows AGEGATE_KEEPALIVE
    seconds for a request's headers); like a real attacker, each is then opened again."""

    def __init__(self, port: int, count: int, interval: float = 0.3) -> None:
        self.port = port
        self.sockets = [self._open() for _ in range(count)]
        self.interval = interval
        self.reopened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drip)
        self.thread.start()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return sock

    def _drip(self) -> None:
        line = 0
        while not self.stop.wait(self.interval):
            line += 1
            for index, sock in enumerate(self.sockets):
                try:
                    sock.sendall(b"X-Drip-%d: x\r\n" % line)
                except OSError:
                    sock.close()
                    self.sockets[index] = self._open()
                    self.reopened += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


class SlowReader:
    """An export (HTTP/1.0: not chunked) whose client reads 8 KiB at a time at `rate` bytes per second, through a
    small receive buffer, so the server's writes block on it. Counts what arrived."""

    def __init__(self, served: Served, rate: float) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", served.port))
        self.sock.settimeout(30)
        auth = served.auth["Authorization"]
        self.sock.sendall(f"GET /v1/audit/consent-log HTTP/1.0\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode())
        self.rate = rate
        self.received = bytearray()
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self) -> None:
        while chunk := self.sock.recv(8192):
            self.received += chunk
            time.sleep(len(chunk) / self.rate)

    def finish(self, timeout: float = 60) -> bytes:
        self.thread.join(timeout)
        self.sock.close()
        return bytes(self.received)


def test_fifty_slow_clients_and_slow_export_readers_leave_healthz_and_token_issue_answering(served: Served) -> None:
    """Under the sync workers this replaced, /healthz answered 0 of 5 probes for 25 s with two
    such clients. The bound asserted is loose (the median under a second, none timing out at
    5 s) because the test machine is shared; README "Failure behaviour" has measured figures."""
    readers = [SlowReader(served, rate=1_000_000) for _ in range(3 if served.on_postgres else 0)]
    slow = SlowClients(served.port, SLOW_CLIENTS)
    timings: list[tuple[str, int, float]] = []
    try:
        time.sleep(0.5)  # every slow client connected and dripping
        for _ in range(8):
            status, _, seconds = served.request("GET", "/healthz", timeout=5)
            timings.append(("healthz", status, seconds))
            status, body, seconds = served.request(
                "POST", "/v1/tokens", {"subject_ref": "child", "audience": "persona-chat"}, served.auth, timeout=5
            )
            timings.append(("token", status, seconds))
            time.sleep(0.25)
    finally:
        slow.close()
    assert [(name, status) for name, status, _ in timings] == [("healthz", 200), ("token", 201)] * 8
    ordered = sorted(seconds for _, _, seconds in timings)
    assert ordered[len(ordered) // 2] < 1.0, timings
    for reader in readers:
        export = reader.finish()
        assert export.count(b'"kind":"event"') == LOGGED_EVENTS
        assert b'"kind":"checkpoint"' in export.rstrip(b"\n").rsplit(b"\n", 1)[-1]


@pytest.mark.skipif(not POSTGRES_URL, reason="an export holds SQLite's write lock; slow readers are a PostgreSQL deployment's concern")
def test_an_export_streams_past_the_worker_timeout_to_a_slow_reader(served: Served) -> None:
    """AGEGATE_TIMEOUT is 2 s here; the reader takes about 4 s. A sync worker is killed mid-export
    (the 30 s cap that ended exports at ~4 million events); gevent's heartbeat does not depend
    on the request."""
    started = time.monotonic()
    export = SlowReader(served, rate=1_000_000).finish()
    took = time.monotonic() - started
    assert took > 3  # the point of the test: longer than the worker timeout
    assert export.count(b'"kind":"event"') == LOGGED_EVENTS
    assert b'"kind":"checkpoint"' in export.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    assert served.request("GET", "/healthz")[0] == 200


@pytest.mark.parametrize(
    "request_bytes, status, slug",
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri-too-long"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(120)) + b"\r\n", 431, "request-header-fields-too-large"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431, "request-header-fields-too-large"),
        (b"GARBAGE\r\n\r\n", 400, "bad-request"),
        (b"GET /v1/subjects/\xff HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad-request"),
        (b"GET /v1/subjects/%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400, "invalid-input"),  # reaches the edge
        (b"GET /v1/subjects/%ED%A0%80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400, "invalid-input"),
    ],
    ids=["uri-too-long", "too-many-headers", "header-too-large", "bad-request-line", "raw-byte-in-path", "non-utf8-path", "surrogate-path"],
)
def test_requests_gunicorn_cannot_take_are_answered_with_problem_json(served: Served, request_bytes: bytes, status: int, slug: str) -> None:
    response = served.raw(request_bytes)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == str(status).encode(), response[:300]
    assert b"content-type: application/problem+json" in head.lower()
    assert b"x-content-type-options: nosniff" in head.lower()
    problem = json.loads(body)
    assert (problem["status"], problem["type"]) == (status, f"urn:agegate:problem:{slug}")


PIPELINED = 120
JWKS_REQUEST = b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n"


def read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """`count` whole responses (Content-Length framed) from a keep-alive connection."""
    buffered, responses = b"", []
    while len(responses) < count:
        head, separator, rest = buffered.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), None)
        if separator and length is not None and len(rest) >= length:
            responses.append(head + separator + rest[:length])
            buffered = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(responses)} responses"
        buffered += chunk
    return responses


def test_a_connection_sending_back_to_back_does_not_hold_up_the_others(served: Served) -> None:
    """One worker serves both connections here. The busy one has all its requests waiting
    before the other sends its one; the other is answered while most of the busy one's are
    still to come, instead of after all of them (before the fix each keep-alive connection
    whose next request had already arrived was served again without yielding: at 16 busy
    connections the trivial endpoint's p99 was 190 ms on one worker, its p50 0.2 ms)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as busy, \
            socket.create_connection(("127.0.0.1", served.port), timeout=10) as other:
        busy.sendall(JWKS_REQUEST * PIPELINED)
        other.sendall(JWKS_REQUEST)
        assert read_responses(other, 1)[0].startswith(b"HTTP/1.1 200 ")
        busy.setblocking(False)
        answered_first = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := busy.recv(1 << 20):
                answered_first += chunk
        assert answered_first.count(b"HTTP/1.1 200 ") < PIPELINED // 2
        busy.setblocking(True)
        rest = read_responses(busy, PIPELINED - answered_first.count(b"HTTP/1.1 200 "))
        assert all(response.startswith(b"HTTP/1.1 200 ") for response in rest)  # and in order, framed


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_time(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(JWKS_REQUEST)
        assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert sock.recv(1) == b""  # AGEGATE_KEEPALIVE is 2 s by default
        assert time.monotonic() - started >= 1.5


def start_and_wait(env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    proc = run_gunicorn(env, tmp_path / "gunicorn.log")
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
        pytest.fail("gunicorn started although it should have refused")
    return proc.returncode, (tmp_path / "gunicorn.log").read_text()


def test_production_refuses_to_start_without_a_kek(tmp_path: Path) -> None:
    env = gunicorn_env(f"sqlite:///{tmp_path / 'a.db'}", free_port())
    del env["AGEGATE_KEK"]
    code, output = start_and_wait(env, tmp_path)
    assert code != 0
    assert output.strip().splitlines() == [output.strip()]  # one line
    assert output.startswith("agegate: AGEGATE_KEK is not set")


@pytest.mark.parametrize("variable, value", [("AGEGATE_WORKERS", "zero"), ("AGEGATE_BIND", "nowhere"), ("AGEGATE_KEK", "short")])
def test_a_bad_setting_stops_gunicorn_with_one_line_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    env = gunicorn_env(f"sqlite:///{tmp_path / 'a.db'}", free_port(), **{variable: value})
    code, output = start_and_wait(env, tmp_path)
    assert code != 0
    assert output.strip().splitlines() == [output.strip()]
    assert output.startswith(f"agegate: {variable}: ")


def test_an_unreachable_database_at_start_stops_gunicorn_with_one_line(tmp_path: Path) -> None:
    env = gunicorn_env("postgresql+psycopg://postgres@127.0.0.1:1/none", free_port(), AGEGATE_DATABASE_WAIT="1")
    code, output = start_and_wait(env, tmp_path)
    assert code != 0
    assert "agegate: AGEGATE_DATABASE_URL: database unreachable" in output


def test_one_tenants_grants_at_once_under_gevent_are_each_chained_once(served: Served) -> None:
    """The group commit's waiting yields the greenlet (gevent patches its locks): 24 grants of
    one tenant sent at once all answer 201 -- a waiter blocking the worker would stall the
    batch leading it -- and each is in the tenant's chain exactly once, linked from GENESIS."""
    auth = bearer_header(served, *make_client(served.database_url, "subjects:write", "consent:write", tenant="g"))
    for ref, evidence in (
        ("child", {"method": "self_declared", "birth_date": CHILD_BIRTH_DATE}),
        ("parent", {"method": "resident_id", "resident_id": GUARDIAN_RESIDENT_ID}),
    ):
        status, body, _ = served.request("POST", "/v1/subjects", {"subject_ref": ref, "evidence": evidence}, auth)
        assert status == 201, body
    count = 24
    barrier = threading.Barrier(count)

    def grant(i: int) -> tuple[int, dict[str, Any]]:
        barrier.wait(timeout=30)
        status, body, _ = served.request("POST", "/v1/consents", consent_body(evidence_ref=f"gevent-{i}"), auth, timeout=30)
        return status, json.loads(body)

    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(grant, range(count)))
    assert [status for status, _ in answers] == [201] * count, answers

    engine = make_engine(served.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            entries = list(session.scalars(select(ConsentLogEntry).where(ConsentLogEntry.tenant == "g").order_by(ConsentLogEntry.seq)))
    finally:
        engine.dispose()
    assert [entry.seq for entry in entries] == list(range(1, count + 1))
    prev = GENESIS
    for entry in entries:
        assert entry.prev == prev and entry.hash == link_hash(prev, json.loads(entry.event))
        prev = entry.hash
    assert sorted(json.loads(entry.event)["consent_id"] for entry in entries) == sorted(body["consent_id"] for _, body in answers)
