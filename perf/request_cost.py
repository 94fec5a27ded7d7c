"""What one request costs the app itself: CPU per call through the WSGI app, load-independent.

gunicorn's share (parsing, writing, the event loop) and the load generator's are left out:
each call is the WSGI app called directly with the environ gunicorn would build, so a figure
here is the app's own CPU time and moves only with the app's code (and the machine's speed,
which both sides of a ratio share). Cases, alternated over `--rounds`, each the median:

- trivial: perf/trivial_app.py's bare Flask endpoint (the ceiling of the verify target);
- verify: `POST /v1/tokens/verify` of a cached token with a feature, as the service answers it
  (the fast path of service/api/verify_fast_path.py);
- verify-through-flask: the same call through Flask's request cycle alone;
- tokens: `POST /v1/tokens` (one SELECT on Postgres, a decrypt, a signature);
- floor-token: perf/floor_app.py's floor (a) of token issuance (one SELECT by primary key
  through the same pool, one Ed25519 signature of 900 bytes), on the same database.

The JSON access log is on (written to /dev/null), as under gunicorn.

    python perf/request_cost.py [--calls 3000] [--rounds 5] [--json OUT]

Postgres on 127.0.0.1 (PERF_DB_SUFFIX names the database apart, as for the other scripts).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import create_database, drop_database, emit, in_process_app, log, median  # noqa: E402

DB_NAME = "agegate_request_cost"


def wsgi_environ(path: str, body: bytes, authorization: str) -> dict[str, Any]:
    """The environ gunicorn builds for a POST with a JSON body (wsgi.input added per call)."""
    return {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "", "RAW_URI": path,
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000", "HTTP_USER_AGENT": "perf", "HTTP_AUTHORIZATION": authorization,
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.errors": sys.stderr, "body": body,
    }


def call(wsgi: Any, environ: dict[str, Any]) -> str:
    """One request; returns its status line (the body is read, as gunicorn would)."""
    request = dict(environ)
    request["wsgi.input"] = io.BytesIO(request.pop("body"))
    statuses: list[str] = []
    b"".join(wsgi(request, lambda status, headers, exc_info=None: statuses.append(status)))
    return statuses[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per case and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from perf.trivial_app import app as trivial
    from service.logs import configure_logging
    from service.store import clients as client_store
    from service.store.db import transaction

    real_stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115 -- the access log's sink
    configure_logging("json", "info")
    sys.stderr = real_stderr

    url = create_database(DB_NAME)
    try:
        app = in_process_app(url)
        runtime = app.extensions["agegate"]
        now = datetime.now(timezone.utc)
        with transaction(runtime.sessions) as session:
            backend = client_store.create_client(session, tenant="t-cost", name="app", audience=None,
                                                 scopes=["subjects:write", "tokens:issue"], now=now)
            persona = client_store.create_client(session, tenant="t-cost", name="persona", audience="persona-chat",
                                                 scopes=["tokens:verify"], now=now)
        http = app.test_client()

        def bearer(client: client_store.NewClient) -> str:
            answer = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(client.client_id, client.client_secret)).get_json()
            return f"Bearer {answer['access_token']}"

        app_auth, persona_auth = bearer(backend), bearer(persona)
        registered = http.post("/v1/subjects", headers={"Authorization": app_auth},
                               json={"subject_ref": "s-1", "evidence": {"method": "self_declared", "birth_date": "1990-01-02"}})
        assert registered.status_code == 201, registered.get_json()
        issue_body = json.dumps({"subject_ref": "s-1", "audience": "persona-chat"}).encode()
        token = http.post("/v1/tokens", headers={"Authorization": app_auth}, data=issue_body,
                          content_type="application/json").get_json()["token"]
        verify_body = json.dumps({"token": token, "feature": "companion"}).encode()
        os.environ["AGEGATE_DATABASE_URL"] = url  # floor_app builds its engine on import
        from perf.floor_app import app as floor
        cases = {
            "trivial": (trivial.wsgi_app, wsgi_environ("/echo", issue_body, app_auth), "201 CREATED"),
            "verify": (app.wsgi_app, wsgi_environ("/v1/tokens/verify", verify_body, persona_auth), "200 OK"),
            "verify-through-flask": (app.wsgi_app.flask_wsgi, wsgi_environ("/v1/tokens/verify", verify_body, persona_auth), "200 OK"),
            "tokens": (app.wsgi_app, wsgi_environ("/v1/tokens", issue_body, app_auth), "201 CREATED"),
            "floor-token": (floor.wsgi_app, wsgi_environ("/floor/token", issue_body, app_auth), "201 CREATED"),
        }
        for name, (wsgi, environ, expected) in cases.items():
            for _ in range(200):  # warm-up: caches, the pool, the bearer cache
                status = call(wsgi, environ)
            assert status == expected, (name, status)
        microseconds: dict[str, list[float]] = {name: [] for name in cases}
        for round_index in range(args.rounds):
            order = list(cases) if round_index % 2 == 0 else list(reversed(cases))
            for name in order:
                wsgi, environ, _ = cases[name]
                started = time.process_time()
                for _ in range(args.calls):
                    call(wsgi, environ)
                microseconds[name].append(round((time.process_time() - started) / args.calls * 1e6, 1))
        runtime.engine.dispose()
    finally:
        drop_database(DB_NAME)

    result = {
        "calls": args.calls,
        "rounds": args.rounds,
        "cpu_us_per_call": {name: median(runs) for name, runs in microseconds.items()},
        "runs": microseconds,
    }
    for name, value in result["cpu_us_per_call"].items():
        log(f"{name}: {value:.1f} us of CPU a call (median of {microseconds[name]})")
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
