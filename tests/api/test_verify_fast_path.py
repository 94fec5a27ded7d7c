"""The verify fast path (service/api/verify_fast_path.py) answers exactly as Flask would, and
only the plain case: every other call reaches Flask with its body as it came."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from service.api.verify_fast_path import VerifyFastPath
from tests.conftest import ALL_SCOPES

PATH = "/v1/tokens/verify"


class Recorded:
    """Flask's wsgi_app, counting the calls that reach it."""

    def __init__(self, flask_wsgi: Any) -> None:
        self.flask_wsgi = flask_wsgi
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.flask_wsgi(environ, start_response)


@pytest.fixture
def paths(app):  # type: ignore[no-untyped-def]
    """(fast path, Flask alone, the recorder of what reached Flask through the fast path)."""
    installed = app.wsgi_app
    assert isinstance(installed, VerifyFastPath)
    flask_alone = installed.flask_wsgi
    recorded = Recorded(flask_alone)
    return VerifyFastPath(app, recorded), flask_alone, recorded


def environ(body: bytes, headers: dict[str, str], **overrides: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": PATH, "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
        "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    env.update(overrides)
    return env


def call(wsgi: Any, env: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    started: list[Any] = []
    body = b"".join(wsgi(env, lambda status, headers, exc_info=None: started.append((status, headers))))
    return started[0][0], started[0][1], body


def same_call_both_ways(paths: Any, body: bytes, headers: dict[str, str], **overrides: str) -> tuple[Any, Any]:
    fast, flask_alone, _ = paths
    return call(fast, environ(body, headers, **overrides)), call(flask_alone, environ(body, headers, **overrides))


@pytest.fixture
def persona(api, http):  # type: ignore[no-untyped-def]
    """A persona client's bearer header, already in the bearer cache (one call through Flask)."""
    bearer = api.bearer("tokens:verify", audience="persona-chat")
    http.post(PATH, json={"token": "warm.the.cache"}, headers=bearer)
    return bearer


@pytest.fixture
def token(api, http):  # type: ignore[no-untyped-def]
    app_client = api.bearer(*ALL_SCOPES)
    response = http.post("/v1/subjects", json={"subject_ref": "kid", "evidence": {"method": "self_declared", "birth_date": "2016-03-01"}}, headers=app_client)
    assert response.status_code == 201
    return http.post("/v1/tokens", json={"subject_ref": "kid", "audience": "persona-chat"}, headers=app_client).get_json()["token"]


@pytest.mark.parametrize(
    "body",
    [
        lambda token: {"token": token, "feature": "companion"},
        lambda token: {"token": token, "feature": "virtual_intimacy"},
        lambda token: {"token": token},
        lambda token: {"token": token + "x"},
        lambda token: {"feature": "companion", "token": "not.a.token"},
    ],
    ids=["allowed-feature", "denied-feature", "no-feature", "bad-signature", "not-a-token"],
)
def test_the_plain_case_is_answered_without_flask_exactly_as_flask_answers_it(paths, persona, token, body) -> None:  # type: ignore[no-untyped-def]
    raw = json.dumps(body(token)).encode()
    headers = {**persona, "X-Request-Id": "req-42"}
    fast, flask_alone = same_call_both_ways(paths, raw, headers)
    assert paths[2].calls == 0
    assert fast == flask_alone
    assert fast[0] == "200 OK" and json.loads(fast[2])["active"] in (True, False)


def test_a_generated_request_id_is_the_only_difference(paths, persona, token) -> None:  # type: ignore[no-untyped-def]
    raw = json.dumps({"token": token, "feature": "companion"}).encode()
    fast, flask_alone = same_call_both_ways(paths, raw, {**persona, "X-Request-Id": "bad id with spaces"})
    assert paths[2].calls == 0
    assert fast[0] == flask_alone[0] and fast[2] == flask_alone[2]
    fast_ids = [value for name, value in fast[1] if name == "X-Request-Id"]
    assert [(n, v) for n, v in fast[1] if n != "X-Request-Id"] == [(n, v) for n, v in flask_alone[1] if n != "X-Request-Id"]
    assert len(fast_ids) == 1 and len(fast_ids[0]) == 32 and fast_ids[0] != "bad id with spaces"


def test_a_client_without_a_registered_audience_is_told_so_on_the_fast_path(paths, api, http, token) -> None:  # type: ignore[no-untyped-def]
    bearer = api.bearer("tokens:verify", tenant="tenant-b")
    with api.runtime.sessions() as session, session.begin():
        from sqlalchemy import update

        from service.store.models import Client

        session.execute(update(Client).where(Client.tenant == "tenant-b").values(audience=None))
    http.post(PATH, json={"token": "warm.the.cache"}, headers=bearer)
    fast, flask_alone = same_call_both_ways(paths, json.dumps({"token": token}).encode(), {**bearer, "X-Request-Id": "r"})
    assert paths[2].calls == 0
    assert fast == flask_alone and json.loads(fast[2]) == {"active": False, "reason": "no_audience_registered"}


def _not_cached(api: Any) -> dict[str, str]:
    return api.bearer("tokens:verify", audience="persona-chat")


OTHER_CALLS = {
    # credentials
    "no-credentials": (lambda t: {"token": t}, lambda p, api: {}, {}),
    "basic-credentials": (lambda t: {"token": t}, lambda p, api: {"Authorization": "Basic YTpi"}, {}),
    "bearer-not-cached": (lambda t: {"token": t}, lambda p, api: _not_cached(api), {}),
    "unknown-bearer": (lambda t: {"token": t}, lambda p, api: {"Authorization": "Bearer nope"}, {}),
    "missing-scope": (lambda t: {"token": t}, lambda p, api: api.bearer("tokens:issue"), {}),
    # framing
    "query-string": (lambda t: {"token": t}, lambda p, api: p, {"QUERY_STRING": "a=1"}),
    "cookie": (lambda t: {"token": t}, lambda p, api: {**p, "Cookie": "agegate_guardian=x"}, {}),
    "charset-parameter": (lambda t: {"token": t}, lambda p, api: p, {"CONTENT_TYPE": "application/json; charset=latin-1"}),
    "form-body": (lambda t: {"token": t}, lambda p, api: p, {"CONTENT_TYPE": "application/x-www-form-urlencoded"}),
    "nul-in-header": (lambda t: {"token": t}, lambda p, api: {**p, "X-Note": "a\x00b"}, {}),
    # bodies
    "nul-in-token": (lambda t: {"token": t + "\x00"}, lambda p, api: p, {}),
    "lone-surrogate": (lambda t: {"token": "\ud800"}, lambda p, api: p, {}),
    "extra-member": (lambda t: {"token": t, "more": 1}, lambda p, api: p, {}),
    "empty-token": (lambda t: {"token": ""}, lambda p, api: p, {}),
    "token-not-a-string": (lambda t: {"token": 7}, lambda p, api: p, {}),
    "array": (lambda t: [t], lambda p, api: p, {}),
}


@pytest.mark.parametrize("case", sorted(OTHER_CALLS))
def test_every_other_call_reaches_flask_and_is_answered_as_before(paths, api, persona, token, case) -> None:  # type: ignore[no-untyped-def]
    body, headers, overrides = OTHER_CALLS[case]
    raw = json.dumps(body(token)).encode()
    call_headers = {**headers(persona, api), "X-Request-Id": "req-7"}
    fast, flask_alone = same_call_both_ways(paths, raw, call_headers, **overrides)
    assert paths[2].calls == 1
    assert fast == flask_alone


@pytest.mark.parametrize(
    "raw",
    [b'{"token": "a", "token": "b"}', b"\xef\xbb\xbf{}", b'{"token": "\xff"}', b'{"token": ', b"null"],
    ids=["duplicate-member", "byte-order-mark", "not-utf8", "truncated", "null"],
)
def test_bodies_the_edge_refuses_reach_flask_whole(paths, persona, raw) -> None:  # type: ignore[no-untyped-def]
    fast, flask_alone = same_call_both_ways(paths, raw, {**persona, "X-Request-Id": "req-8"})
    assert paths[2].calls == 1
    assert fast == flask_alone and fast[0].startswith(("400", "422"))


def test_a_body_shorter_than_its_content_length_reaches_flask(paths, persona, token) -> None:  # type: ignore[no-untyped-def]
    raw = json.dumps({"token": token}).encode()
    fast, flask_alone = same_call_both_ways(paths, raw, {**persona, "X-Request-Id": "r"}, CONTENT_LENGTH=str(len(raw) + 5))
    assert paths[2].calls == 1
    assert fast == flask_alone and fast[0].startswith("400")


def test_the_fast_path_writes_the_access_line_and_the_metrics_of_the_request(app, paths, persona, token, caplog) -> None:  # type: ignore[no-untyped-def]
    from service.logs import RequestIdFilter

    metrics = app.extensions["agegate.metrics"]
    before = metrics._requests.labels(PATH, "POST", "200")._value.get()
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="agegate.access"):
        status, _, _ = call(paths[0], environ(json.dumps({"token": token}).encode(), {**persona, "X-Request-Id": "req-log"}))
    assert status == "200 OK" and paths[2].calls == 0
    (record,) = [r for r in caplog.records if r.name == "agegate.access"]
    assert (record.getMessage(), record.request_id, record.route, record.status) == ("POST /v1/tokens/verify 200", "req-log", PATH, 200)
    assert record.client_id is not None and record.duration_ms >= 0
    assert metrics._requests.labels(PATH, "POST", "200")._value.get() == before + 1


def test_a_sandbox_tenants_client_goes_through_flask_to_its_own_realm(paths, api, http) -> None:  # type: ignore[no-untyped-def]
    bearer = api.bearer("tokens:verify", tenant="sandbox-a", sandbox=True)
    http.post(PATH, json={"token": "warm.the.cache"}, headers=bearer)  # now in the bearer cache
    fast, flask_alone = same_call_both_ways(paths, json.dumps({"token": "a.b.c"}).encode(), {**bearer, "X-Request-Id": "r"})
    assert paths[2].calls == 1
    assert fast == flask_alone


def test_the_fast_path_refuses_to_install_over_a_hook_it_would_skip(app) -> None:  # type: ignore[no-untyped-def]
    from service.api.verify_fast_path import install_verify_fast_path

    def limit_verify() -> None:
        return None

    app.before_request_funcs.setdefault("tokens", []).append(limit_verify)
    with pytest.raises(RuntimeError, match="limit_verify"):
        install_verify_fast_path(app)
