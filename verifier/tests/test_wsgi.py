"""require_feature: the WSGI guard, exercised with a bare WSGI app (no framework)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from agegate_verifier import Verifier
from agegate_verifier.testing import TestIssuer
from agegate_verifier.wsgi import DECISION_KEY, require_feature


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    decision = environ[DECISION_KEY]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [",".join(decision.obligations).encode()]


def call(app: Any, **headers: str) -> tuple[str, dict[str, str], bytes]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/chat"}
    environ.update({"HTTP_" + name.upper(): value for name, value in headers.items()})
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(response_headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def test_passes_an_allowed_request_through_with_its_obligations(verifier: Verifier, issuer: TestIssuer) -> None:
    app = require_feature(verifier, "companion")(hello)
    assert call(app, authorization=f"Bearer {issuer.token()}") == ("200 OK", {"Content-Type": "text/plain"}, b"minor_mode")


def test_reads_the_token_from_another_header(verifier: Verifier, issuer: TestIssuer) -> None:
    app = require_feature(verifier, "companion", header="X-Age-Token")(hello)
    assert call(app, x_age_token=issuer.token())[0] == "200 OK"


@pytest.mark.parametrize(
    ("feature", "reason", "decision"),
    [("virtual_intimacy", "minor_ban", "deny"), ("digital_human", "guardian_consent_required", "needs_consent")],
)
def test_answers_403_problem_json_when_the_policy_says_no(
    verifier: Verifier, issuer: TestIssuer, feature: str, reason: str, decision: str
) -> None:
    status, headers, body = call(require_feature(verifier, feature)(hello), authorization=f"Bearer {issuer.token()}")
    assert status == "403 Forbidden"
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert (problem["status"], problem["reason"], problem["decision"]) == (403, reason, decision)


def test_answers_403_with_the_token_reason_for_a_bad_token(verifier: Verifier, issuer: TestIssuer) -> None:
    status, _, body = call(require_feature(verifier, "companion")(hello), authorization=f"Bearer {issuer.token(aud='x')}")
    assert status == "403 Forbidden"
    assert json.loads(body)["reason"] == "wrong_audience"


@pytest.mark.parametrize("value", [None, "", "Bearer", "Bearer  ", "Basic dXNlcjpwYXNz"])
def test_answers_401_without_a_bearer_token(verifier: Verifier, value: str | None) -> None:
    headers = {} if value is None else {"authorization": value}
    status, response_headers, body = call(require_feature(verifier, "companion")(hello), **headers)
    assert status == "401 Unauthorized"
    assert response_headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(body)["reason"] == "missing_token"
