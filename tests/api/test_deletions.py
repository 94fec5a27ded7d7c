"""/v1/deletions (CONTRACT.md §11, POLICY.md "Deletion on withdrawal"): listing by status,
acknowledgement as a logged data_deleted event, and both answers as openapi.yaml documents."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from service.store import deletions as deletion_store
from service.store.db import transaction
from tests.api.test_openapi import check
from tests.conftest import ALL_SCOPES


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def required(runtime, child_ref="kid", days=15, tenant="tenant-a") -> str:  # type: ignore[no-untyped-def]
    with transaction(runtime.sessions) as session:
        deletion = deletion_store.require(
            session, tenant=tenant, child_ref=child_ref, cause="withdrawn", consent_id=None,
            due_in=timedelta(days=days), client_id=None, now=runtime.clock(),
        )
        return deletion.deletion_id


def test_deletions_are_pending_until_due_then_overdue_and_done_once_acknowledged(http, auth, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    soon, later = required(runtime, "kid-1", days=1), required(runtime, "kid-2", days=15)
    listed = check(http.get("/v1/deletions", headers=auth), "GET", "/v1/deletions")["items"]
    assert [(d["deletion_id"], d["status"]) for d in listed] == [(soon, "pending"), (later, "pending")]
    clock.advance(days=2)
    overdue = check(http.get("/v1/deletions?status=overdue", headers=auth), "GET", "/v1/deletions")["items"]
    assert [d["deletion_id"] for d in overdue] == [soon]
    acked = check(http.post(f"/v1/deletions/{soon}/ack", headers=auth), "POST", "/v1/deletions/{deletion_id}/ack")
    assert acked["status"] == "done" and acked["acknowledged_at"] is not None
    assert http.get("/v1/deletions?status=overdue", headers=auth).get_json()["items"] == []
    done = http.get("/v1/deletions?status=done", headers=auth).get_json()["items"]
    assert [d["deletion_id"] for d in done] == [soon]


def test_an_acknowledgement_is_a_data_deleted_event_in_the_chain_and_a_repeat_logs_nothing(http, api, auth, runtime) -> None:  # type: ignore[no-untyped-def]
    deletion_id = required(runtime)
    first = http.post(f"/v1/deletions/{deletion_id}/ack", json={}, headers=auth).get_json()
    again = http.post(f"/v1/deletions/{deletion_id}/ack", headers=auth).get_json()
    assert first == again
    regulator = api.regulator_bearer()
    lines = http.get("/v1/audit/consent-log?tenant=tenant-a", headers=regulator).get_data().splitlines()
    logged = [json.loads(line)["event"] for line in lines[:-1]]
    assert [e["type"] for e in logged] == ["deletion_required", "data_deleted"]
    assert logged[1]["deletion_id"] == deletion_id and logged[0]["due_by"] == first["due_by"]


def test_another_tenants_deletion_is_404_and_a_malformed_id_too(http, api, auth, runtime) -> None:  # type: ignore[no-untyped-def]
    deletion_id = required(runtime, tenant="tenant-b")
    assert check(http.post(f"/v1/deletions/{deletion_id}/ack", headers=auth), "POST", "/v1/deletions/{deletion_id}/ack")
    assert http.post(f"/v1/deletions/{deletion_id}/ack", headers=auth).status_code == 404
    assert http.post("/v1/deletions/not-a-uuid/ack", headers=auth).status_code == 404
    assert http.get("/v1/deletions", headers=auth).get_json() == {"items": []}


@pytest.mark.parametrize("query", ["status=late", "limit=0", "after=x", "colour=red"])
def test_a_bad_query_is_422(http, auth, query) -> None:  # type: ignore[no-untyped-def]
    check(http.get(f"/v1/deletions?{query}", headers=auth), "GET", "/v1/deletions")
    assert http.get(f"/v1/deletions?{query}", headers=auth).status_code == 422


def test_the_scopes_are_consent_read_to_list_and_consent_write_to_acknowledge(http, api, runtime) -> None:  # type: ignore[no-untyped-def]
    deletion_id = required(runtime)
    reader = api.bearer("consent:read")
    assert http.get("/v1/deletions", headers=reader).status_code == 200
    assert http.post(f"/v1/deletions/{deletion_id}/ack", headers=reader).status_code == 403
