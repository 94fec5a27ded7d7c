"""The README's "Try it in the sandbox", step by step, against the app and a real HTTP
webhook receiver (CONTRACT §15, issue 15's "Done when"): the ready-made child turning 14
tomorrow is registered in a sandbox tenant, the tenant's clock moves a day, and the bracket
changes in a new token, in the subject view and in a subject.bracket_changed delivery."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from standardwebhooks.webhooks import Webhook

from service.worker import build_worker
from tests.api.test_tokens import offline_verifier
from tests.conftest import ISSUER
from tests.webhook_fixtures import clock, receiver, runtime  # noqa: F401  (fixtures)

TENANT = "my-app-test"
AUDIENCE = "my-persona-test"
SCOPES = ("subjects:write", "subjects:read", "tokens:issue", "consent:write", "consent:read", "webhooks:manage")


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def _verified(http: Any, auth: dict[str, str], token: str) -> dict[str, Any]:
    """The token's claims as a persona service sees them: the offline verifier, against the
    sandbox JWKS and status lists, on the tenant's own time (as the README says to)."""
    now = datetime.fromisoformat(_ok(http.get("/v1/sandbox/clock", headers=auth))["now"])
    return offline_verifier(http, lambda: now, AUDIENCE, tenant=TENANT, issuer=ISSUER + "/sandbox").verify(token)


def test_the_child_turning_14_tomorrow_turns_14_when_the_sandbox_clock_moves_a_day(http, api, runtime, receiver) -> None:  # type: ignore[no-untyped-def]
    # 1-2. a sandbox client (agegate clients create --tenant my-app-test --sandbox ...) and its access token
    auth = api.bearer_of(api.client(*SCOPES, tenant=TENANT, audience=AUDIENCE, sandbox=True))

    # 3. the ready-made child turning 14 tomorrow, sandbox time
    identities = _ok(http.get("/v1/sandbox/identities", headers=auth))
    kid = next(item for item in identities["items"] if item["name"] == "turns-14-tomorrow")
    assert kid["age_bracket"] == "under_14"

    # 4. register it
    evidence = {"method": "resident_id", "resident_id": kid["resident_id"]}
    registered = _ok(http.post("/v1/subjects", json={"subject_ref": "kid-1", "evidence": evidence}, headers=auth), 201)
    assert registered["age_bracket"] == "under_14" and registered["bracket_valid_until"] == kid["bracket_changes_at"]

    # 5. a token: under_14, expiring no later than the change
    before = _ok(http.post("/v1/tokens", json={"subject_ref": "kid-1", "audience": AUDIENCE}, headers=auth), 201)
    claims = _verified(http, auth, before["token"])
    assert before["age_bracket"] == "under_14" and claims["age_bracket"] == "under_14"
    assert claims["exp"] <= datetime.fromisoformat(kid["bracket_changes_at"]).timestamp()

    # 6. subscribe the receiver
    hook = _ok(http.post("/v1/webhooks", json={"url": receiver.url, "events": ["subject.bracket_changed"]}, headers=auth), 201)

    # 7. advance the tenant's clock a day
    moved = _ok(http.post("/v1/sandbox/clock", json={"advance": "P1D"}, headers=auth))
    assert moved["offset_seconds"] == 86400

    # 8. the worker (`agegate worker`, or in-process under `agegate serve`) takes its turn
    worker = build_worker(runtime, concurrency=2, timeout=2)
    worker.run_steps()
    worker.run_until_idle()

    # 9. the bracket has changed: a new token, the subject view and the webhook event
    after = _ok(http.post("/v1/tokens", json={"subject_ref": "kid-1", "audience": AUDIENCE}, headers=auth), 201)
    assert after["age_bracket"] == "minor" and _verified(http, auth, after["token"])["age_bracket"] == "minor"
    view = _ok(http.get("/v1/subjects/kid-1", headers=auth))
    assert view["age_bracket"] == "minor" and view["bracket_valid_until"] is not None

    (delivery,) = receiver.wait_for(1)
    event = Webhook(hook["secret"]).verify(delivery.body, delivery.headers)
    assert event["type"] == "subject.bracket_changed" and event["tenant"] == TENANT
    assert (event["data"]["subject_ref"], event["data"]["from_bracket"], event["data"]["to_bracket"]) == ("kid-1", "under_14", "minor")
    changed_at = datetime.fromisoformat(kid["bracket_changes_at"]).astimezone(timezone.utc)
    assert event["occurred_at"].startswith(changed_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert kid["resident_id"] not in delivery.body.decode() and kid["birth_date"] not in delivery.body.decode()
    worker.run_steps()  # a later pass logs the change no second time
    worker.run_until_idle()
    assert len(receiver.received) == 1
