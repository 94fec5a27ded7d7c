"""POST /v1/sandbox/consent-requests/{id}/complete (CONTRACT §15): a sandbox tenant answers
its own consent request without the page, through the page's own step, on its own clock."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service.store import sandbox as sandbox_store
from service.store.db import transaction
from service.store.models import ConsentLogEntry
from tests.conftest import ALL_SCOPES
from tests.guardian.conftest import ask, page_path
from tests.guardian.test_pages import answer, enter_code

SANDBOX = "try-app"
CHILD = {"method": "self_declared", "birth_date": "2016-03-01"}  # under_14
ANSWER = {"granted": ["pi_processing", "companion"], "declined": ["paid_interaction"]}


def _family(http: Any, auth: dict[str, str], guardian_id: str) -> None:
    for ref, evidence in (("child", CHILD), ("parent", {"method": "resident_id", "resident_id": guardian_id})):
        response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth)
        assert response.status_code == 201, response.get_json()


@pytest.fixture
def sandbox(http, api):  # type: ignore[no-untyped-def]
    """A sandbox tenant's client with every scope, and a child and guardian of its own (the
    guardian one of the ready-made identities: region 99, accepted by sandbox tenants only)."""
    auth = api.bearer(*ALL_SCOPES, tenant=SANDBOX, sandbox=True)
    identities = http.get("/v1/sandbox/identities", headers=auth).get_json()["items"]
    _family(http, auth, next(i["resident_id"] for i in identities if i["name"] == "adult-guardian"))
    return auth


def complete(http: Any, auth: dict[str, str], request_id: str, body: Any = None) -> Any:
    return http.post(f"/v1/sandbox/consent-requests/{request_id}/complete", json=ANSWER if body is None else body, headers=auth)


def _log(runtime: Any, tenant: str) -> list[dict[str, Any]]:
    with transaction(runtime.sessions) as session:
        rows = session.execute(
            select(ConsentLogEntry.seq, ConsentLogEntry.event, ConsentLogEntry.hash)
            .where(ConsentLogEntry.tenant == tenant)
            .order_by(ConsentLogEntry.seq)
        ).all()
    return [{**json.loads(event), "_seq": seq, "_hash": digest} for seq, event, digest in rows]


def _claims(jws: str) -> dict[str, Any]:
    segment = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))  # type: ignore[no-any-return]


def test_completing_records_what_a_guardians_answer_on_the_page_records(http, api, sandbox, runtime) -> None:  # type: ignore[no-untyped-def]
    # the same request answered by a guardian on the page, in a production tenant
    production = api.bearer(*ALL_SCOPES)
    _family(http, production, "11010219840406970X")
    on_page = ask(http, production)
    assert enter_code(http, page_path(on_page), on_page["guardian_code"]).status_code == 303
    assert answer(http, page_path(on_page), {"pi_processing": "allow", "companion": "allow", "paid_interaction": "refuse"}).status_code == 303

    asked = ask(http, sandbox)
    done = complete(http, sandbox, asked["request_id"])
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["status"] == "completed" and body["granted"] == ANSWER["granted"] and body["declined"] == ANSWER["declined"]
    assert body == {**http.get(f"/v1/consent-requests/{asked['request_id']}", headers=sandbox).get_json(), "receipt": body["receipt"]}

    page_log, sandbox_log = _log(runtime, "tenant-a"), _log(runtime, SANDBOX)
    assert [e["type"] for e in sandbox_log] == [e["type"] for e in page_log] == [
        "consent_request_created", "granted", "declined", "consent_request_completed",
    ]
    differing = {"tenant", "consent_id", "request_id", "evidence_ref", "client_id", "method", "_hash", "occurred_at", "recorded_at"}
    for by_page, by_sandbox in zip(page_log, sandbox_log):
        assert set(by_page) == set(by_sandbox)
        assert {k: v for k, v in by_page.items() if k not in differing} == {k: v for k, v in by_sandbox.items() if k not in differing}
    granted = sandbox_log[1]
    assert granted["method"] == "sandbox_completion" and page_log[1]["method"] == "hosted_page_guardian_code"
    assert granted["consent_id"] == body["consent_id"] and granted["evidence_ref"] == asked["request_id"]

    receipt = _claims(body["receipt"])
    completed = sandbox_log[-1]
    assert receipt["log"] == {"seq": completed["_seq"], "hash": completed["_hash"]}
    assert (receipt["tenant"], receipt["request_id"], receipt["consent_id"]) == (SANDBOX, asked["request_id"], body["consent_id"])
    assert receipt["granted"] == ANSWER["granted"] and receipt["declined"] == ANSWER["declined"]

    # the consent is in force: the child's token allows what was granted
    consents = http.get("/v1/consents?child_ref=child", headers=sandbox).get_json()["items"]
    assert [(c["consent_id"], c["status"], c["method"]) for c in consents] == [(body["consent_id"], "active", "sandbox_completion")]


def test_a_production_client_is_refused_and_the_request_stays_pending(http, api, runtime) -> None:  # type: ignore[no-untyped-def]
    production = api.bearer(*ALL_SCOPES)
    _family(http, production, "11010219840406970X")
    asked = ask(http, production)
    refused = complete(http, production, asked["request_id"])
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "sandbox tenants only" in refused.get_json()["detail"]
    assert http.get(f"/v1/consent-requests/{asked['request_id']}", headers=production).get_json()["status"] == "pending"
    assert [e["type"] for e in _log(runtime, "tenant-a")] == ["consent_request_created"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"granted": ["pi_processing", "companion"]}, "_schema"),  # paid_interaction unanswered
        ({"granted": ["pi_processing", "companion", "paid_interaction", "digital_human"]}, "granted"),  # not asked
        ({"granted": ["pi_processing", "companion", "paid_interaction"], "declined": ["companion"]}, "declined"),
        ({"granted": "pi_processing"}, "granted"),
        ({**ANSWER, "confirm": True}, "confirm"),
        ({"granted": ["x" * 65]}, "granted"),
    ],
)
def test_an_answer_that_is_not_one_per_requested_category_is_422(http, sandbox, runtime, body, field) -> None:  # type: ignore[no-untyped-def]
    asked = ask(http, sandbox)
    refused = complete(http, sandbox, asked["request_id"], body)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert field in refused.get_json()["errors"]
    assert [e["type"] for e in _log(runtime, SANDBOX)] == ["consent_request_created"]


def test_everything_declined_completes_with_no_consent(http, sandbox, runtime) -> None:  # type: ignore[no-untyped-def]
    asked = ask(http, sandbox)
    done = complete(http, sandbox, asked["request_id"], {"declined": ["pi_processing", "companion", "paid_interaction"]})
    assert done.status_code == 200
    assert done.get_json()["consent_id"] is None and done.get_json()["granted"] == []
    assert [e["type"] for e in _log(runtime, SANDBOX)] == ["consent_request_created", "declined", "consent_request_completed"]


def test_a_request_completes_once_and_unknown_or_other_tenants_requests_are_404(http, api, sandbox) -> None:  # type: ignore[no-untyped-def]
    asked = ask(http, sandbox)
    assert complete(http, sandbox, asked["request_id"]).status_code == 200
    again = complete(http, sandbox, asked["request_id"])
    assert again.status_code == 409 and again.get_json()["code"] == "consent_request_closed"
    assert complete(http, sandbox, "no-such-request").status_code == 404
    other = api.bearer(*ALL_SCOPES, tenant="other-sandbox", sandbox=True)
    assert complete(http, other, asked["request_id"]).status_code == 404


def test_the_request_expires_on_the_sandbox_tenants_clock(http, sandbox, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    asked = ask(http, sandbox, expires_in=3600)
    with transaction(runtime.sessions) as session:
        sandbox_store.advance_clock(session, SANDBOX, timedelta(hours=2))
    late = complete(http, sandbox, asked["request_id"])
    assert late.status_code == 409 and "expired" in late.get_json()["detail"]


def test_the_answer_is_recorded_at_the_sandbox_tenants_time(http, sandbox, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    asked = ask(http, sandbox, expires_in=3 * 86400)
    with transaction(runtime.sessions) as session:
        sandbox_store.advance_clock(session, SANDBOX, timedelta(days=1))
    done = complete(http, sandbox, asked["request_id"]).get_json()
    assert done["answered_at"].startswith((clock() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    assert _claims(done["receipt"])["recorded_at"] == done["answered_at"]
