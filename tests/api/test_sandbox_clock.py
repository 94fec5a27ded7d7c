"""/v1/sandbox/clock and the caller's tenant clock in every view (CONTRACT §15, issue 15 item 2)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from tests.api.test_openapi import check
from tests.conftest import START

CLOCK = "/v1/sandbox/clock"
# turns 14 as 2026-11-28 begins in Asia/Shanghai, the day after START's civil date
TURNING_14 = {"subject_ref": "kid", "evidence": {"method": "self_declared", "birth_date": "2012-11-27"}}


def claims_of(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def sandbox(api):  # type: ignore[no-untyped-def]
    return api.bearer("subjects:read", "subjects:write", "tokens:issue", tenant="try-app", sandbox=True)


def test_a_sandbox_clients_clock_starts_at_the_real_time_and_moves_forward(http, sandbox) -> None:  # type: ignore[no-untyped-def]
    assert check(http.get(CLOCK, headers=sandbox), "GET", CLOCK) == {
        "tenant": "try-app", "now": START.isoformat().replace("+00:00", ".000000Z"), "offset_seconds": 0,
    }
    moved = check(http.post(CLOCK, json={"advance": "P1DT2H"}, headers=sandbox), "POST", CLOCK)
    assert moved["offset_seconds"] == 26 * 3600
    assert datetime.fromisoformat(moved["now"]) == START + timedelta(hours=26)
    assert check(http.get(CLOCK, headers=sandbox), "GET", CLOCK) == moved


def test_calendar_years_and_months_land_on_the_same_civil_time(http, sandbox) -> None:  # type: ignore[no-untyped-def]
    moved = check(http.post(CLOCK, json={"advance": "P1Y3M"}, headers=sandbox), "POST", CLOCK)
    assert datetime.fromisoformat(moved["now"]) == START.replace(year=2028, month=2)


@pytest.mark.parametrize("advance", ["P0D", "PT0S", "-P1D", "P0.5D", "1D", "P", "PT", "P1DT", "P11Y", "P3654D", "p1d"])
def test_a_step_that_is_not_forward_whole_and_at_most_ten_years_is_refused(http, sandbox, advance) -> None:  # type: ignore[no-untyped-def]
    refused = check(http.post(CLOCK, json={"advance": advance}, headers=sandbox), "POST", CLOCK)
    assert refused["status"] == 422
    assert check(http.get(CLOCK, headers=sandbox), "GET", CLOCK)["offset_seconds"] == 0


def test_ten_years_in_one_call_is_allowed(http, sandbox) -> None:  # type: ignore[no-untyped-def]
    assert check(http.post(CLOCK, json={"advance": "P10Y"}, headers=sandbox), "POST", CLOCK)["offset_seconds"] > 0


def test_a_production_client_cannot_read_or_move_a_clock(http, api) -> None:  # type: ignore[no-untyped-def]
    live = api.bearer("subjects:read", "subjects:write", tenant="live-app")
    for answer, method in ((http.get(CLOCK, headers=live), "GET"), (http.post(CLOCK, json={"advance": "P1D"}, headers=live), "POST")):
        problem = check(answer, method, CLOCK)
        assert problem["status"] == 403 and problem["type"] == "urn:agegate:problem:sandbox-only"
        assert "production tenant" in problem["detail"]


def test_the_clock_needs_the_subjects_scopes(http, api) -> None:  # type: ignore[no-untyped-def]
    verifier_only = api.bearer("tokens:verify", tenant="try-app", sandbox=True)
    assert check(http.post(CLOCK, json={"advance": "P1D"}, headers=verifier_only), "POST", CLOCK)["type"].endswith(":forbidden")


def test_brackets_tokens_and_subject_views_follow_the_sandbox_clock_and_production_stays(http, api, sandbox) -> None:  # type: ignore[no-untyped-def]
    live = api.bearer("subjects:read", "subjects:write", "tokens:issue", tenant="live-app")
    for bearer in (sandbox, live):
        assert http.post("/v1/subjects", json=TURNING_14, headers=bearer).get_json()["age_bracket"] == "under_14"

    check(http.post(CLOCK, json={"advance": "P1D"}, headers=sandbox), "POST", CLOCK)

    assert http.get("/v1/subjects/kid", headers=sandbox).get_json()["age_bracket"] == "minor"
    token = http.post("/v1/tokens", json={"subject_ref": "kid", "audience": "persona-try-app"}, headers=sandbox).get_json()
    assert token["age_bracket"] == "minor"
    assert claims_of(token["token"])["iat"] == int((START + timedelta(days=1)).timestamp())

    assert http.get("/v1/subjects/kid", headers=live).get_json()["age_bracket"] == "under_14"
    live_token = http.post("/v1/tokens", json={"subject_ref": "kid", "audience": "persona-live-app"}, headers=live).get_json()
    assert live_token["age_bracket"] == "under_14"
    assert claims_of(live_token["token"])["iat"] == int(START.timestamp())


GUARDIAN = {"subject_ref": "mum", "evidence": {"method": "resident_id", "resident_id": "11010519491231002X"}}
REQUEST = {
    "child_ref": "kid",
    "guardian_ref": "mum",
    "relationship": "parent",
    "scopes": ["pi_processing"],
    "notice": {"version": "v1", "url": "https://app.example/notice"},
    "child_label": "Kid",
    "expires_in": 3600,
}


def test_consent_requests_and_their_hosted_page_expire_on_the_sandbox_clock(http, api) -> None:  # type: ignore[no-untyped-def]
    sandbox = api.bearer("subjects:write", "consent:write", "consent:read", tenant="try-app", sandbox=True)
    for subject in (TURNING_14, GUARDIAN):
        http.post("/v1/subjects", json=subject, headers=sandbox)
    created = http.post("/v1/consent-requests", json=REQUEST, headers=sandbox).get_json()
    page = created["consent_url"].split("agegate.test", 1)[1]
    assert http.get(page).status_code == 200

    http.post(CLOCK, json={"advance": "PT2H"}, headers=sandbox)

    assert http.get(f"/v1/consent-requests/{created['request_id']}", headers=sandbox).get_json()["status"] == "expired"
    assert http.get(page).status_code == 410
    assert http.get(page + "/qr.svg").status_code == 410


def test_consent_expiry_given_by_the_app_is_judged_on_the_sandbox_clock(http, api) -> None:  # type: ignore[no-untyped-def]
    sandbox = api.bearer("subjects:write", "consent:write", tenant="try-app", sandbox=True)
    http.post(CLOCK, json={"advance": "P30D"}, headers=sandbox)
    young = {"subject_ref": "kid", "evidence": {"method": "self_declared", "birth_date": "2016-03-01"}}
    for subject in (young, GUARDIAN):
        http.post("/v1/subjects", json=subject, headers=sandbox)
    consent = {
        "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"],
        "method": "in_app_parent_account", "evidence_ref": "e", "notice_version": "v1",
    }
    # a week after the real time is already past in the tenant's time
    past = (START + timedelta(days=7)).isoformat()
    refused = http.post("/v1/consents", json={**consent, "expires_at": past}, headers=sandbox)
    assert refused.status_code == 422 and "expires_at" in refused.get_json()["errors"]
    future = (START + timedelta(days=31)).isoformat()
    assert http.post("/v1/consents", json={**consent, "expires_at": future}, headers=sandbox).status_code == 201


def test_moving_one_sandbox_tenants_clock_leaves_another_sandbox_tenants_alone(http, api, sandbox) -> None:  # type: ignore[no-untyped-def]
    other = api.bearer("subjects:read", tenant="other-try-app", sandbox=True)
    http.post(CLOCK, json={"advance": "P3D"}, headers=sandbox)
    assert check(http.get(CLOCK, headers=other), "GET", CLOCK)["offset_seconds"] == 0
