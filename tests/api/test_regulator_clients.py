"""Regulator clients and the tenant a caller may read (CONTRACT §2, v2): export and summary."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_client_lifecycle import token_request

READERS = ["/v1/audit/consent-log", "/v1/reports/summary"]


@pytest.fixture
def regulator(api: Any) -> dict[str, str]:
    api.client("subjects:read", tenant="tenant-a")  # tenant-a exists once it has a client
    return api.regulator_bearer()  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", READERS)
def test_a_regulator_reads_the_tenant_it_names(http: Any, regulator: dict[str, str], path: str) -> None:
    response = http.get(path, query_string={"tenant": "tenant-a"}, headers=regulator)
    assert response.status_code == 200


@pytest.mark.parametrize("path", READERS)
def test_a_regulator_must_name_the_tenant(http: Any, regulator: dict[str, str], path: str) -> None:
    response = http.get(path, headers=regulator)
    assert response.status_code == 422
    assert "tenant" in response.get_json()["errors"]


@pytest.mark.parametrize("path", READERS)
def test_a_regulator_naming_an_unknown_tenant_gets_404(http: Any, regulator: dict[str, str], path: str) -> None:
    response = http.get(path, query_string={"tenant": "tenant-typo"}, headers=regulator)
    assert response.status_code == 404
    assert "tenant-typo" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", READERS)
def test_a_tenants_own_audit_client_reads_only_its_tenant(http: Any, api: Any, path: str) -> None:
    own = api.bearer("audit:export", tenant="tenant-a")
    api.client("subjects:read", tenant="tenant-b")
    assert http.get(path, headers=own).status_code == 200
    assert http.get(path, query_string={"tenant": "tenant-a"}, headers=own).status_code == 200
    other = http.get(path, query_string={"tenant": "tenant-b"}, headers=own)
    unknown = http.get(path, query_string={"tenant": "tenant-typo"}, headers=own)
    assert other.status_code == unknown.status_code == 404
    assert other.get_json() == unknown.get_json()  # existence of other tenants is not revealed


def test_a_regulator_client_holds_only_audit_export(http: Any, api: Any) -> None:
    new = api.regulator_client()
    assert token_request(http, new.client_id, new.client_secret, scope="subjects:read").get_json()["error"] == "invalid_scope"
    granted = token_request(http, new.client_id, new.client_secret)
    assert granted.status_code == 200 and granted.get_json()["scope"] == "audit:export"
    bearer = {"Authorization": "Bearer " + granted.get_json()["access_token"]}
    assert http.get("/v1/consents", query_string={"child_ref": "x"}, headers=bearer).status_code == 403
    assert http.post("/v1/subjects", json={}, headers=bearer).status_code == 403
