"""Sandbox tenants' tokens: issuer `<issuer>/sandbox`, sandbox-only keys, JWKS, discovery and
status lists under /sandbox; each realm's verifiers refuse the other's tokens (CONTRACT §15)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from agegate_verifier import UnknownKey, WrongRealm

from service.tokens.keys import create_key
from service.store.transactions import run_in_transaction
from tests.api.test_openapi import check
from tests.api.test_tokens import offline_verifier
from tests.conftest import ISSUER

SANDBOX_ISSUER = ISSUER + "/sandbox"
CHILD = {"subject_ref": "kid", "evidence": {"method": "self_declared", "birth_date": "2012-11-27"}}


def part(token: str, index: int) -> dict:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@pytest.fixture
def tokens(http, api):  # type: ignore[no-untyped-def]
    """(sandbox token, production token), each of its tenant's child."""
    issued = []
    for tenant, sandbox in (("try-app", True), ("live-app", False)):
        bearer = api.bearer("subjects:write", "tokens:issue", tenant=tenant, sandbox=sandbox)
        http.post("/v1/subjects", json=CHILD, headers=bearer)
        answer = http.post("/v1/tokens", json={"subject_ref": "kid", "audience": f"persona-chat-{tenant}"}, headers=bearer)
        issued.append(answer.get_json()["token"])
    return tuple(issued)


def test_a_sandbox_token_names_the_sandbox_issuer_keys_and_status_lists(http, tokens) -> None:  # type: ignore[no-untyped-def]
    sandbox_token, live_token = tokens
    claims, live_claims = part(sandbox_token, 1), part(live_token, 1)
    assert claims["iss"] == SANDBOX_ISSUER and live_claims["iss"] == ISSUER
    assert claims["status"]["status_list"]["uri"].startswith(SANDBOX_ISSUER + "/v1/status-lists/")
    assert live_claims["status"]["status_list"]["uri"].startswith(ISSUER + "/v1/status-lists/")

    sandbox_kids = {k["kid"] for k in check(http.get("/sandbox/.well-known/jwks.json"), "GET", "/sandbox/.well-known/jwks.json")["keys"]}
    live_kids = {k["kid"] for k in check(http.get("/.well-known/jwks.json"), "GET", "/.well-known/jwks.json")["keys"]}
    assert part(sandbox_token, 0)["kid"] in sandbox_kids - live_kids
    assert part(live_token, 0)["kid"] in live_kids - sandbox_kids
    assert not sandbox_kids & live_kids

    discovery = check(http.get("/sandbox/.well-known/agegate"), "GET", "/sandbox/.well-known/agegate")
    assert discovery["issuer"] == SANDBOX_ISSUER
    assert discovery["jwks_uri"] == SANDBOX_ISSUER + "/.well-known/jwks.json"
    assert discovery["status_list_uri_prefix"] == SANDBOX_ISSUER + "/v1/status-lists/"

    path = claims["status"]["status_list"]["uri"][len(ISSUER):]
    listed = check(http.get(path), "GET", "/sandbox/v1/status-lists/{list_id}")
    assert part(listed, 1)["iss"] == SANDBOX_ISSUER and part(listed, 1)["sub"] == ISSUER + path
    assert part(listed, 0)["kid"] in sandbox_kids
    check(http.get("/sandbox/v1/status-lists/999999"), "GET", "/sandbox/v1/status-lists/{list_id}")


def test_each_realms_offline_verifier_takes_its_own_tokens_and_names_the_others(http, clock, tokens) -> None:  # type: ignore[no-untyped-def]
    sandbox_token, live_token = tokens
    sandbox_verifier = offline_verifier(http, clock, "persona-chat-try-app", tenant="try-app", issuer=SANDBOX_ISSUER)
    live_verifier = offline_verifier(http, clock, "persona-chat-live-app", tenant="live-app", issuer=ISSUER)
    assert sandbox_verifier.verify(sandbox_token)["sub"] == "kid"
    assert live_verifier.verify(live_token)["sub"] == "kid"

    with pytest.raises(WrongRealm, match="a sandbox token") as refused:
        live_verifier.verify(sandbox_token)
    assert refused.value.reason == "wrong_realm" and isinstance(refused.value, UnknownKey)
    with pytest.raises(WrongRealm, match="a production token"):
        sandbox_verifier.verify(live_token)
    assert live_verifier.gate(sandbox_token, "companion").reason == "wrong_realm"


def test_online_verification_refuses_the_other_realms_tokens(http, api, tokens) -> None:  # type: ignore[no-untyped-def]
    sandbox_token, live_token = tokens
    sandbox = api.bearer("tokens:verify", tenant="try-app", sandbox=True, audience="persona-chat-try-app")
    live = api.bearer("tokens:verify", tenant="live-app", audience="persona-chat-live-app")
    verify = "/v1/tokens/verify"
    assert check(http.post(verify, json={"token": sandbox_token}, headers=sandbox), "POST", verify)["active"] is True
    assert check(http.post(verify, json={"token": live_token}, headers=live), "POST", verify)["active"] is True
    assert check(http.post(verify, json={"token": sandbox_token}, headers=live), "POST", verify) == {"active": False, "reason": "wrong_realm"}
    assert check(http.post(verify, json={"token": live_token}, headers=sandbox), "POST", verify) == {"active": False, "reason": "wrong_realm"}


def test_an_advanced_sandbox_token_verifies_on_the_tenants_clock_with_its_status_list(http, api, clock) -> None:  # type: ignore[no-untyped-def]
    bearer = api.bearer("subjects:write", "tokens:issue", tenant="try-app", sandbox=True)
    http.post("/v1/subjects", json=CHILD, headers=bearer)
    http.post("/v1/sandbox/clock", json={"advance": "P30D"}, headers=bearer)
    token = http.post("/v1/tokens", json={"subject_ref": "kid", "audience": "persona-chat-try-app"}, headers=bearer).get_json()["token"]
    tenant_time = lambda: clock() + timedelta(days=30)  # noqa: E731 - what GET /v1/sandbox/clock says
    assert offline_verifier(http, tenant_time, "persona-chat-try-app", tenant="try-app", issuer=SANDBOX_ISSUER).verify(token)["age_bracket"] == "minor"


def test_rotating_one_realm_leaves_the_other_alone(http, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    before = http.get("/.well-known/jwks.json").get_json()
    new_kid = run_in_transaction(runtime.sessions, lambda session: create_key(session, runtime.kek, clock(), "sandbox"))
    runtime.sandbox_keyring.refresh()
    runtime.keyring.refresh()
    assert new_kid in {k["kid"] for k in http.get("/sandbox/.well-known/jwks.json").get_json()["keys"]}
    assert http.get("/.well-known/jwks.json").get_json() == before
