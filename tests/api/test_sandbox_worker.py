"""The worker on sandbox clocks (CONTRACT §15, §11): a sandbox tenant's bracket changes and
expiries follow its clock; a production tenant's follow the real one, whatever a sandbox does."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from service.store.models import ConsentLogEntry
from service.store.transactions import run_in_transaction
from service.worker import build_worker
from tests.api.test_sandbox_clock import GUARDIAN, REQUEST, TURNING_14
from tests.conftest import START

CLOCK = "/v1/sandbox/clock"
SCOPES = ("subjects:read", "subjects:write", "consent:write", "consent:read", "tokens:issue")
# 00:00 of 2026-11-28 in Asia/Shanghai: the child of TURNING_14 reaches 14
TURNED_14_AT = "2026-11-27T16:00:00.000000Z"


def events(runtime, tenant: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return run_in_transaction(
        runtime.sessions,
        lambda s: [
            json.loads(e)
            for e in s.scalars(select(ConsentLogEntry.event).where(ConsentLogEntry.tenant == tenant).order_by(ConsentLogEntry.seq))
        ],
    )


def consent_terms(expires_at: datetime) -> dict:
    return {
        "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"],
        "method": "in_app_parent_account", "evidence_ref": "e", "notice_version": "v1", "expires_at": expires_at.isoformat(),
    }


@pytest.fixture
def tenants(http, api):  # type: ignore[no-untyped-def]
    """The same family in a sandbox and a production tenant: a child turning 14 tomorrow, a
    consent ending in 12 hours and a consent request ending in an hour."""
    sandbox = api.bearer(*SCOPES, tenant="try-app", sandbox=True)
    live = api.bearer(*SCOPES, tenant="live-app")
    for bearer in (sandbox, live):
        for subject in (TURNING_14, GUARDIAN):
            assert http.post("/v1/subjects", json=subject, headers=bearer).status_code == 201
        assert http.post("/v1/consents", json=consent_terms(START + timedelta(hours=12)), headers=bearer).status_code == 201
        assert http.post("/v1/consent-requests", json=REQUEST, headers=bearer).status_code == 201
    return sandbox, live


def test_a_sandbox_day_logs_the_birthday_and_the_expiries_and_production_sees_nothing(http, runtime, tenants) -> None:  # type: ignore[no-untyped-def]
    sandbox, live = tenants
    worker = build_worker(runtime)
    worker.run_steps()
    live_before = events(runtime, "live-app")
    sandbox_before = events(runtime, "try-app")
    assert len(sandbox_before) == len(live_before)  # nothing due yet in either

    http.post(CLOCK, json={"advance": "P1D"}, headers=sandbox)
    worker.run_steps()

    new = [e for e in events(runtime, "try-app")[len(sandbox_before):]]
    assert [e["type"] for e in new if e["type"] == "bracket_changed"] == ["bracket_changed"]
    [change] = [e for e in new if e["type"] == "bracket_changed"]
    assert (change["subject_ref"], change["from_bracket"], change["to_bracket"]) == ("kid", "under_14", "minor")
    assert change["occurred_at"] == TURNED_14_AT
    assert {"expired", "consent_request_expired"} <= {e["type"] for e in new}

    worker.run_steps()  # once each, however often the worker passes
    assert len(events(runtime, "try-app")) == len(sandbox_before) + len(new)

    # the production tenant: same events, same brackets, same consents, same tokens as before
    assert events(runtime, "live-app") == live_before
    assert http.get("/v1/subjects/kid", headers=live).get_json()["age_bracket"] == "under_14"
    assert http.get("/v1/consents?child_ref=kid", headers=live).get_json()["items"][0]["status"] == "active"
    token = http.post("/v1/tokens", json={"subject_ref": "kid", "audience": "persona-chat-live-app"}, headers=live).get_json()
    assert token["age_bracket"] == "under_14"
    assert token["expires_at"] < "2026-11-27T16:00:00Z"  # ends at the real birthday's instant, as before


def test_a_sandbox_year_logs_every_change_it_passed_over_at_its_own_instant(http, runtime, api) -> None:  # type: ignore[no-untyped-def]
    sandbox = api.bearer(*SCOPES, tenant="try-app", sandbox=True)
    near_18 = {"subject_ref": "teen", "evidence": {"method": "self_declared", "birth_date": "2009-01-10"}}
    for subject in (TURNING_14, near_18):
        http.post("/v1/subjects", json=subject, headers=sandbox)
    http.post(CLOCK, json={"advance": "P1Y"}, headers=sandbox)
    build_worker(runtime).run_steps()
    changes = [(e["subject_ref"], e["to_bracket"], e["occurred_at"]) for e in events(runtime, "try-app") if e["type"] == "bracket_changed"]
    assert changes == [("kid", "minor", TURNED_14_AT), ("teen", "adult", "2027-01-10T16:00:00.000000Z")]
