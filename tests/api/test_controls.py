"""Limits in tokens, guardian controls, tenant policy and decision provenance (CONTRACT §13)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.flows.policies import TenantPolicyInstall, install_tenant_policy
from tests.api.test_tokens import GUARDIAN_ID, issue, offline_verifier, register, segment
from tests.conftest import ALL_SCOPES


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


@pytest.fixture
def family(http, auth):  # type: ignore[no-untyped-def]
    register(http, auth, "kid", method="self_declared", birth_date="2016-05-01")  # 10 on START
    register(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)


def claims(http, auth, ref):  # type: ignore[no-untyped-def]
    return segment(issue(http, auth, ref)["token"], 1)


def put_controls(http, auth, child="kid", **controls):  # type: ignore[no-untyped-def]
    return http.put(f"/v1/subjects/{child}/controls", json={"guardian_ref": "mum", **controls}, headers=auth)


@pytest.mark.parametrize(
    ("birth_date", "limits"),
    [
        ("2019-01-01", {"daily_minutes": 40, "single_payment_max_cny": 50, "monthly_payment_max_cny": 200}),  # 7
        ("2016-05-01", {"daily_minutes": 60, "single_payment_max_cny": 50, "monthly_payment_max_cny": 200}),  # 10
        ("2011-06-01", {"daily_minutes": 60, "single_payment_max_cny": 50, "monthly_payment_max_cny": 200}),  # 15
        ("2009-06-01", {"daily_minutes": 120, "single_payment_max_cny": 100, "monthly_payment_max_cny": 400}),  # 17
    ],
)
def test_a_minors_token_carries_the_limits_of_its_age_band(http, auth, birth_date, limits) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "child", method="self_declared", birth_date=birth_date)
    assert claims(http, auth, "child")["limits"] == {**limits, "curfew": {"start": "22:00", "end": "06:00"}}


def test_an_adults_token_has_no_limits_claim(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "grown", method="self_declared", birth_date="1990-01-01")
    assert "limits" not in claims(http, auth, "grown")


def test_a_token_expires_when_the_child_enters_the_next_limit_band(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "seven", method="self_declared", birth_date="2018-11-27")  # 8 from 2026-11-28 00:00 +08:00
    clock.advance(hours=12, minutes=30)  # 15:30Z: the band changes before iat + ttl
    exp = claims(http, auth, "seven")["exp"]
    assert exp == int(clock().replace(hour=16, minute=0).timestamp())  # 2026-11-27T16:00Z


def test_a_guardian_lowers_minutes_and_blocks_a_category_and_offline_verifiers_see_it(http, auth, family, clock) -> None:  # type: ignore[no-untyped-def]
    grant = http.post(
        "/v1/consents",
        json={"child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing", "companion", "digital_human"],
              "method": "in_app_parent_account", "evidence_ref": "e", "notice_version": "v3", "expires_at": None},
        headers=auth,
    )
    assert grant.status_code == 201
    before = issue(http, auth, "kid")["token"]
    verifier = offline_verifier(http, clock)
    assert verifier.gate(before, "digital_human").allowed

    answer = put_controls(http, auth, daily_minutes=30, curfew={"start": "21:00", "end": "07:00"}, blocked_categories=["digital_human"])
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["limits"]["daily_minutes"] == 30 and body["limits"]["curfew"] == {"start": "21:00", "end": "07:00"}
    assert body["controls"]["blocked_categories"] == ["digital_human"] and body["set_by"] == "mum"

    after = claims(http, auth, "kid")
    assert after["limits"]["daily_minutes"] == 30
    assert after["features"]["digital_human"] == {"decision": "deny", "reason": "guardian_blocked"}
    assert after["features"]["companion"]["decision"] == "allow"
    clock.advance(seconds=61)  # one status-list TTL: the old token's bit is set
    assert not verifier.gate(before, "companion").allowed


@pytest.mark.parametrize(
    ("controls", "limit"),
    [
        ({"daily_minutes": 61}, "daily_minutes"),
        ({"single_payment_max_cny": 51}, "single_payment_max_cny"),
        ({"curfew": {"start": "23:00", "end": "06:00"}}, "curfew"),
    ],
)
def test_loosening_past_the_default_is_422_naming_the_limit(http, auth, family, controls, limit) -> None:  # type: ignore[no-untyped-def]
    answer = put_controls(http, auth, **controls)
    assert answer.status_code == 422
    assert answer.get_json()["type"].endswith("limit-loosened") and answer.get_json()["limit"] == limit


def test_only_an_adult_guardian_with_document_assurance_sets_controls(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "stranger", method="self_declared", birth_date="1980-01-01")
    answer = http.put("/v1/subjects/kid/controls", json={"guardian_ref": "stranger", "daily_minutes": 10}, headers=auth)
    assert answer.status_code == 422 and answer.get_json()["rule"] == "guardian_assurance_too_low"


def test_blocking_an_unknown_category_is_422(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert put_controls(http, auth, blocked_categories=["gambling"]).status_code == 422


def test_a_controls_change_is_logged_for_the_regulator(http, api, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert put_controls(http, auth, daily_minutes=20).status_code == 200
    export = http.get("/v1/audit/consent-log?tenant=tenant-a", headers=auth)
    lines = [line for line in export.get_data(as_text=True).splitlines() if '"controls_changed"' in line]
    assert len(lines) == 1 and '"daily_minutes":20' in lines[0]


def test_reading_controls_shows_the_defaults_before_any_are_set(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    body = http.get("/v1/subjects/kid/controls", headers=auth).get_json()
    assert body["controls"] == {"blocked_categories": []} and body["limits"]["daily_minutes"] == 60 and body["set_by"] is None


def test_controls_of_another_tenants_child_are_404(http, api, auth, family) -> None:  # type: ignore[no-untyped-def]
    other = api.bearer(*ALL_SCOPES, tenant="tenant-b", audience="persona-b")
    assert http.get("/v1/subjects/kid/controls", headers=other).status_code == 404


def install(runtime, tenant, document):  # type: ignore[no-untyped-def]
    return runtime.run(install_tenant_policy, TenantPolicyInstall(tenant, document))


def test_a_tenant_policy_tightens_tokens_and_is_served_and_stamped(http, auth, runtime) -> None:  # type: ignore[no-untyped-def]
    installed = install(runtime, "tenant-a", {"rules": {"adult": {"paid_interaction": {"decision": "deny", "basis": "no payments here"}}},
                                              "limits": [{"min_age": 16, "max_age": 17, "daily_minutes": 90}]})
    assert installed.policy.version == "2026-07-15.2+tenant-a.1"
    register(http, auth, "grown", method="self_declared", birth_date="1990-01-01")
    register(http, auth, "teen", method="self_declared", birth_date="2009-06-01")
    grown = claims(http, auth, "grown")
    assert grown["policy"] == "2026-07-15.2+tenant-a.1"
    assert grown["features"]["paid_interaction"] == {"decision": "deny", "reason": "tenant_policy"}
    assert claims(http, auth, "teen")["limits"]["daily_minutes"] == 90
    served = http.get("/v1/policy?tenant=tenant-a").get_json()
    assert served["version"] == "2026-07-15.2+tenant-a.1"
    assert served["rules"]["adult"]["paid_interaction"]["decision"] == "deny"
    assert http.get("/v1/policy?tenant=tenant-b").get_json()["version"] == "2026-07-15.2"


def test_a_tenant_override_allowing_virtual_intimacy_for_minors_is_refused(runtime) -> None:  # type: ignore[no-untyped-def]
    from service.domain.errors import PolicyLoosened

    with pytest.raises(PolicyLoosened) as refused:
        install(runtime, "tenant-a", {"rules": {"minor": {"virtual_intimacy": {"decision": "allow", "basis": "we want it"}}}})
    assert refused.value.where == "rules.minor.virtual_intimacy.decision"


def test_a_guardian_cannot_loosen_past_the_tenants_tighter_limit(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    install(runtime, "tenant-a", {"limits": [{"min_age": 8, "max_age": 15, "daily_minutes": 45}]})
    answer = put_controls(http, auth, daily_minutes=50)
    assert answer.status_code == 422 and answer.get_json()["allowed"] == "45"


def decisions(http, auth, ref, at):  # type: ignore[no-untyped-def]
    answer = http.get(f"/v1/subjects/{ref}/decisions", query_string={"at": at.isoformat()}, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_provenance_replays_a_year_of_a_childs_history_against_the_tokens_issued_then(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    # The child turns 14 on 2027-03-01 (change at 2027-03-02 00:00 +08:00).
    register(http, auth, "kid", method="self_declared", birth_date="2013-03-01")
    register(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    issued: list[tuple[object, dict]] = []

    def snapshot() -> None:
        issued.append((clock(), claims(http, auth, "kid")))

    snapshot()  # registered, no consent
    clock.advance(days=10)
    grant = http.post(
        "/v1/consents",
        json={"child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing", "companion", "paid_interaction"],
              "method": "in_app_parent_account", "evidence_ref": "e", "notice_version": "v3", "expires_at": None},
        headers=auth,
    ).get_json()
    snapshot()
    clock.advance(days=30)
    assert put_controls(http, auth, daily_minutes=25, blocked_categories=["companion"]).status_code == 200
    snapshot()
    clock.advance(days=70)  # past the 14th birthday
    snapshot()
    clock.advance(days=100)
    assert http.post(f"/v1/consents/{grant['consent_id']}/withdraw", json={}, headers=auth).status_code == 200
    snapshot()
    clock.advance(days=150)
    snapshot()

    for at, token in issued:
        answer = decisions(http, auth, "kid", at + timedelta(seconds=1))
        assert answer["age_bracket"] == token["age_bracket"]
        assert answer["features"] == token["features"], at
        assert answer["limits"] == token.get("limits")
        assert answer["policy"] == token["policy"]
        assert sorted(c["consent_id"] for c in answer["consents"]) == sorted(token["consents"])
    during = decisions(http, auth, "kid", issued[2][0] + timedelta(seconds=1))
    assert during["consents"][0]["log_seq"] == 1 and during["controls"]["log_seq"] == 2
    assert during["controls"]["daily_minutes"] == 25


def test_provenance_before_registration_is_404(http, auth, family, clock) -> None:  # type: ignore[no-untyped-def]
    answer = http.get("/v1/subjects/kid/decisions", query_string={"at": (clock() - timedelta(days=1)).isoformat()}, headers=auth)
    assert answer.status_code == 404


def test_online_verification_and_the_offline_decision_carry_the_limits(http, api, auth, family, clock) -> None:  # type: ignore[no-untyped-def]
    token = issue(http, auth, "kid")["token"]
    verify_auth = api.bearer("tokens:verify")
    answer = http.post("/v1/tokens/verify", json={"token": token, "feature": "companion"}, headers=verify_auth).get_json()
    assert answer["limits"]["daily_minutes"] == 60
    assert offline_verifier(http, clock).gate(token, "companion").limits == answer["limits"]
