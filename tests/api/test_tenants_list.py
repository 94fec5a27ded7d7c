"""GET /v1/tenants (CONTRACT §14): a regulator lists every tenant, a tenant sees only itself."""

from __future__ import annotations


def test_a_regulator_lists_every_tenant_and_a_tenant_client_only_its_own(http, api) -> None:  # type: ignore[no-untyped-def]
    api.client("subjects:read", tenant="tenant-a")
    own = api.bearer("audit:export", tenant="tenant-b")
    regulator = api.regulator_bearer()
    listed = http.get("/v1/tenants", headers=regulator)
    assert listed.status_code == 200
    assert [item["tenant"] for item in listed.get_json()["items"]] == ["tenant-a", "tenant-b"]
    assert http.get("/v1/tenants", headers=own).get_json() == {"items": [{"tenant": "tenant-b"}]}
    assert http.get("/v1/tenants", headers=api.bearer("subjects:read", tenant="tenant-b")).status_code == 403
