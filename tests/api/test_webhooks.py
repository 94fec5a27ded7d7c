"""/v1/webhooks (CONTRACT.md §11): subscriptions, signed deliveries to a real receiver on
loopback, retries, the delivery log, replay, test pings and the SSRF guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from service.delivery import Sender
from service.events.retry import Backoff
from service.store.models import WebhookSubscription
from service.worker import Worker
from tests.conftest import ALL_SCOPES
from tests.webhook_fixtures import clock, receiver, runtime  # noqa: F401  (fixtures)

GUARDIAN_ID = "11010219840406970X"
# Fast and deterministic: 1 s, 2 s, 4 s ... capped at 8 s, given up after a minute.
FAST = Backoff(first=timedelta(seconds=1), cap=timedelta(seconds=8), jitter=0.0, give_up_after=timedelta(minutes=1))


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


@pytest.fixture
def worker(runtime, clock) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    worker = Worker(
        sessions=runtime.sessions, kek=runtime.kek, sender=Sender(allow_private=True, timeout=2), clock=clock,
        backoff=FAST, concurrency=4, rand=lambda: 0.5,
    )
    yield worker
    worker.drain()


def subscribe(http, auth, url, events=("consent.granted", "consent.withdrawn")):  # type: ignore[no-untyped-def]
    response = http.post("/v1/webhooks", json={"url": url, "events": list(events)}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def family(http, auth) -> None:  # type: ignore[no-untyped-def]
    for ref, evidence in (
        ("kid", {"method": "self_declared", "birth_date": "2016-03-01"}),
        ("mum", {"method": "resident_id", "resident_id": GUARDIAN_ID}),
    ):
        assert http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth).status_code == 201


def grant(http, auth) -> str:  # type: ignore[no-untyped-def]
    body = {"child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing", "companion"],
            "method": "in_app", "evidence_ref": "e", "notice_version": "v3"}
    response = http.post("/v1/consents", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["consent_id"]


def test_a_subscription_shows_its_whsec_secret_once_and_stores_it_only_encrypted(http, auth, receiver, runtime) -> None:  # type: ignore[no-untyped-def]
    created = subscribe(http, auth, receiver.url)
    assert created["id"].startswith("wh_") and created["secret"].startswith("whsec_")
    assert created["status"] == "active" and created["events"] == ["consent.granted", "consent.withdrawn"]
    listed = http.get("/v1/webhooks", headers=auth).get_json()["items"]
    assert [item["id"] for item in listed] == [created["id"]] and "secret" not in listed[0]
    with runtime.sessions() as session:
        stored = session.scalar(select(WebhookSubscription))
        assert created["secret"].encode() not in stored.secret_enc
        assert created["secret"][6:].encode() not in stored.secret_enc


def test_a_grant_arrives_signed_so_the_standard_webhooks_library_verifies_it(http, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    secret = subscribe(http, auth, receiver.url)["secret"]
    family(http, auth)
    consent_id = grant(http, auth)
    worker.run_until_idle()
    (delivery,) = receiver.wait_for(1)
    body = Webhook(secret).verify(delivery.body, delivery.headers)
    assert body["type"] == "consent.granted" and body["tenant"] == "tenant-a" and body["seq"] == 1
    assert body["data"]["consent_id"] == consent_id and body["data"]["child_ref"] == "kid"
    assert "2016-03-01" not in delivery.body.decode() and GUARDIAN_ID not in delivery.body.decode()
    assert delivery.headers["webhook-id"].startswith("evt_") and delivery.path == "/hooks"


def test_only_subscribed_types_are_sent_and_other_tenants_events_never(http, api, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    subscribe(http, auth, receiver.url, events=["consent.withdrawn"])
    other = api.bearer(*ALL_SCOPES, tenant="tenant-b")
    family(http, other)
    grant(http, other)
    family(http, auth)
    consent_id = grant(http, auth)
    http.post(f"/v1/consents/{consent_id}/withdraw", json={}, headers=auth)
    worker.run_until_idle()
    bodies = [json.loads(r.body) for r in receiver.wait_for(1)]
    assert [(b["type"], b["tenant"], b["seq"]) for b in bodies] == [("consent.withdrawn", "tenant-a", 2)]


def test_a_failing_receiver_is_retried_with_backoff_and_each_attempt_is_logged(http, auth, receiver, worker, clock) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url)
    family(http, auth)
    grant(http, auth)
    receiver.status = 500
    worker.run_until_idle()
    clock.advance(seconds=1.5)  # the first delay, counted from the end of the failed attempt
    worker.run_until_idle()
    log = http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["items"]
    (delivery,) = log
    assert delivery["state"] == "pending" and [a["status_code"] for a in delivery["attempts"]] == [500, 500]
    assert delivery["attempts"][0]["error"] == "HTTP 500" and delivery["attempts"][0]["response_prefix"] == "ok"
    assert delivery["next_attempt_at"] is not None
    receiver.status = 200
    clock.advance(seconds=2.5)
    worker.run_until_idle()
    (delivery,) = http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["items"]
    assert delivery["state"] == "delivered" and [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert len(receiver.wait_for(1)) == 1


def test_a_subscription_is_marked_failing_once_the_schedule_is_spent_and_active_after_a_success(http, auth, receiver, worker, clock) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url)
    family(http, auth)
    grant(http, auth)
    receiver.status = 503
    for _ in range(12):
        worker.run_until_idle()
        clock.advance(seconds=8.5)
    (delivery,) = http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["items"]
    assert delivery["state"] == "failed" and len(delivery["attempts"]) >= 8
    (listed,) = http.get("/v1/webhooks", headers=auth).get_json()["items"]
    assert listed["status"] == "failing" and listed["failing_since"] is not None
    receiver.status = 200
    assert http.post(f"/v1/webhooks/{hook['id']}/test", headers=auth).status_code == 202
    worker.run_until_idle()
    (listed,) = http.get("/v1/webhooks", headers=auth).get_json()["items"]
    assert listed["status"] == "active"


def test_a_redirect_is_not_followed_but_counted_as_a_failure(http, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url)
    receiver.status = 302
    http.post(f"/v1/webhooks/{hook['id']}/test", headers=auth)
    worker.run_until_idle()
    (delivery,) = http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["items"]
    assert delivery["attempts"][0]["status_code"] == 302 and delivery["attempts"][0]["error"] == "redirect not followed"
    assert delivery["state"] == "pending"


def test_a_test_ping_is_signed_and_carries_seq_0(http, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url)
    answer = http.post(f"/v1/webhooks/{hook['id']}/test", json={}, headers=auth)
    assert answer.status_code == 202 and answer.get_json()["type"] == "webhook.test"
    worker.run_until_idle()
    (delivery,) = receiver.wait_for(1)
    body = Webhook(hook["secret"]).verify(delivery.body, delivery.headers)
    assert (body["type"], body["seq"], body["data"]) == ("webhook.test", 0, {"webhook_id": hook["id"]})


def test_replay_sends_every_subscribed_event_since_a_seq_again_with_the_same_webhook_id(http, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url)
    family(http, auth)
    first = grant(http, auth)
    grant(http, auth)
    http.post(f"/v1/consents/{first}/withdraw", json={}, headers=auth)
    worker.run_until_idle()
    originals = receiver.wait_for(3)
    answer = http.post(f"/v1/webhooks/{hook['id']}/replay", json={"since_seq": 2}, headers=auth)
    assert answer.status_code == 202 and answer.get_json() == {"id": hook["id"], "since_seq": 2, "until_seq": 3}
    worker.run_until_idle()
    replayed = receiver.wait_for(5)[3:]
    assert sorted(json.loads(r.body)["seq"] for r in replayed) == [2, 3]
    ids = {json.loads(r.body)["seq"]: r.headers["webhook-id"] for r in originals}
    assert all(r.headers["webhook-id"] == ids[json.loads(r.body)["seq"]] for r in replayed)
    origins = [d["origin"] for d in http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["items"]]
    assert sorted(origins) == ["live", "live", "live", "replay", "replay"]


def test_a_deleted_subscription_gets_nothing_more_and_is_404(http, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url)
    assert http.delete(f"/v1/webhooks/{hook['id']}", headers=auth).status_code == 204
    family(http, auth)
    grant(http, auth)
    worker.run_until_idle()
    assert receiver.received == []
    assert http.get("/v1/webhooks", headers=auth).get_json() == {"items": []}
    for method, suffix in (("delete", ""), ("get", "/deliveries"), ("post", "/test")):
        assert getattr(http, method)(f"/v1/webhooks/{hook['id']}{suffix}", headers=auth).status_code == 404


def test_another_tenants_subscription_is_404_and_the_scope_is_webhooks_manage(http, api, auth, receiver) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url)
    other = api.bearer(*ALL_SCOPES, tenant="tenant-b")
    assert http.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=other).status_code == 404
    assert http.post(f"/v1/webhooks/{hook['id']}/replay", json={"since_seq": 1}, headers=other).status_code == 404
    no_scope = api.bearer(*(s for s in ALL_SCOPES if s != "webhooks:manage"))
    assert http.get("/v1/webhooks", headers=no_scope).status_code == 403
    assert http.get("/v1/webhooks").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1/x", "events": ["consent.nonsense"]}, "events"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
        ({"url": "ftp://example.com/x", "events": ["consent.granted"]}, "url"),
        ({"url": "http://user:pw@127.0.0.1/x", "events": ["consent.granted"]}, "url"),
        ({"url": "http://127.0.0.1/x", "events": ["consent.granted"], "extra": 1}, "extra"),
    ],
)
def test_a_bad_subscription_is_422_naming_the_field(http, auth, body, field) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/webhooks", json=body, headers=auth)
    assert response.status_code == 422 and field in response.get_json()["errors"]


@pytest.fixture
def production(http, runtime) -> None:  # type: ignore[no-untyped-def]
    """The app as production runs it: private destinations refused."""
    http.application.extensions["agegate"] = replace(runtime, settings=replace(runtime.settings, webhook_allow_private=False))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",  # loopback
        "https://localhost/hooks",
        "https://10.1.2.3/hooks",  # private
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[::1]/hooks",
        "https://[fe80::1]/hooks",
        "https://[::ffff:10.0.0.1]/hooks",  # IPv4-mapped private
        "http://93.184.216.34/hooks",  # public, but plain http
    ],
)
def test_private_destinations_and_plain_http_are_refused_in_production(http, auth, production, url) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/webhooks", json={"url": url, "events": ["consent.granted"]}, headers=auth)
    assert response.status_code == 422, response.get_json()
    assert "url" in response.get_json()["errors"]


def test_a_public_https_destination_is_accepted_in_production(http, auth, production) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/webhooks", json={"url": "https://93.184.216.34/hooks", "events": ["consent.granted"]}, headers=auth)
    assert response.status_code == 201


def test_every_webhook_answer_is_one_openapi_yaml_documents(http, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    from tests.api.test_openapi import check

    created = check(http.post("/v1/webhooks", json={"url": receiver.url, "events": ["consent.granted"]}, headers=auth), "POST", "/v1/webhooks")
    hook = f"/v1/webhooks/{created['id']}"
    check(http.get("/v1/webhooks", headers=auth), "GET", "/v1/webhooks")
    check(http.post(f"{hook}/test", headers=auth), "POST", "/v1/webhooks/{webhook_id}/test")
    receiver.status = 500
    worker.run_until_idle()
    check(http.get(f"{hook}/deliveries", headers=auth), "GET", "/v1/webhooks/{webhook_id}/deliveries")
    check(http.get(f"{hook}/deliveries?state=bogus", headers=auth), "GET", "/v1/webhooks/{webhook_id}/deliveries")
    check(http.post(f"{hook}/replay", json={"since_seq": 1}, headers=auth), "POST", "/v1/webhooks/{webhook_id}/replay")
    check(http.post(f"{hook}/replay", json={"since_seq": 0}, headers=auth), "POST", "/v1/webhooks/{webhook_id}/replay")
    check(http.post("/v1/webhooks", json={"url": "ftp://x", "events": ["consent.granted"]}, headers=auth), "POST", "/v1/webhooks")
    check(http.delete(hook, headers=auth), "DELETE", "/v1/webhooks/{webhook_id}")
    check(http.delete(hook, headers=auth), "DELETE", "/v1/webhooks/{webhook_id}")


def test_a_withdrawal_tells_the_app_what_to_delete_and_its_acknowledgement_is_sent_too(http, auth, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    hook = subscribe(http, auth, receiver.url, events=["consent.withdrawn", "data.deletion_required", "data.deleted"])
    family(http, auth)
    consent_id = grant(http, auth)
    http.post(f"/v1/consents/{consent_id}/withdraw", json={}, headers=auth)
    worker.run_until_idle()
    withdrawn, required = sorted((Webhook(hook["secret"]).verify(r.body, r.headers) for r in receiver.wait_for(2)), key=lambda b: b["seq"])
    assert (withdrawn["type"], required["type"]) == ("consent.withdrawn", "data.deletion_required")
    data = required["data"]
    assert (data["child_ref"], data["cause"], data["consent_id"]) == ("kid", "withdrawn", consent_id)
    assert datetime.fromisoformat(data["due_by"]) - datetime.fromisoformat(required["occurred_at"]) == timedelta(days=15)
    assert http.post(f"/v1/deletions/{data['deletion_id']}/ack", headers=auth).status_code == 200
    worker.run_until_idle()
    deleted = json.loads(receiver.wait_for(3)[2].body)
    assert deleted["type"] == "data.deleted" and deleted["data"]["deletion_id"] == data["deletion_id"]


def test_a_birthday_is_delivered_as_subject_bracket_changed_within_minutes_of_midnight_in_shanghai(http, auth, receiver, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from service.flows.brackets import change_at_start_of
    from service.worker import bracket_changes_step

    shanghai = ZoneInfo("Asia/Shanghai")
    tomorrow = clock.now.astimezone(shanghai).date() + timedelta(days=1)
    near = date(tomorrow.year - 14, tomorrow.month, min(tomorrow.day, 28))
    (born,) = [d for d in (near + timedelta(days=n) for n in range(-3, 3)) if change_at_start_of(d, tomorrow, shanghai)]
    subscribe(http, auth, receiver.url, events=["subject.bracket_changed"])
    assert http.post("/v1/subjects", json={"subject_ref": "kid", "evidence": {"method": "self_declared", "birth_date": born.isoformat()}},
                     headers=auth).get_json()["age_bracket"] == "under_14"
    worker = Worker(sessions=runtime.sessions, kek=runtime.kek, sender=Sender(allow_private=True, timeout=2), clock=clock,
                    backoff=FAST, steps=(bracket_changes_step(runtime),))
    midnight = datetime.combine(tomorrow, datetime.min.time(), tzinfo=shanghai).astimezone(timezone.utc)
    clock.now = midnight - timedelta(seconds=1)
    worker.run_steps()
    worker.run_until_idle()
    assert receiver.received == []
    clock.now = midnight + timedelta(seconds=30)
    worker.run_steps()
    worker.run_until_idle()
    (delivery,) = receiver.wait_for(1)
    body = json.loads(delivery.body)
    assert body["type"] == "subject.bracket_changed" and body["occurred_at"] == midnight.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert (body["data"]["subject_ref"], body["data"]["from_bracket"], body["data"]["to_bracket"]) == ("kid", "under_14", "minor")
    assert born.isoformat() not in delivery.body.decode()
    worker.run_steps()  # a later turn, or another worker, logs nothing more
    worker.run_until_idle()
    assert len(receiver.received) == 1
