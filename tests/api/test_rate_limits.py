"""Rate limits: /oauth/token per client id and per address, 429 problem+json with Retry-After,
counters shared through Redis between instances, and the hook other blueprints use."""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import Any

import pytest
from flask import Flask

from service.api.problems import init_problems
from service.api.ratelimits import (
    TOKEN_PER_ADDRESS,
    TOKEN_PER_CLIENT,
    RateLimit,
    by_address,
    init_rate_limits,
    rate_limited,
)
from service.app import create_app
from tests.api.test_client_lifecycle import basic

REDIS_URL = os.environ.get("AGEGATE_TEST_REDIS_URL", "")


def _count(rule: str) -> int:
    return int(rule.split("/")[0])


def _token(http: Any, client_id: str, secret: str, address: str = "198.51.100.7") -> Any:
    return http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret),
        environ_base={"REMOTE_ADDR": address},
    )


def _assert_refused(response: Any) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "urn:agegate:problem:too-many-requests"
    assert int(response.headers["Retry-After"]) >= 1


def test_token_requests_are_limited_per_client_id_whatever_the_secret(http: Any, api: Any) -> None:
    new = api.client("subjects:read")
    for i in range(_count(TOKEN_PER_CLIENT)):
        answer = _token(http, new.client_id, new.client_secret if i % 2 else "a-guess", address=f"203.0.113.{i % 200}")
        assert answer.status_code in (200, 401), answer.get_json()
        assert "Retry-After" not in answer.headers
    _assert_refused(_token(http, new.client_id, new.client_secret, address="203.0.113.250"))
    other = api.client("subjects:read")
    assert _token(http, other.client_id, other.client_secret).status_code == 200  # another client's budget


def test_token_requests_are_limited_per_address_across_client_ids(http: Any) -> None:
    for i in range(_count(TOKEN_PER_ADDRESS)):
        assert _token(http, f"cl_guess_{i}", "x", address="192.0.2.9").status_code == 401
    _assert_refused(_token(http, "cl_guess_last", "x", address="192.0.2.9"))
    assert _token(http, "cl_guess_last", "x", address="192.0.2.10").status_code == 401


@pytest.mark.skipif(not REDIS_URL, reason="AGEGATE_TEST_REDIS_URL is not set (.ci/run sets it when Redis answers)")
def test_two_instances_sharing_redis_share_one_budget(runtime: Any, api: Any) -> None:
    settings = dataclasses.replace(runtime.settings, rate_limit_storage=REDIS_URL)
    instances = [create_app(runtime=dataclasses.replace(runtime, settings=settings)).test_client() for _ in range(2)]
    new = api.client("subjects:read")  # a fresh client id: no other run shares its counter
    for i in range(_count(TOKEN_PER_CLIENT)):
        assert _token(instances[i % 2], new.client_id, new.client_secret).status_code == 200
    _assert_refused(_token(instances[0], new.client_id, new.client_secret))
    _assert_refused(_token(instances[1], new.client_id, new.client_secret))


def test_any_blueprint_can_limit_its_views_by_marking_them() -> None:
    app = Flask("pages")
    init_problems(app)
    scope = "code-entry-" + uuid.uuid4().hex

    @app.post("/consent/<request_id>/code")
    @rate_limited(RateLimit("3/minute", by_address, scope))
    def enter_code(request_id: str) -> dict[str, str]:
        return {"request": request_id}

    @app.post("/consent/<request_id>/resend")
    @rate_limited(RateLimit("3/minute", by_address, scope))
    def resend(request_id: str) -> dict[str, str]:
        return {"request": request_id}

    init_rate_limits(app, "memory://")
    http = app.test_client()
    assert [http.post(f"/consent/r{i}/code").status_code for i in range(2)] == [200, 200]
    assert http.post("/consent/r9/resend").status_code == 200  # the same scope shares one budget
    _assert_refused(http.post("/consent/r1/code"))
    _assert_refused(http.post("/consent/r1/resend"))


def test_a_blueprints_limited_view_keeps_its_budget_and_headers_when_the_limiter_runs_for_its_blueprint_only() -> None:
    """init_rate_limits runs the limiter's hooks only for blueprints holding a limited view:
    those views keep their counts and X-RateLimit headers, other views answer without them."""
    from flask import Blueprint

    app = Flask("blueprints")
    init_problems(app)
    pages, api = Blueprint("pages", __name__), Blueprint("api", __name__)
    scope = "code-entry-" + uuid.uuid4().hex

    @pages.post("/consent/<request_id>/code")
    @rate_limited(RateLimit("2/minute", by_address, scope))
    def enter_code(request_id: str) -> dict[str, str]:
        return {"request": request_id}

    @api.post("/v1/things")
    def things() -> dict[str, str]:
        return {"ok": "yes"}

    app.register_blueprint(pages)
    app.register_blueprint(api)
    init_rate_limits(app, "memory://")
    http = app.test_client()
    first = http.post("/consent/r1/code")
    assert first.status_code == 200
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
    assert "Retry-After" not in first.headers
    assert http.post("/consent/r2/code").status_code == 200
    _assert_refused(http.post("/consent/r3/code"))
    for _ in range(3):
        unlimited = http.post("/v1/things")
        assert unlimited.status_code == 200
        assert not [name for name in unlimited.headers.keys() if name.startswith("X-RateLimit")]
    assert http.get("/v1/things").status_code == 405  # routing errors pass no limiter hook either way
