"""Sandbox data never reaches a regulator, and a sandbox tenant stays one (CONTRACT §15).

A regulator sees a sandbox tenant as if it did not exist: not in GET /v1/tenants, 404 on the
export and every report. The sandbox tenant's own client still reads its own reports and
export: trying them is what the sandbox is for."""

from __future__ import annotations

from typing import Any

import pytest

from service.store.sandbox import TenantKindConflict
from tests.conftest import ALL_SCOPES

SANDBOX = "try-app"
READERS = ["/v1/audit/consent-log", "/v1/reports/summary", "/v1/reports/minors-pi?year=2026"]


@pytest.fixture
def sandbox(http: Any, api: Any) -> dict[str, str]:
    """A sandbox tenant with a child, a guardian and a consent in its log."""
    auth: dict[str, str] = api.bearer(*ALL_SCOPES, tenant=SANDBOX, sandbox=True)
    for ref, evidence in (
        ("kid", {"method": "self_declared", "birth_date": "2016-03-01"}),
        ("mum", {"method": "resident_id", "resident_id": "11010219840406970X"}),
    ):
        assert http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth).status_code == 201
    consent = {"child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"],
               "method": "in_app", "evidence_ref": "e", "notice_version": "v3"}
    assert http.post("/v1/consents", json=consent, headers=auth).status_code == 201
    return auth


@pytest.fixture
def regulator(api: Any) -> dict[str, str]:
    api.client("subjects:read", tenant="tenant-a")
    return api.regulator_bearer()  # type: ignore[no-any-return]


def test_a_regulator_is_never_offered_a_sandbox_tenant(http: Any, sandbox: dict[str, str], regulator: dict[str, str]) -> None:
    listed = http.get("/v1/tenants", headers=regulator)
    assert listed.status_code == 200 and listed.get_json() == {"items": [{"tenant": "tenant-a"}]}
    assert http.get("/v1/tenants", headers=sandbox).get_json() == {"items": [{"tenant": SANDBOX}]}


@pytest.mark.parametrize("path", READERS)
def test_a_regulator_naming_a_sandbox_tenant_gets_what_an_unknown_tenant_gets(
    http: Any, sandbox: dict[str, str], regulator: dict[str, str], path: str
) -> None:
    separator = "&" if "?" in path else "?"
    named = http.get(f"{path}{separator}tenant={SANDBOX}", headers=regulator)
    unknown = http.get(f"{path}{separator}tenant=tenant-typo", headers=regulator)
    assert named.status_code == unknown.status_code == 404
    assert named.get_json() == unknown.get_json()
    assert http.get(f"{path}{separator}tenant=tenant-a", headers=regulator).status_code == 200


@pytest.mark.parametrize("path", READERS)
def test_a_sandbox_tenants_own_client_reads_its_own_reports_and_export(http: Any, sandbox: dict[str, str], path: str) -> None:
    response = http.get(path, headers=sandbox)
    assert response.status_code == 200
    if path.startswith("/v1/audit/"):
        assert b'"granted"' in response.get_data() and f'"tenant":"{SANDBOX}"'.encode() in response.get_data().replace(b" ", b"")
    else:
        assert response.get_json()["tenant"] == SANDBOX


def test_a_sandbox_tenant_cannot_be_turned_into_a_production_one(http: Any, api: Any, sandbox: dict[str, str], regulator: dict[str, str]) -> None:
    with pytest.raises(TenantKindConflict, match="cannot be turned into a production one"):
        api.client("audit:export", tenant=SANDBOX)
    # still a sandbox tenant, with its data, and still invisible to regulators
    assert http.get("/v1/subjects/kid", headers=sandbox).status_code == 200
    assert http.get("/v1/tenants", headers=regulator).get_json() == {"items": [{"tenant": "tenant-a"}]}
    assert http.get(f"/v1/reports/summary?tenant={SANDBOX}", headers=regulator).status_code == 404


def test_a_sandbox_tenants_export_is_signed_as_the_sandbox_and_never_verifies_as_production(
    http: Any, sandbox: dict[str, str]
) -> None:
    import base64
    import json

    def claims_and_kid(jws: str) -> tuple[dict[str, Any], str]:
        header, payload, _ = (base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in jws.split("."))
        return json.loads(payload), json.loads(header)["kid"]

    lines = http.get("/v1/audit/consent-log", headers=sandbox).get_data().splitlines()
    checkpoint = json.loads(lines[-1])
    claims, kid = claims_and_kid(checkpoint["jws"])
    sandbox_kids = {key["kid"] for key in http.get("/sandbox/.well-known/jwks.json").get_json()["keys"]}
    production_kids = {key["kid"] for key in http.get("/.well-known/jwks.json").get_json()["keys"]}
    assert claims["iss"].endswith("/sandbox") and claims["tenant"] == SANDBOX
    assert kid in sandbox_kids and kid not in production_kids
