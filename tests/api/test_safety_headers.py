"""Private responses are never cached and never sniffed (issue 16, D9); /metrics is behind a
scrape token (D10)."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from service.app import create_app
from tests.conftest import ALL_SCOPES, METRICS_AUTH, METRICS_TOKEN


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def test_private_answers_are_no_store_and_nosniff(http, auth) -> None:  # type: ignore[no-untyped-def]
    register = http.post(
        "/v1/subjects", json={"subject_ref": "u", "evidence": {"method": "self_declared", "birth_date": "2016-03-01"}}, headers=auth
    )
    for response in (
        register,
        http.get("/v1/subjects/u", headers=auth),
        http.get("/v1/subjects/nobody", headers=auth),  # a problem
        http.get("/v1/subjects/u"),  # 401
        http.post("/v1/tokens", json={"subject_ref": "u", "audience": "persona-chat"}, headers=auth),
        http.get("/healthz"),
    ):
        assert response.headers["Cache-Control"] == "no-store", response.request.path
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_token_endpoint_stays_no_store(http, api) -> None:  # type: ignore[no-untyped-def]
    new = api.client("tokens:issue")
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": new.client_id, "client_secret": new.client_secret}
    )
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/.well-known/agegate", "/v1/policy"])
def test_published_documents_keep_their_public_caching(http, path: str) -> None:  # type: ignore[no-untyped-def]
    response = http.get(path)
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_need_the_scrape_token(http) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 401
    assert http.get("/metrics", headers={"Authorization": "Basic " + base64.b64encode(METRICS_TOKEN.encode()).decode()}).status_code == 401
    response = http.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 200 and response.mimetype == "text/plain"


def test_metrics_are_off_without_a_token_setting(runtime) -> None:  # type: ignore[no-untyped-def]
    settings = dataclasses.replace(runtime.settings, metrics_token=None)
    http = create_app(runtime=dataclasses.replace(runtime, settings=settings)).test_client()
    response = http.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 404
    assert "AGEGATE_METRICS_TOKEN" in response.get_json()["detail"]
