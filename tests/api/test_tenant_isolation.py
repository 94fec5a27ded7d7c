"""Every authenticated /v1/ operation refuses every other tenant's data, whatever the scope
(CONTRACT §2).

The operations come from openapi.yaml, so an endpoint added later is covered the moment it
is documented: `test_every_protected_operation_has_a_cross_tenant_request` fails until
CROSS_TENANT_REQUESTS says how to aim it at tenant A's data. For each operation, tenant B's
clients -- one per scope, and one holding every scope -- send that request. A caller without
the operation's scope must get 403; one with it must get one of the entry's statuses, and
no answer may carry any of tenant A's data that B did not send itself. Afterwards tenant
A's data is exactly as it was.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.test_openapi import METHODS, SPEC
from tests.conftest import ALL_SCOPES

TENANT_A, TENANT_B = "tenant-a", "tenant-b"


@dataclass(frozen=True)
class TenantA:
    """Tenant A's data, as tenant B might try to reach it."""

    child_ref: str
    guardian_ref: str
    consent_id: str
    age_token: str
    webhook_id: str
    deletion_id: str
    request_id: str
    markers: frozenset[str]  # strings only tenant A's data contains


@dataclass(frozen=True)
class Aim:
    """One request at tenant A's data: path parameters, query and JSON body."""

    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class CrossTenantRequest:
    aim: Callable[[TenantA], Aim]
    # statuses a tenant-B caller holding the operation's scope may get
    refused_with: frozenset[int]
    # set while a contract rule is still being built elsewhere; the test then must fail (strict xfail)
    pending: str | None = None


# (method, openapi path) -> how tenant B aims the operation at tenant A. Add an entry with
# every new authenticated /v1/ operation; a 2xx is allowed only where the operation writes
# or reads within the caller's own tenant (the answer is then checked for A's data).
CROSS_TENANT_REQUESTS: dict[tuple[str, str], CrossTenantRequest] = {
    ("post", "/v1/subjects"): CrossTenantRequest(
        # the same subject_ref registers a new, separate subject in B's own tenant
        lambda a: Aim(body={"subject_ref": a.child_ref, "evidence": {"method": "self_declared", "birth_date": "1990-01-01"}}),
        frozenset({200, 201}),
    ),
    ("get", "/v1/subjects/{subject_ref}"): CrossTenantRequest(
        lambda a: Aim(path_params={"subject_ref": a.child_ref}), frozenset({404})
    ),
    ("delete", "/v1/subjects/{subject_ref}"): CrossTenantRequest(
        lambda a: Aim(path_params={"subject_ref": a.guardian_ref}), frozenset({404})
    ),
    ("put", "/v1/subjects/{subject_ref}/controls"): CrossTenantRequest(
        lambda a: Aim(path_params={"subject_ref": a.child_ref}, body={"guardian_ref": a.guardian_ref, "daily_minutes": 5}),
        frozenset({404}),
    ),
    ("get", "/v1/subjects/{subject_ref}/controls"): CrossTenantRequest(
        lambda a: Aim(path_params={"subject_ref": a.child_ref}), frozenset({404})
    ),
    ("get", "/v1/subjects/{subject_ref}/decisions"): CrossTenantRequest(
        lambda a: Aim(path_params={"subject_ref": a.child_ref}, query={"at": "2026-11-27T03:00:00Z"}), frozenset({404})
    ),
    ("post", "/v1/tokens"): CrossTenantRequest(
        lambda a: Aim(body={"subject_ref": a.child_ref, "audience": "persona-chat"}), frozenset({404, 422})
    ),
    ("post", "/v1/tokens/verify"): CrossTenantRequest(
        # 200 with active: false (wrong_audience / wrong_tenant); the answer is checked for A's data
        lambda a: Aim(body={"token": a.age_token}),
        frozenset({200}),
    ),
    ("post", "/v1/consents"): CrossTenantRequest(
        lambda a: Aim(
            body={
                "child_ref": a.child_ref, "guardian_ref": a.guardian_ref, "relationship": "parent",
                "scopes": ["pi_processing"], "method": "in_app", "evidence_ref": "b-evidence", "notice_version": "b-v1",
            }
        ),
        frozenset({404}),
    ),
    ("post", "/v1/consent-requests"): CrossTenantRequest(
        lambda a: Aim(
            body={
                "child_ref": a.child_ref, "guardian_ref": a.guardian_ref, "relationship": "parent", "scopes": ["pi_processing"],
                "notice": {"version": "b-v1", "url": "https://b.example/notice"}, "child_label": "b",
            }
        ),
        frozenset({404}),
    ),
    ("get", "/v1/consent-requests/{request_id}"): CrossTenantRequest(
        lambda a: Aim(path_params={"request_id": a.request_id}), frozenset({404})
    ),
    ("post", "/v1/consent-requests/{request_id}/manage-link"): CrossTenantRequest(
        lambda a: Aim(path_params={"request_id": a.request_id}), frozenset({404})
    ),
    ("get", "/v1/consents"): CrossTenantRequest(lambda a: Aim(query={"child_ref": a.child_ref}), frozenset({200})),
    ("post", "/v1/consents/{consent_id}/withdraw"): CrossTenantRequest(
        lambda a: Aim(path_params={"consent_id": a.consent_id}, body={"reason": "b says so"}), frozenset({404})
    ),
    ("get", "/v1/audit/consent-log"): CrossTenantRequest(lambda a: Aim(query={"tenant": TENANT_A}), frozenset({404})),
    ("get", "/v1/reports/summary"): CrossTenantRequest(lambda a: Aim(query={"tenant": TENANT_A}), frozenset({404})),
    # B's own tenant only; the answer is checked for A's name
    ("get", "/v1/tenants"): CrossTenantRequest(lambda a: Aim(), frozenset({200})),
    ("get", "/v1/reports/minors-pi"): CrossTenantRequest(
        lambda a: Aim(query={"tenant": TENANT_A, "year": "2026"}), frozenset({404})
    ),
    ("post", "/v1/webhooks"): CrossTenantRequest(
        # subscribes B's own endpoint, to B's own events
        lambda a: Aim(body={"url": "http://127.0.0.1:9/b-hook", "events": ["consent.granted"]}), frozenset({201})
    ),
    ("get", "/v1/webhooks"): CrossTenantRequest(lambda a: Aim(), frozenset({200})),
    ("delete", "/v1/webhooks/{webhook_id}"): CrossTenantRequest(
        lambda a: Aim(path_params={"webhook_id": a.webhook_id}), frozenset({404})
    ),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"): CrossTenantRequest(
        lambda a: Aim(path_params={"webhook_id": a.webhook_id}), frozenset({404})
    ),
    ("post", "/v1/webhooks/{webhook_id}/replay"): CrossTenantRequest(
        lambda a: Aim(path_params={"webhook_id": a.webhook_id}, body={"since_seq": 1}), frozenset({404})
    ),
    ("post", "/v1/webhooks/{webhook_id}/test"): CrossTenantRequest(
        lambda a: Aim(path_params={"webhook_id": a.webhook_id}, body={}), frozenset({404})
    ),
    ("get", "/v1/deletions"): CrossTenantRequest(lambda a: Aim(), frozenset({200})),
    # tenant B is a production tenant: every sandbox operation is 403 sandbox-only for it (one
    # sandbox tenant against another: tests/api/test_sandbox_consent_requests.py)
    ("get", "/v1/sandbox/clock"): CrossTenantRequest(lambda a: Aim(), frozenset({403})),
    ("post", "/v1/sandbox/clock"): CrossTenantRequest(lambda a: Aim(body={"advance": "P1D"}), frozenset({403})),
    ("get", "/v1/sandbox/identities"): CrossTenantRequest(lambda a: Aim(), frozenset({403})),
    ("post", "/v1/sandbox/consent-requests/{request_id}/complete"): CrossTenantRequest(
        lambda a: Aim(path_params={"request_id": a.request_id}, body={"granted": ["pi_processing"], "declined": []}),
        frozenset({403}),
    ),
    ("post", "/v1/deletions/{deletion_id}/ack"): CrossTenantRequest(
        lambda a: Aim(path_params={"deletion_id": a.deletion_id}, body={}), frozenset({404})
    ),
}


def _protected_operations() -> list[tuple[str, str, str]]:
    """(method, path, scope) of every /v1/ operation that needs a bearer token."""
    found = []
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            for requirement in item.get(method, {}).get("security", []):
                for scope in requirement.get("agegate", []):
                    if path.startswith("/v1/"):
                        found.append((method, path, scope))
    return found


PROTECTED = _protected_operations()


def test_every_protected_operation_has_a_cross_tenant_request() -> None:
    missing = sorted(f"{m.upper()} {p}" for m, p, _ in PROTECTED if (m, p) not in CROSS_TENANT_REQUESTS)
    assert not missing, "add these to CROSS_TENANT_REQUESTS in tests/api/test_tenant_isolation.py: " + ", ".join(missing)
    stale = sorted(f"{m.upper()} {p}" for m, p in CROSS_TENANT_REQUESTS if (m, p) not in {(m, p) for m, p, _ in PROTECTED})
    assert not stale, "CROSS_TENANT_REQUESTS names operations openapi.yaml no longer has: " + ", ".join(stale)


def _params() -> list[Any]:
    params = []
    for method, path, scope in PROTECTED:
        entry = CROSS_TENANT_REQUESTS.get((method, path))
        marks = [pytest.mark.xfail(strict=True, reason=entry.pending)] if entry and entry.pending else []
        params.append(pytest.param(method, path, scope, id=f"{method.upper()} {path}", marks=marks))
    return params


@pytest.fixture
def runtime(runtime: Any) -> Any:
    """Webhook URLs on this machine (nothing is delivered: no worker runs here)."""
    return dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, webhook_allow_private=True))


@pytest.fixture
def tenant_a(http: Any, api: Any) -> TenantA:
    auth = api.bearer(*ALL_SCOPES, tenant=TENANT_A)
    child = {"subject_ref": "a-child-4f1e", "evidence": {"method": "self_declared", "birth_date": "2016-03-01"}}
    guardian = {"subject_ref": "a-guardian-9c2d", "evidence": {"method": "resident_id", "resident_id": "11010219840406970X"}}
    for body in (child, guardian):
        assert http.post("/v1/subjects", json=body, headers=auth).status_code == 201
    consent = http.post(
        "/v1/consents",
        json={
            "child_ref": child["subject_ref"], "guardian_ref": guardian["subject_ref"], "relationship": "parent",
            "scopes": ["pi_processing", "companion"], "method": "in_app_parent_account",
            "evidence_ref": "a-evidence-77aa", "notice_version": "a-notice-31bb",
        },
        headers=auth,
    )
    assert consent.status_code == 201, consent.get_json()
    token = http.post("/v1/tokens", json={"subject_ref": child["subject_ref"], "audience": "persona-chat"}, headers=auth)
    assert token.status_code == 201, token.get_json()
    age_token = token.get_json()["token"]
    verified = http.post("/v1/tokens/verify", json={"token": age_token}, headers=auth).get_json()
    assert verified["active"] is True
    controls = http.put(
        f"/v1/subjects/{child['subject_ref']}/controls",
        json={"guardian_ref": guardian["subject_ref"], "daily_minutes": 17, "blocked_categories": ["digital_human"]},
        headers=auth,
    )
    assert controls.status_code == 200, controls.get_json()
    webhook = http.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/a-hook-5e6f", "events": ["consent.granted"]}, headers=auth
    )
    assert webhook.status_code == 201, webhook.get_json()
    # a second child whose consent ends: the deletion it leaves owed is tenant A's too
    second = {"subject_ref": "a-child-8b3c", "evidence": {"method": "self_declared", "birth_date": "2017-03-01"}}
    assert http.post("/v1/subjects", json=second, headers=auth).status_code == 201
    ending = http.post(
        "/v1/consents",
        json={"child_ref": second["subject_ref"], "guardian_ref": guardian["subject_ref"], "relationship": "parent",
              "scopes": ["pi_processing"], "method": "in_app_parent_account", "evidence_ref": "a-evidence-77aa",
              "notice_version": "a-notice-31bb"},
        headers=auth,
    ).get_json()["consent_id"]
    assert http.post(f"/v1/consents/{ending}/withdraw", json={}, headers=auth).status_code == 200
    (deletion,) = http.get("/v1/deletions", headers=auth).get_json()["items"]
    asked = http.post(
        "/v1/consent-requests",
        json={"child_ref": child["subject_ref"], "guardian_ref": guardian["subject_ref"], "relationship": "parent",
              "scopes": ["pi_processing", "digital_human"], "notice": {"version": "a-notice-31bb", "url": "https://a.example/n"},
              "child_label": "a-label-c0de"},
        headers=auth,
    )
    assert asked.status_code == 201, asked.get_json()
    markers = {
        TENANT_A, consent.get_json()["consent_id"], ending, "a-evidence-77aa", "a-notice-31bb", str(verified["sub"]),
        webhook.get_json()["id"], "a-hook-5e6f", deletion["deletion_id"], second["subject_ref"],
        asked.get_json()["request_id"], asked.get_json()["consent_url"], "a-label-c0de",
    }
    return TenantA(
        child["subject_ref"], guardian["subject_ref"], consent.get_json()["consent_id"], age_token,
        webhook.get_json()["id"], deletion["deletion_id"], asked.get_json()["request_id"], frozenset(markers),
    )


def _snapshot(http: Any, api: Any, a: TenantA) -> Any:
    """What tenant A sees of its own data."""
    auth = api.bearer(*ALL_SCOPES, tenant=TENANT_A)
    return (
        http.get(f"/v1/subjects/{a.child_ref}", headers=auth).get_json(),
        http.get(f"/v1/subjects/{a.guardian_ref}", headers=auth).get_json(),
        http.get("/v1/consents", query_string={"child_ref": a.child_ref}, headers=auth).get_json(),
        http.get("/v1/audit/consent-log", headers=auth).get_data(as_text=True).count('"kind": "event"'),
        http.get(f"/v1/subjects/{a.child_ref}/controls", headers=auth).get_json(),
        http.get("/v1/webhooks", headers=auth).get_json(),
        http.get(f"/v1/consent-requests/{a.request_id}", headers=auth).get_json(),
        http.get("/v1/deletions", headers=auth).get_json(),
    )


def _send(http: Any, method: str, path: str, aim: Aim, headers: dict[str, str]) -> tuple[Any, str]:
    url = path
    for name, value in aim.path_params.items():
        url = url.replace("{" + name + "}", value)
    kwargs: dict[str, Any] = {"headers": headers, "query_string": aim.query}
    if aim.body is not None:
        kwargs["json"] = aim.body
    elif method == "post":
        kwargs["json"] = {}
    sent = url + json.dumps(aim.query) + json.dumps(kwargs.get("json"))
    return http.open(url, method=method.upper(), **kwargs), sent


@pytest.mark.parametrize(("method", "path", "scope"), _params())
def test_tenant_b_cannot_reach_tenant_a_through_the_operation(
    http: Any, api: Any, tenant_a: TenantA, method: str, path: str, scope: str
) -> None:
    entry = CROSS_TENANT_REQUESTS[(method, path)]
    before = _snapshot(http, api, tenant_a)
    callers = {s: (s,) for s in ALL_SCOPES} | {"every scope": tuple(ALL_SCOPES)}
    for name, scopes in callers.items():
        response, sent = _send(http, method, path, entry.aim(tenant_a), api.bearer(*scopes, tenant=TENANT_B))
        expected = entry.refused_with if scope in scopes else {403}
        answer = response.get_data(as_text=True)
        assert response.status_code in expected, f"tenant B with {name}: {response.status_code} {answer[:300]}"
        leaked = sorted(m for m in tenant_a.markers if m in answer and m not in sent)
        assert not leaked, f"tenant B with {name} got tenant A's {leaked}: {answer[:300]}"
    assert _snapshot(http, api, tenant_a) == before
