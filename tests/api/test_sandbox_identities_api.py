"""GET /v1/sandbox/identities and resident IDs in sandbox tenants (CONTRACT §15): ready-made
identities on the tenant's clock; any checksum-valid resident ID accepted in a sandbox, and
production's checks unchanged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from service.domain.evidence import resident_id_check_character
from service.store import sandbox as sandbox_store
from service.store.db import transaction
from tests.conftest import ALL_SCOPES

SANDBOX = "try-app"
BRACKETS = {
    "turns-14-tomorrow": "under_14",
    "child-10": "under_14",
    "child-13-refused": "under_14",
    "minor-16": "minor",
    "turns-18-next-week": "minor",
    "adult-guardian": "adult",
    "older-68": "older",
    "turns-60-in-30-days": "adult",
}


@pytest.fixture
def sandbox(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES, tenant=SANDBOX, sandbox=True)


@pytest.fixture
def production(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def identities(http: Any, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = http.get("/v1/sandbox/identities", headers=auth)
    assert response.status_code == 200, response.get_json()
    return {item["name"]: item for item in response.get_json()["items"]}


def register(http: Any, auth: dict[str, str], ref: str, resident_id: str) -> Any:
    return http.post(
        "/v1/subjects", json={"subject_ref": ref, "evidence": {"method": "resident_id", "resident_id": resident_id}}, headers=auth
    )


def test_the_identities_are_documented_and_each_registers_in_its_bracket(http, sandbox) -> None:  # type: ignore[no-untyped-def]
    listed = identities(http, sandbox)
    assert {name: item["age_bracket"] for name, item in listed.items()} == BRACKETS
    for name, item in listed.items():
        assert item["resident_id"].startswith("99")
        registered = register(http, sandbox, name, item["resident_id"])
        assert registered.status_code == 201, registered.get_json()
        assert registered.get_json()["age_bracket"] == item["age_bracket"] and registered.get_json()["assurance"] == "document"
        assert registered.get_json()["bracket_valid_until"] == item["bracket_changes_at"]
    assert listed["turns-14-tomorrow"]["bracket_changes_at"] == "2026-11-28T00:00:00+08:00"  # the test clock: 2026-11-27 11:00 there


def test_the_identities_follow_the_tenants_clock(http, sandbox, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    before = identities(http, sandbox)
    with transaction(runtime.sessions) as session:
        sandbox_store.advance_clock(session, SANDBOX, timedelta(days=1))
    response = http.get("/v1/sandbox/identities", headers=sandbox).get_json()
    assert datetime.fromisoformat(response["as_of"]) == clock() + timedelta(days=1)
    after = {item["name"]: item for item in response["items"]}
    assert after["turns-14-tomorrow"]["bracket_changes_at"] == "2026-11-29T00:00:00+08:00"
    assert after["turns-14-tomorrow"]["birth_date"] == "2012-11-28" != before["turns-14-tomorrow"]["birth_date"]


def test_a_production_client_gets_no_identities(http, production) -> None:  # type: ignore[no-untyped-def]
    refused = http.get("/v1/sandbox/identities", headers=production)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"


def test_production_refuses_every_ready_made_identity(http, sandbox, production) -> None:  # type: ignore[no-untyped-def]
    for name, item in identities(http, sandbox).items():
        refused = register(http, production, name, item["resident_id"])
        assert refused.status_code == 422, name
        assert refused.get_json()["reason"] == "region"


def _checksummed(first17: str) -> str:
    return first17 + resident_id_check_character(first17)


@pytest.mark.parametrize("region", ["000000", "990000", "560101", "770000"])
def test_a_sandbox_accepts_any_checksum_valid_resident_id(http, sandbox, production, region) -> None:  # type: ignore[no-untyped-def]
    number = _checksummed(f"{region}19840406123")
    accepted = register(http, sandbox, "u-1", number)
    assert accepted.status_code == 201 and accepted.get_json()["assurance"] == "document"
    refused = register(http, production, "u-1", number)
    assert refused.status_code == 422 and refused.get_json()["reason"] == "region"


def test_a_sandbox_still_refuses_what_is_no_resident_id_at_all(http, sandbox) -> None:  # type: ignore[no-untyped-def]
    good = _checksummed("99000019840406123")
    wrong_check = good[:17] + ("1" if good[17] != "1" else "2")
    assert register(http, sandbox, "u-1", wrong_check).get_json()["reason"] == "check_character"
    assert register(http, sandbox, "u-1", _checksummed("99000019841306123")).get_json()["reason"] == "birth_date"
    future = register(http, sandbox, "u-1", _checksummed("99000020991231123"))
    assert future.status_code == 422 and future.get_json()["reason"] == "in_future"


def test_a_sandbox_may_register_one_identity_for_many_subjects_and_production_may_not(http, sandbox, production) -> None:  # type: ignore[no-untyped-def]
    adult = identities(http, sandbox)["adult-guardian"]["resident_id"]
    assert register(http, sandbox, "guardian-1", adult).status_code == 201
    assert register(http, sandbox, "guardian-2", adult).status_code == 201
    real = "11010219840406970X"
    assert register(http, production, "guardian-1", real).status_code == 201
    duplicate = register(http, production, "guardian-2", real)
    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "duplicate_resident_id"
