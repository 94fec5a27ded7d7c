"""POST/GET /v1/consent-requests and the manage link (CONTRACT §12)."""

from __future__ import annotations

import json

from sqlalchemy import select

from service.store.models import ConsentLogEntry, ConsentRequest, IdempotencyRecord
from service.store.db import transaction
from tests.guardian.conftest import ask, request_body


def test_a_request_is_created_pending_with_a_link_a_qr_code_and_a_six_digit_code(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    assert created["status"] == "pending"
    assert created["consent_url"].startswith("https://agegate.test/guardian/r/")
    assert created["qr_code_url"] == created["consent_url"] + "/qr.svg"
    assert len(created["guardian_code"]) == 6 and created["guardian_code"].isdigit()
    assert created["expires_at"] == "2026-11-30T03:00:00.000000Z"  # 3 days after the test clock

    read = http.get(f"/v1/consent-requests/{created['request_id']}", headers=auth).get_json()
    assert read["status"] == "pending" and read["consent_id"] is None
    assert read["scopes"] == ["pi_processing", "companion", "paid_interaction"]

    with transaction(runtime.sessions) as session:
        stored = session.get(ConsentRequest, created["request_id"])
        token = created["consent_url"].rsplit("/", 1)[1]
        # the link token (>= 128 bits) and the code are kept only as keyed hashes, the label sealed
        assert len(token) == 43
        assert token not in stored.link_hash and created["guardian_code"] not in stored.code_hash
        assert "小明".encode() not in stored.child_label_enc
        logged = [json.loads(e) for e in session.scalars(select(ConsentLogEntry.event).where(ConsentLogEntry.tenant == "tenant-a"))]
    assert [e["type"] for e in logged] == ["consent_request_created"]
    assert logged[0]["request_id"] == created["request_id"]


def test_the_rules_of_section_7_decide_what_may_be_asked(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    banned = http.post("/v1/consent-requests", json=request_body(scopes=["virtual_intimacy"]), headers=auth)
    assert banned.status_code == 422 and banned.get_json()["rule"] == "minor_ban"
    backwards = http.post("/v1/consent-requests", json=request_body(child_ref="parent", guardian_ref="child"), headers=auth)
    assert backwards.status_code == 422 and backwards.get_json()["rule"] == "child_not_minor"
    unknown = http.post("/v1/consent-requests", json=request_body(guardian_ref="nobody"), headers=auth)
    assert unknown.status_code == 404
    invalid = http.post("/v1/consent-requests", json=request_body(locale="fr", child_label=""), headers=auth)
    assert invalid.status_code == 422 and {"locale", "child_label"} <= set(invalid.get_json()["errors"])


def test_the_same_idempotency_key_replays_the_first_answer_and_keeps_its_secrets_sealed(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    headers = {**auth, "Idempotency-Key": "ask-1"}
    first = http.post("/v1/consent-requests", json=request_body(), headers=headers)
    again = http.post("/v1/consent-requests", json=request_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    other = http.post("/v1/consent-requests", json=request_body(child_label="另一个"), headers=headers)
    assert other.status_code == 409
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(ConsentRequest.request_id).where(ConsentRequest.tenant == "tenant-a")) is not None
        assert len(session.scalars(select(ConsentRequest)).all()) == 1
        stored = session.scalars(select(IdempotencyRecord.response_body)).one()
    assert first.get_json()["guardian_code"] not in stored
    assert first.get_json()["consent_url"].rsplit("/", 1)[1] not in stored


def test_a_manage_link_is_issued_only_for_a_completed_request(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    early = http.post(f"/v1/consent-requests/{created['request_id']}/manage-link", headers=auth)
    assert early.status_code == 409 and early.get_json()["code"] == "consent_request_not_completed"
    assert http.post("/v1/consent-requests/no-such/manage-link", headers=auth).status_code == 404


def test_another_tenant_cannot_read_the_request(http, auth, api, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    other = api.bearer("consent:read", tenant="tenant-b")
    assert http.get(f"/v1/consent-requests/{created['request_id']}", headers=other).status_code == 404
