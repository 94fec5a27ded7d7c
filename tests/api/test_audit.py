"""The regulator's consent-log export (CONTRACT §8)."""

from __future__ import annotations

import json

import pytest
from agegate_verifier.checkpoint import kept_checkpoint
from agegate_verifier.log import ExportInvalid, jwks_keys, verify_export

from service.auditlog.chain import GENESIS
from tests.conftest import ALL_SCOPES, ISSUER

GUARDIAN_ID = "11010219840406970X"


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


@pytest.fixture
def regulator(api):  # type: ignore[no-untyped-def]
    return api.regulator_bearer()


def subject(http, auth, ref, **evidence):  # type: ignore[no-untyped-def]
    assert http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth).status_code in (200, 201)


def grant(http, auth, child="kid", **extra):  # type: ignore[no-untyped-def]
    body = {"child_ref": child, "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"],
            "method": "in_app", "evidence_ref": "e", "notice_version": "v3", **extra}
    response = http.post("/v1/consents", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["consent_id"]


@pytest.fixture
def history(http, auth, clock):  # type: ignore[no-untyped-def]
    """granted, granted, withdrawn, expired, subject_erased, and the deletions each child's end owes."""
    subject(http, auth, "kid", method="self_declared", birth_date="2016-03-01")
    subject(http, auth, "kid2", method="self_declared", birth_date="2017-03-01")
    subject(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    first = grant(http, auth)
    clock.advance(minutes=1)
    grant(http, auth, child="kid2", expires_at="2026-11-27T03:30:00Z")
    clock.advance(minutes=1)
    http.post(f"/v1/consents/{first}/withdraw", json={"reason": "r"}, headers=auth)
    clock.advance(hours=1)
    http.get("/v1/consents?child_ref=kid2", headers=auth)  # lazily records the expiry
    grant(http, auth, child="kid2")
    http.delete("/v1/subjects/kid2", headers=auth)
    return first


def export(http, headers, **params):  # type: ignore[no-untyped-def]
    response = http.get("/v1/audit/consent-log", query_string={"tenant": "tenant-a", **params}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/x-ndjson"
    return response.get_data().splitlines()


def test_the_export_holds_every_event_type_in_seq_order_and_verifies(http, regulator, history) -> None:  # type: ignore[no-untyped-def]
    lines = export(http, regulator)
    events = [json.loads(line) for line in lines[:-1]]
    assert [e["event"]["type"] for e in events] == [
        "granted", "granted", "withdrawn", "deletion_required", "expired", "deletion_required",
        "granted", "subject_erased", "deletion_required",
    ]
    assert [e["event"].get("cause") for e in events if e["event"]["type"] == "deletion_required"] == [
        "withdrawn", "expired", "child_erased"
    ]
    assert [e["seq"] for e in events] == list(range(1, 10))
    assert events[0]["prev"] == GENESIS
    checkpoint = json.loads(lines[-1])
    assert checkpoint["kind"] == "checkpoint" and checkpoint["seq"] == 9 and checkpoint["count"] == 9
    report = verify_export(lines, http.get("/.well-known/jwks.json").get_json(), issuer=ISSUER)
    assert (report.tenant, report.first_seq, report.last_seq, report.count) == ("tenant-a", 1, 9, 9)


@pytest.mark.parametrize("from_seq", [1, 2, 4, 5, 6, 50])
def test_an_export_from_a_seq_extends_a_checkpoint_kept_from_an_earlier_export(http, regulator, history, from_seq) -> None:  # type: ignore[no-untyped-def]
    """CONTRACT §16: the checkpoint of an earlier export (the first hour) is kept; a later export
    from any seq up to the one after it shows the chain still runs through it; one starting
    further on cannot show it."""
    jwks = http.get("/.well-known/jwks.json").get_json()
    kept = kept_checkpoint(export(http, regulator, until="2026-11-27T04:00:00Z")[-1].decode(), jwks_keys(jwks))
    lines = export(http, regulator, from_seq=str(from_seq))
    last = json.loads(export(http, regulator)[-1])["seq"]
    assert 1 < kept.seq < last
    if from_seq <= kept.seq + 1:
        report = verify_export(lines, jwks, since=kept)
        assert (report.first_seq, report.last_seq) == (from_seq, last)
    else:
        with pytest.raises(ExportInvalid) as caught:
            verify_export(lines, jwks, since=kept)
        assert caught.value.reason == "checkpoint_not_covered"


def test_from_seq_must_be_a_positive_integer(http, regulator, history) -> None:  # type: ignore[no-untyped-def]
    for bad in ("0", "-1", "x"):
        response = http.get("/v1/audit/consent-log", query_string={"tenant": "tenant-a", "from_seq": bad}, headers=regulator)
        assert response.status_code == 422


def test_events_carry_every_contract_field_and_no_personal_data(http, regulator, history) -> None:  # type: ignore[no-untyped-def]
    event = json.loads(export(http, regulator)[0])["event"]
    assert set(event) == {"type", "consent_id", "tenant", "child_ref", "guardian_ref", "relationship", "scopes",
                          "method", "evidence_ref", "notice_version", "policy", "occurred_at", "recorded_at", "client_id"}
    text = b"\n".join(export(http, regulator)).decode()
    assert GUARDIAN_ID not in text and "2016-03-01" not in text


def test_an_expiry_event_records_when_the_consent_expired(http, regulator, history) -> None:  # type: ignore[no-untyped-def]
    expired = [json.loads(l)["event"] for l in export(http, regulator)[:-1] if b'"expired"' in l][0]
    assert expired["occurred_at"] == "2026-11-27T03:30:00.000000Z"


def test_a_window_export_starts_mid_chain_and_still_verifies(http, regulator, history) -> None:  # type: ignore[no-untyped-def]
    lines = export(http, regulator, since="2026-11-27T03:01:30Z", until="2026-11-27T04:00:00Z")
    seqs = [json.loads(line)["seq"] for line in lines]
    assert seqs == [3, 4, 4]  # the withdrawal and the deletion it owes, then the checkpoint at seq 4
    verify_export(lines, http.get("/.well-known/jwks.json").get_json())


def test_an_empty_window_exports_only_a_checkpoint(http, regulator, history) -> None:  # type: ignore[no-untyped-def]
    lines = export(http, regulator, since="2030-01-01T00:00:00Z")
    assert len(lines) == 1
    checkpoint = json.loads(lines[0])
    assert checkpoint["count"] == 0 and checkpoint["seq"] == 9
    verify_export(lines, http.get("/.well-known/jwks.json").get_json())


def test_an_edited_line_fails_verification_naming_its_seq(http, regulator, history) -> None:  # type: ignore[no-untyped-def]
    lines = export(http, regulator)
    lines[2] = lines[2].replace(b"in_app", b"in_ap2")
    with pytest.raises(ExportInvalid) as failure:
        verify_export(lines, http.get("/.well-known/jwks.json").get_json())
    assert failure.value.seq == 3


def test_the_export_needs_a_valid_bearer_token(http) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/v1/audit/consent-log", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_client_without_audit_export_gets_403(http, api) -> None:  # type: ignore[no-untyped-def]
    headers = api.bearer("consent:read")
    assert http.get("/v1/audit/consent-log", headers=headers).status_code == 403
    assert http.get("/v1/reports/summary", headers=headers).status_code == 403


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"until": "2026-01-01T00:00:00"}, {"tenant": ""}, {"bogus": "1"}])
def test_bad_export_parameters_are_422(http, regulator, params) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/v1/audit/consent-log", query_string=params, headers=regulator).status_code == 422


def test_an_erasure_is_one_event_naming_the_consents_it_ended_even_when_there_are_none(http, auth, regulator) -> None:  # type: ignore[no-untyped-def]
    subject(http, auth, "kid", method="self_declared", birth_date="2016-03-01")
    subject(http, auth, "lonely", method="self_declared", birth_date="2016-03-01")
    subject(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    consent_id = grant(http, auth)
    assert http.delete("/v1/subjects/mum", headers=auth).status_code == 204
    assert http.delete("/v1/subjects/lonely", headers=auth).status_code == 204
    events = [json.loads(line)["event"] for line in export(http, regulator)[:-1]]
    erasures = [(e["subject_ref"], e["consent_ids"]) for e in events if e["type"] == "subject_erased"]
    assert erasures == [("mum", [consent_id]), ("lonely", [])]
