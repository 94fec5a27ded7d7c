"""Tokens are bound to a tenant (CONTRACT §16, issue 16 D8).

What D8 found: tenant A could issue a token with `"audience": "persona-b"` (tenant B's persona
service) for A's own subject, and B's online verification answered `active: true` for A's
`sub` -- a subject_ref collision across tenants. Now an audience belongs to the tenant that
registered it, issuing for another tenant's audience is 422, tokens carry `tenant`, and
online verification refuses another tenant's token with `wrong_tenant`.
"""

from __future__ import annotations

import base64
import json

import pytest
from agegate_verifier import WrongTenant

from service.store import clients as client_store
from service.store.transactions import run_in_transaction
from tests.api.test_tokens import offline_verifier


def claims_of(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def tenants(http, api):  # type: ignore[no-untyped-def]
    """Tenant A's backend, tenant B's backend and B's persona service `persona-b`; both
    tenants register a subject `u-1` (the same opaque ref, as happens across apps)."""
    a = api.bearer("subjects:write", "tokens:issue", tenant="tenant-a", audience="persona-a")
    b = api.bearer("subjects:write", "tokens:issue", tenant="tenant-b", audience="persona-b")
    b_persona = api.bearer("tokens:verify", tenant="tenant-b", audience="persona-b")
    for auth, birth_date in ((a, "2016-03-01"), (b, "1990-01-01")):
        body = {"subject_ref": "u-1", "evidence": {"method": "self_declared", "birth_date": birth_date}}
        assert http.post("/v1/subjects", json=body, headers=auth).status_code == 201
    return {"a": a, "b": b, "b_persona": b_persona}


def test_a_tenant_cannot_issue_a_token_for_another_tenants_audience(http, tenants) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/tokens", json={"subject_ref": "u-1", "audience": "persona-b"}, headers=tenants["a"])
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert problem["type"] == "urn:agegate:problem:audience-of-another-tenant"
    assert problem["audience"] == "persona-b"
    assert "token" not in problem


def test_tokens_carry_the_issuing_tenant(http, tenants) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/tokens", json={"subject_ref": "u-1", "audience": "persona-a"}, headers=tenants["a"])
    assert response.status_code == 201
    assert claims_of(response.get_json()["token"])["tenant"] == "tenant-a"


def test_online_verification_refuses_a_token_of_another_tenant(http, api, tenants) -> None:  # type: ignore[no-untyped-def]
    # An audience nobody has registered yet is still open to every tenant: A issues for it,
    # then B registers it. B's verification must not take A's token for B's subject u-1.
    token = http.post("/v1/tokens", json={"subject_ref": "u-1", "audience": "persona-new"}, headers=tenants["a"]).get_json()["token"]
    b_new_persona = api.bearer("tokens:verify", tenant="tenant-b", audience="persona-new")
    answer = http.post("/v1/tokens/verify", json={"token": token, "feature": "companion"}, headers=b_new_persona).get_json()
    assert answer == {"active": False, "reason": "wrong_tenant"}


def test_online_verification_still_accepts_the_callers_own_tenants_token(http, tenants) -> None:  # type: ignore[no-untyped-def]
    token = http.post("/v1/tokens", json={"subject_ref": "u-1", "audience": "persona-b"}, headers=tenants["b"]).get_json()["token"]
    answer = http.post("/v1/tokens/verify", json={"token": token}, headers=tenants["b_persona"]).get_json()
    assert answer["active"] is True
    assert answer["sub"] == "u-1" and answer["age_bracket"] == "adult"


def test_registering_another_tenants_audience_is_refused(runtime, tenants) -> None:  # type: ignore[no-untyped-def]
    def register(tenant: str, audience: str):  # type: ignore[no-untyped-def]
        return lambda session: client_store.create_client(
            session, tenant=tenant, name="x", scopes=["tokens:verify"], audience=audience, now=runtime.clock()
        )

    with pytest.raises(ValueError, match="persona-b belongs to another tenant"):
        run_in_transaction(runtime.sessions, register("tenant-a", "persona-b"))
    # the owner may register more clients for its own audience
    assert run_in_transaction(runtime.sessions, register("tenant-b", "persona-b")).client_id


def test_an_offline_verifier_given_its_tenant_refuses_another_tenants_token(http, tenants, clock) -> None:  # type: ignore[no-untyped-def]
    token = http.post("/v1/tokens", json={"subject_ref": "u-1", "audience": "persona-new"}, headers=tenants["a"]).get_json()["token"]
    with pytest.raises(WrongTenant):
        offline_verifier(http, clock, audience="persona-new", tenant="tenant-b").verify(token)
    assert offline_verifier(http, clock, audience="persona-new", tenant="tenant-a").verify(token)["sub"] == "u-1"
