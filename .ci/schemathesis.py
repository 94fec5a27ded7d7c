"""Schemathesis over every operation of openapi.yaml, against the production serving path.

Run by `make schemathesis` (and so by .ci/run): migrates a database of its own (a fresh
PostgreSQL schema beside AGEGATE_TEST_DATABASE_URL's database when that is set, else a
SQLite file), registers one client holding every scope (audit:export included) and a child,
starts gunicorn with gunicorn.conf.py on a free loopback port, and runs schemathesis with that
client's bearer token. Fails on any 5xx, any response that does not match its documented
schema or media type. Examples are bounded so the run takes a minute or two.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.store import clients as client_store  # noqa: E402
from service.store import migrate  # noqa: E402
from service.store.db import make_engine, make_sessionmaker, transaction  # noqa: E402

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(folder: Path) -> tuple[str, str | None]:
    """(URL, PostgreSQL schema to drop afterwards or None)."""
    base = os.environ.get("AGEGATE_TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{folder / 'schemathesis.db'}", None
    schema = f"schemathesis_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(schema: str) -> None:
    admin = create_engine(os.environ["AGEGATE_TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def all_scope_client(url: str) -> client_store.NewClient:
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return client_store.create_client(
                session, tenant="schemathesis", name="schemathesis", scopes=sorted(client_store.SCOPES),
                audience="persona-chat", now=datetime.now(timezone.utc),
            )
    finally:
        engine.dispose()


def call(base: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"schemathesis: gunicorn exited: {log.read_text()[-2000:]}")
        try:
            if call(base, "GET", "/healthz", None, {})[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("schemathesis: gunicorn did not come up in 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemathesis", required=True, help="the schemathesis executable (its own venv)")
    parser.add_argument("--max-examples", type=int, default=30, help="test cases per operation and phase")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, schema = fresh_database(folder)
        proc = None
        try:
            migrate.upgrade(url)
            client = all_scope_client(url)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AGEGATE_", "PROMETHEUS_"))}
            env.update(
                AGEGATE_DATABASE_URL=url,
                AGEGATE_KEK=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                AGEGATE_ISSUER=base,
                AGEGATE_BIND=f"127.0.0.1:{port}",
                AGEGATE_WORKERS="2",
                AGEGATE_WORKER_CLASS="gevent",  # the production class, on SQLite too
            )
            log = folder / "gunicorn.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [str(Path(sys.executable).parent / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "service.wsgi:app"],
                    cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True,
                )
            wait_until_up(base, proc, log)
            status, body = call(
                base, "POST", "/oauth/token",
                f"grant_type=client_credentials&client_id={client.client_id}&client_secret={client.client_secret}".encode(),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            if status != 200:
                sys.exit(f"schemathesis: no access token ({status}): {body[:300]!r}")
            auth = {"Authorization": f"Bearer {json.loads(body)['access_token']}", "Content-Type": "application/json"}
            # a registered child gives the examples' refs something to find
            child = {"subject_ref": "u-123", "evidence": {"method": "self_declared", "birth_date": "2016-05-01"}}
            call(base, "POST", "/v1/subjects", json.dumps(child).encode(), auth)
            command = [
                args.schemathesis, "run", str(ROOT / "openapi.yaml"), "--url", base,
                "--header", f"Authorization: {auth['Authorization']}",
                "--checks", CHECKS,
                "--phases", "examples,coverage,fuzzing",
                "--max-examples", str(args.max_examples),
                "--workers", "1",  # its generator is not thread-safe on every Python (AST recursion errors)
                "--seed", "20261130",
                "--request-timeout", "20",
                "--suppress-health-check", "all",
                "--warnings", "off",
            ]
            result = subprocess.run(command, cwd=ROOT)
            if result.returncode != 0:
                print(f"schemathesis: gunicorn log tail:\n{log.read_text()[-3000:]}", file=sys.stderr)
            return result.returncode
        finally:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            if schema is not None:
                drop_schema(schema)


if __name__ == "__main__":
    sys.exit(main())
