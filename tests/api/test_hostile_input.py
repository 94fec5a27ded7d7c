"""Hostile input (issue 16, D2): every input that used to reach the database or the driver
and come back as a 500 is refused at the edge with a 4xx problem, and nothing is written."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from service.store import models
from service.store.db import transaction
from tests.conftest import ALL_SCOPES

GUARDIAN_ID = "11010219840406970X"

CONSENT = {
    "child_ref": "child",
    "guardian_ref": "parent",
    "relationship": "parent",
    "scopes": ["pi_processing", "companion"],
    "method": "in_app_parent_account",
    "evidence_ref": "ev-1",
    "notice_version": "privacy-notice-v3",
    "expires_at": None,
}
COUNTED = (models.Consent, models.ConsentEnding, models.ConsentLogEntry, models.Subject, models.AccessToken, models.IdempotencyRecord)


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


@pytest.fixture
def family(http, auth):  # type: ignore[no-untyped-def]
    for ref, evidence in (
        ("child", {"method": "self_declared", "birth_date": "2016-03-01"}),
        ("parent", {"method": "resident_id", "resident_id": GUARDIAN_ID}),
    ):
        response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth)
        assert response.status_code == 201, response.get_json()


def row_counts(runtime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with transaction(runtime.sessions) as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def assert_refused(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and problem["type"].startswith("urn:agegate:problem:")
    return problem  # type: ignore[no-any-return]


def raw_json(http, path: str, text: str, headers: dict[str, str], encoding: str = "utf-8", **kwargs: Any):  # type: ignore[no-untyped-def]
    return http.post(path, data=text.encode(encoding), headers={**headers, "Content-Type": "application/json"}, **kwargs)


@pytest.mark.parametrize("member", ["method", "evidence_ref", "notice_version", "child_ref"])
@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b", "\udfff"], ids=["nul", "high-surrogate", "low-surrogate"])
def test_a_nul_or_lone_surrogate_in_a_consent_member_is_400_and_writes_nothing(
    http, auth, family, runtime, member: str, bad: str
) -> None:  # type: ignore[no-untyped-def]
    before = row_counts(runtime)
    # json.dumps writes both as \u escapes, exactly as a hostile client would
    response = raw_json(http, "/v1/consents", json.dumps({**CONSENT, member: bad}), auth)
    problem = assert_refused(response)
    assert problem["type"] == "urn:agegate:problem:invalid-input"
    assert list(problem["errors"]) == [f"body.{member}"]
    assert row_counts(runtime) == before


def test_a_nul_in_a_nested_member_name_or_array_is_refused(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    response = raw_json(http, "/v1/consents", json.dumps({**CONSENT, "scopes": ["pi_processing", "x\u0000"]}), auth)
    assert list(assert_refused(response)["errors"]) == ["body.scopes.1"]
    response = raw_json(http, "/v1/subjects", json.dumps({"subject_ref": "s", "evidence": {"method\u0000": "x"}}), auth)
    assert list(assert_refused(response)["errors"]) == ["body.evidence"]


def test_a_nul_in_a_withdraw_reason_is_400_and_the_consent_stays_active(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    consent = http.post("/v1/consents", json=CONSENT, headers=auth).get_json()
    before = row_counts(runtime)
    response = raw_json(http, f"/v1/consents/{consent['consent_id']}/withdraw", json.dumps({"reason": "moved\u0000away"}), auth)
    assert assert_refused(response)["errors"] == {"body.reason": ["contains a NUL or an unpaired surrogate character"]}
    assert row_counts(runtime) == before
    listed = http.get("/v1/consents?child_ref=child", headers=auth).get_json()
    assert [c["status"] for c in listed["items"] if c["consent_id"] == consent["consent_id"]] == ["active"]


def test_an_expiry_that_overflows_in_utc_is_4xx_and_writes_nothing(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    before = row_counts(runtime)
    for expires_at in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        response = http.post("/v1/consents", json={**CONSENT, "expires_at": expires_at}, headers=auth)
        assert 400 <= response.status_code < 500, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
    assert row_counts(runtime) == before


@pytest.mark.parametrize(
    "path",
    [
        "/v1/audit/consent-log?tenant=a%00b",
        "/v1/reports/summary?tenant=a%00b",
        "/v1/consents?child_ref=%00",
        "/v1/audit/consent-log?tenant=%ED%A0%80",  # an encoded surrogate: not UTF-8
        "/v1/audit/consent-log?tenant=%FF",
    ],
)
def test_a_nul_or_non_utf8_query_parameter_is_400(http, auth, path: str) -> None:  # type: ignore[no-untyped-def]
    problem = assert_refused(http.get(path, headers=auth))
    assert list(problem["errors"])[0].startswith("query")


@pytest.mark.parametrize(
    "path", ["/v1/audit/consent-log?tenant=a&tenant=b", "/v1/consents?child_ref=a&child_ref=a", "/healthz?x=1&x=2"]
)
def test_a_repeated_query_parameter_is_refused_not_first_wins(http, auth, path: str) -> None:  # type: ignore[no-untyped-def]
    problem = assert_refused(http.get(path, headers=auth))
    assert "repeated" in next(iter(problem["errors"].values()))[0]


@pytest.mark.parametrize(
    ("headers", "where"),
    [
        ({"X-Note": "a\x00b"}, "header.X-Note"),
        ({"User-Agent": "\x00"}, "header.User-Agent"),
        ({"Content-Type": "application/json\x00"}, "header.Content-Type"),
    ],
)
def test_a_nul_in_any_header_field_is_400_naming_the_field(http, auth, headers, where) -> None:  # type: ignore[no-untyped-def]
    problem = assert_refused(http.get("/v1/consents?child_ref=c", headers={**auth, **headers}))
    assert list(problem["errors"]) == [where]


# (non-UTF-8 paths never reach the app through Werkzeug's test client, which replaces the
# bytes; tests/integration/test_serving.py sends them raw to gunicorn)
@pytest.mark.parametrize("path", ["/v1/subjects/a%00b", "/v1/consents/%00/withdraw"])
def test_a_nul_in_the_path_is_400(http, auth, path: str) -> None:  # type: ignore[no-untyped-def]
    assert list(assert_refused(http.get(path, headers=auth))["errors"]) == ["path"]


def test_a_nul_in_the_oauth_client_id_is_400_invalid_request_and_unauthenticated(http, runtime) -> None:  # type: ignore[no-untyped-def]
    before = row_counts(runtime)
    response = http.post(
        "/oauth/token",
        data="grant_type=client_credentials&client_id=a%00b&client_secret=x",
        content_type="application/x-www-form-urlencoded",
    )
    problem = assert_refused(response)
    assert problem["error"] == "invalid_request"
    assert problem["errors"] == {"form.client_id": ["contains a NUL or an unpaired surrogate character"]}
    assert row_counts(runtime) == before


@pytest.mark.parametrize(
    "credentials",
    [
        b"\xff\xfe:secret",  # not UTF-8
        b"client:\xc3",  # truncated UTF-8
        b"a\x00b:secret",  # NUL
        b"a%00b:secret",  # NUL once percent-decoded (RFC 6749 2.3.1)
        b"a%FFb:secret",
    ],
)
def test_non_utf8_or_nul_basic_credentials_are_400_not_500(http, runtime, credentials: bytes) -> None:  # type: ignore[no-untyped-def]
    before = row_counts(runtime)
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(credentials).decode()},
    )
    assert assert_refused(response)["error"] == "invalid_request"
    assert row_counts(runtime) == before


def test_basic_credentials_that_are_not_base64_are_400(http) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic **"})
    assert assert_refused(response)["errors"] == {"header.Authorization": ["Basic credentials are not base64"]}


def test_a_form_body_with_raw_non_ascii_bytes_is_400(http) -> None:  # type: ignore[no-untyped-def]
    response = http.post(
        "/oauth/token", data=b"grant_type=client_credentials&client_id=\xff", content_type="application/x-www-form-urlencoded"
    )
    assert_refused(response)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_a_json_body_in_utf16_utf32_or_with_a_bom_is_refused(http, auth, family, runtime, encoding: str) -> None:  # type: ignore[no-untyped-def]
    before = row_counts(runtime)
    response = raw_json(http, "/v1/consents", json.dumps(CONSENT), auth, encoding=encoding)
    assert_refused(response)
    assert row_counts(runtime) == before


def test_a_json_body_declaring_another_charset_is_415(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    response = http.post(
        "/v1/consents", data=json.dumps(CONSENT).encode("utf-16"), headers={**auth, "Content-Type": "application/json; charset=utf-16"}
    )
    assert_refused(response, 415)


def test_valid_unicode_still_passes_the_edge(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    # a paired surrogate escape is one real character (U+1F600), and CJK is ordinary text
    text = json.dumps({**CONSENT, "evidence_ref": "家长-\U0001F600", "notice_version": "隐私政策-v3"})
    assert "\\ud83d\\ude00" in text
    response = raw_json(http, "/v1/consents", text, auth)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["evidence_ref"] == "家长-\U0001F600"
