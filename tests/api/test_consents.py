"""Guardian consent (CONTRACT §7, POLICY.md "Guardian consent")."""

from __future__ import annotations

import pytest

from tests.conftest import ALL_SCOPES

GUARDIAN_ID = "11010219840406970X"  # born 1984-04-06: adult
OLDER_ID = "11010519491231002X"  # born 1949-12-31: older


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def subject(http, auth, ref, **evidence):  # type: ignore[no-untyped-def]
    response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


@pytest.fixture
def family(http, auth):  # type: ignore[no-untyped-def]
    subject(http, auth, "child", method="self_declared", birth_date="2016-03-01")  # under_14
    subject(http, auth, "teen", method="self_declared", birth_date="2010-01-01")  # minor
    subject(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_ID)  # adult, document
    subject(http, auth, "grandpa", method="resident_id", resident_id=OLDER_ID)  # older, document
    subject(http, auth, "weak-parent", method="self_declared", birth_date="1985-01-01")  # adult, self_declared
    subject(http, auth, "adult2", method="self_declared", birth_date="1990-01-01")


def consent_body(**overrides):  # type: ignore[no-untyped-def]
    body = {
        "child_ref": "child",
        "guardian_ref": "parent",
        "relationship": "parent",
        "scopes": ["pi_processing", "companion"],
        "method": "in_app_parent_account",
        "evidence_ref": "ev-1",
        "notice_version": "privacy-notice-v3",
        "expires_at": None,
    }
    body.update(overrides)
    return body


def grant(http, auth, headers=None, **overrides):  # type: ignore[no-untyped-def]
    return http.post("/v1/consents", json=consent_body(**overrides), headers={**auth, **(headers or {})})


def test_a_parent_with_document_assurance_grants_consent_for_an_under_14(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    response = grant(http, auth)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "active"
    assert body["scopes"] == ["pi_processing", "companion"]
    assert body["policy"] == "2026-07-15.2"
    assert body["notice_version"] == "privacy-notice-v3"


def test_an_older_guardian_may_consent(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert grant(http, auth, guardian_ref="grandpa", relationship="legal_guardian").status_code == 201


@pytest.mark.parametrize(
    "overrides, rule",
    [
        ({"child_ref": "adult2", "scopes": ["paid_interaction"]}, "child_not_minor"),
        ({"guardian_ref": "teen"}, "guardian_not_adult"),
        ({"guardian_ref": "weak-parent"}, "guardian_assurance_too_low"),
        ({"child_ref": "parent", "guardian_ref": "parent"}, "child_not_minor"),
    ],
)
def test_consent_rules_refuse_with_422_naming_the_rule(http, auth, family, overrides, rule) -> None:  # type: ignore[no-untyped-def]
    response = grant(http, auth, **overrides)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["rule"] == rule


def test_virtual_intimacy_can_never_be_consented_and_the_answer_names_the_rule_and_basis(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    for child in ("child", "teen"):
        response = grant(http, auth, child_ref=child, scopes=["virtual_intimacy"])
        assert response.status_code == 422
        problem = response.get_json()
        assert problem["rule"] == "minor_ban" and "Art. 14" in problem["basis"]
        assert problem["category"] == "virtual_intimacy"


def test_a_minor_can_only_be_consented_for_paid_interaction(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert grant(http, auth, child_ref="teen", scopes=["paid_interaction"]).status_code == 201
    response = grant(http, auth, child_ref="teen", scopes=["companion"])
    assert response.status_code == 422
    assert response.get_json()["category"] == "companion"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"relationship": "uncle"}, "relationship"),
        ({"scopes": []}, "scopes"),
        ({"scopes": "companion"}, "scopes"),
        ({"scopes": ["companion", "companion"]}, "scopes"),
        ({"scopes": ["telepathy"]}, None),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"evidence_ref": ""}, "evidence_ref"),
        ({"notice_version": "x" * 65}, "notice_version"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_consent_bodies_are_422(http, auth, family, overrides, field) -> None:  # type: ignore[no-untyped-def]
    response = grant(http, auth, **overrides)
    assert response.status_code == 422, response.get_json()
    if field is not None:
        assert field in response.get_json()["errors"]


def test_a_missing_child_or_guardian_is_404(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert grant(http, auth, child_ref="nobody").status_code == 404
    assert grant(http, auth, guardian_ref="nobody").status_code == 404


def test_consent_across_tenants_is_404(http, api, auth, family) -> None:  # type: ignore[no-untyped-def]
    other = api.bearer(*ALL_SCOPES, tenant="tenant-b")
    assert grant(http, other).status_code == 404


def test_withdrawal_is_one_call_and_idempotent(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    consent_id = grant(http, auth).get_json()["consent_id"]
    first = http.post(f"/v1/consents/{consent_id}/withdraw", json={"reason": "changed my mind"}, headers=auth)
    assert first.status_code == 200
    assert first.get_json()["status"] == "withdrawn"
    again = http.post(f"/v1/consents/{consent_id}/withdraw", json={}, headers=auth)
    assert again.status_code == 200 and again.get_json()["status"] == "withdrawn"


def test_withdrawing_an_unknown_consent_is_404(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert http.post("/v1/consents/nope/withdraw", json={}, headers=auth).status_code == 404


def test_an_expired_consent_lists_as_expired_and_cannot_be_withdrawn(http, auth, family, clock) -> None:  # type: ignore[no-untyped-def]
    consent_id = grant(http, auth, expires_at="2026-12-01T00:00:00Z").get_json()["consent_id"]
    clock.advance(days=5)
    items = http.get("/v1/consents?child_ref=child", headers=auth).get_json()["items"]
    assert [(i["consent_id"], i["status"]) for i in items] == [(consent_id, "expired")]
    response = http.post(f"/v1/consents/{consent_id}/withdraw", json={}, headers=auth)
    assert response.status_code == 409


def test_listing_shows_each_consent_shaped_like_the_grant_answer(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    granted = grant(http, auth).get_json()
    listed = http.get("/v1/consents?child_ref=child", headers=auth).get_json()["items"]
    assert listed == [granted]


def test_listing_needs_a_child_ref(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/v1/consents", headers=auth).status_code == 422


def test_the_subject_view_lists_consents_for_child_and_guardian(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    consent_id = grant(http, auth).get_json()["consent_id"]
    child = http.get("/v1/subjects/child", headers=auth).get_json()
    parent = http.get("/v1/subjects/parent", headers=auth).get_json()
    assert child["consents"] == [{"consent_id": consent_id, "scopes": ["pi_processing", "companion"], "status": "active", "role": "child"}]
    assert parent["consents"][0]["role"] == "guardian"


def test_the_same_idempotency_key_and_body_replays_the_first_answer(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    first = grant(http, auth, headers={"Idempotency-Key": "k-1"})
    second = grant(http, auth, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json() == second.get_json()
    assert len(http.get("/v1/consents?child_ref=child", headers=auth).get_json()["items"]) == 1


def test_the_same_idempotency_key_with_another_body_is_409(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    grant(http, auth, headers={"Idempotency-Key": "k-1"})
    response = grant(http, auth, headers={"Idempotency-Key": "k-1"}, evidence_ref="ev-2")
    assert response.status_code == 409
    assert response.get_json()["code"] == "idempotency_key_reused"


def test_idempotency_keys_older_than_48_hours_are_swept_by_a_later_write(http, auth, family, clock) -> None:  # type: ignore[no-untyped-def]
    first = grant(http, auth, headers={"Idempotency-Key": "k-old"})
    clock.advance(hours=49)
    grant(http, auth, headers={"Idempotency-Key": "k-new"}, evidence_ref="ev-2")  # its write sweeps k-old
    again = grant(http, auth, headers={"Idempotency-Key": "k-old"})
    assert again.status_code == 201
    assert again.get_json()["consent_id"] != first.get_json()["consent_id"]  # a new write, not a replay


def test_idempotency_keys_are_per_client(http, api, auth, family) -> None:  # type: ignore[no-untyped-def]
    other_client = api.bearer(*ALL_SCOPES)
    grant(http, auth, headers={"Idempotency-Key": "k-1"})
    assert grant(http, other_client, headers={"Idempotency-Key": "k-1"}).status_code == 201
    assert len(http.get("/v1/consents?child_ref=child", headers=auth).get_json()["items"]) == 2


def test_a_failed_request_does_not_burn_its_idempotency_key(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    assert grant(http, auth, headers={"Idempotency-Key": "k-1"}, guardian_ref="weak-parent").status_code == 422
    assert grant(http, auth, headers={"Idempotency-Key": "k-1"}, guardian_ref="weak-parent").status_code == 422


def test_withdrawal_honours_idempotency_keys_too(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    consent_id = grant(http, auth).get_json()["consent_id"]
    url = f"/v1/consents/{consent_id}/withdraw"
    first = http.post(url, json={"reason": "r"}, headers={**auth, "Idempotency-Key": "w-1"})
    assert http.post(url, json={"reason": "other"}, headers={**auth, "Idempotency-Key": "w-1"}).status_code == 409
    assert http.post(url, json={"reason": "r"}, headers={**auth, "Idempotency-Key": "w-1"}).get_json() == first.get_json()


def test_erasing_the_guardian_ends_the_consent(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    grant(http, auth)
    assert http.delete("/v1/subjects/parent", headers=auth).status_code == 204
    items = http.get("/v1/consents?child_ref=child", headers=auth).get_json()["items"]
    assert items[0]["status"] == "withdrawn" and items[0]["ended_by"] == "subject_erased"
