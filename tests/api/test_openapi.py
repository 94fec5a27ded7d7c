"""openapi.yaml is valid OpenAPI 3.1 and agrees with the running service (CONTRACT.md, preamble).

Three checks:

- the document validates as OpenAPI 3.1;
- its (path, method) pairs are exactly the Flask app's routes, in both directions;
- live answers through the test client have a documented status, media type and headers,
  and their bodies validate against the documented schema. The spec leaves response objects
  open so that clients tolerate additions, but here every object is validated *closed*, so a
  member the service sends and the spec does not document fails the test.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from service.app import build_runtime, create_app
from service.reports.routing import ReportingDatabase
from service.store import migrate
from service.store.db import make_engine, make_sessionmaker
from tests.conftest import ALL_SCOPES, METRICS_AUTH

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC_URI = "urn:agegate:openapi"
METHODS = ("get", "put", "post", "delete", "patch")
IGNORED_METHODS = {"HEAD", "OPTIONS"}

CHILD = {"subject_ref": "u-1", "evidence": {"method": "self_declared", "birth_date": "2013-05-01"}}
MINOR = {"subject_ref": "u-2", "evidence": {"method": "self_declared", "birth_date": "2010-01-01"}}
GUARDIAN = {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": "11010519491231002X"}}
CONSENT = {
    "child_ref": "u-1",
    "guardian_ref": "g-1",
    "relationship": "parent",
    "scopes": ["pi_processing", "companion"],
    "method": "in_app_parent_account",
    "evidence_ref": "opaque-ref-from-the-app",
    "notice_version": "privacy-notice-v3",
    "expires_at": None,
}


def _load_spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as file:
        return yaml.safe_load(file)  # type: ignore[no-any-return]


SPEC = _load_spec()


def _closed(node: Any) -> Any:
    """A copy in which every object schema that lists `properties` refuses other members."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: _closed(value) for key, value in node.items()}
    if isinstance(node.get("properties"), dict) and "additionalProperties" not in node and "unevaluatedProperties" not in node:
        copied["additionalProperties"] = False
    return copied


_REGISTRY: Registry = Registry().with_resource(SPEC_URI, Resource(contents=_closed(SPEC), specification=DRAFT202012))


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _validate_at(pointer: str, instance: Any) -> None:
    """Validate `instance` against the schema at `pointer` in the spec, refs resolved."""
    validator = OAS31Validator(
        {"$ref": f"{SPEC_URI}#{quote(pointer, safe='/~')}"}, registry=_REGISTRY, format_checker=oas31_format_checker
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"body does not match {pointer}:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]
    ) + f"\nbody: {json.dumps(instance)[:2000]}"


def validate_schema(name: str, instance: Any) -> None:
    _validate_at(_pointer("components", "schemas", name), instance)


def _resolve(node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow a local $ref; returns the target and its pointer (None when not a ref)."""
    ref = node.get("$ref")
    if ref is None:
        return node, None
    assert ref.startswith("#/"), ref
    target: Any = SPEC
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target, ref[1:]


def _flask_path(rule: str) -> str:
    """/v1/status-lists/<int:list_id> -> /v1/status-lists/{list_id}"""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _jws_part(token: str, index: int) -> Any:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def check(response: Any, method: str, path: str) -> Any:
    """Assert that `response` is one the spec documents for (method, path); return its JSON."""
    operation = SPEC["paths"][path][method.lower()]
    status = str(response.status_code)
    body_text = response.get_data(as_text=True)
    assert status in operation["responses"], (
        f"{method.upper()} {path} answered {status}, the spec documents only "
        f"{sorted(operation['responses'])}; body: {body_text[:1000]}"
    )
    documented, ref_pointer = _resolve(operation["responses"][status])
    base = ref_pointer or _pointer("paths", path, method.lower(), "responses", status)
    for name in documented.get("headers", {}):
        # every documented header is sent, except the token endpoint's conditional WWW-Authenticate
        if not (path == "/oauth/token" and name == "WWW-Authenticate"):
            assert name in response.headers, f"{method.upper()} {path} {status}: documented header {name} missing"
    content = documented.get("content")
    if not content:
        assert body_text == "", f"{method.upper()} {path} {status} documents no body but sent {body_text[:200]!r}"
        return None
    mimetype = response.mimetype
    assert mimetype in content, (
        f"{method.upper()} {path} {status} answered {response.content_type}, the spec documents {sorted(content)}"
    )
    if "schema" not in content[mimetype]:
        return None
    pointer = base + _pointer("content", mimetype, "schema")
    if mimetype == "application/x-ndjson":  # the schema describes each line
        assert body_text.endswith("\n"), "an NDJSON export must end with a newline"
        lines = [json.loads(line) for line in body_text.splitlines()]
        for line in lines:
            _validate_at(pointer, line)
        return lines
    if mimetype.endswith("json"):
        body = json.loads(body_text)
        _validate_at(pointer, body)
        return body
    _validate_at(pointer, body_text)
    return body_text


# ---------------------------------------------------------------------------- the document


def test_the_document_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    validate_spec(SPEC)


def test_the_oauth_scheme_names_the_seven_contract_scopes_and_every_v1_operation_one_of_them() -> None:
    flow = SPEC["components"]["securitySchemes"]["agegate"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == set(ALL_SCOPES)
    published = {"/v1/policy", "/v1/status-lists/{list_id}"}
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method not in item or not path.startswith("/v1/") or path in published:
                continue
            security = item[method].get("security")
            assert security and len(security) == 1 and len(security[0]["agegate"]) == 1, f"{method} {path}"
            assert {"401", "403", "503"} <= set(item[method]["responses"]), f"{method} {path}"


def test_every_error_response_is_a_problem_document() -> None:
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            for status, response in item.get(method, {}).get("responses", {}).items():
                response, _ = _resolve(response)
                if int(status) < 400:
                    continue
                media = set(response.get("content", {}))
                # the guardian pages answer people, in HTML; everything else answers programs
                expected = {"text/html"} if path.startswith("/guardian/") else {"application/problem+json"}
                assert media == expected, f"{method} {path} {status}"


def test_documented_operations_are_exactly_the_app_routes(app) -> None:  # type: ignore[no-untyped-def]
    served = {
        (_flask_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - IGNORED_METHODS
    }
    documented = {(path, method) for path, item in SPEC["paths"].items() for method in METHODS if method in item}
    undocumented = sorted(served - documented)
    missing = sorted(documented - served)
    assert not undocumented and not missing, (
        "openapi.yaml and the app disagree:\n"
        + "".join(f"  served but not documented: {m.upper()} {p}\n" for p, m in undocumented)
        + "".join(f"  documented but not served: {m.upper()} {p}\n" for p, m in missing)
    )


# ---------------------------------------------------------------------------- live answers


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def post_json(http, path, body, auth, **headers):  # type: ignore[no-untyped-def]
    return http.post(path, json=body, headers={**auth, **headers})


def test_subjects_register_read_and_erase(http, auth) -> None:  # type: ignore[no-untyped-def]
    created = check(post_json(http, "/v1/subjects", CHILD, auth), "POST", "/v1/subjects")
    assert created["age_bracket"] == "under_14"
    again = post_json(http, "/v1/subjects", CHILD, auth)
    assert again.status_code == 200
    check(again, "POST", "/v1/subjects")
    read = http.get("/v1/subjects/u-1", headers=auth)
    assert read.status_code == 200
    check(read, "GET", "/v1/subjects/{subject_ref}")
    erased = http.delete("/v1/subjects/u-1", headers=auth)
    assert erased.status_code == 204
    check(erased, "DELETE", "/v1/subjects/{subject_ref}")


def test_subject_errors(http, auth) -> None:  # type: ignore[no-untyped-def]
    missing = http.get("/v1/subjects/nobody", headers=auth)
    assert missing.status_code == 404
    check(missing, "GET", "/v1/subjects/{subject_ref}")

    invalid = post_json(http, "/v1/subjects", {"subject_ref": "u-1", "evidence": {"method": "self_declared"}, "x": 1}, auth)
    assert invalid.status_code == 422
    problem = check(invalid, "POST", "/v1/subjects")
    assert problem["type"] == "urn:agegate:problem:validation" and "x" in problem["errors"]

    future = post_json(http, "/v1/subjects", {"subject_ref": "u-1", "evidence": {"method": "self_declared", "birth_date": "2030-01-01"}}, auth)
    assert future.status_code == 422
    assert check(future, "POST", "/v1/subjects")["reason"] == "in_future"

    post_json(http, "/v1/subjects", CHILD, auth)
    contradicting = post_json(http, "/v1/subjects", {**CHILD, "evidence": {"method": "self_declared", "birth_date": "2012-05-01"}}, auth)
    assert contradicting.status_code == 409
    assert check(contradicting, "POST", "/v1/subjects")["code"] == "contradicting_evidence"

    not_json = http.post("/v1/subjects", data="subject_ref=u-1", headers={**auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415
    check(not_json, "POST", "/v1/subjects")

    malformed = http.post("/v1/subjects", data='{"subject_ref": "u-1", "subject_ref": "u-2"}', headers={**auth, "Content-Type": "application/json"})
    assert malformed.status_code == 400
    check(malformed, "POST", "/v1/subjects")

    unattested = post_json(http, "/v1/subjects", {"subject_ref": "u-3", "evidence": {"method": "attestation", "jwt": "x.y.z"}}, auth)
    assert unattested.status_code == 422
    assert check(unattested, "POST", "/v1/subjects")["type"] == "urn:agegate:problem:invalid-attestation"

    too_large = http.post("/v1/subjects", data='{"x": "' + "a" * 70_000 + '"}', headers={**auth, "Content-Type": "application/json"})
    assert too_large.status_code == 413
    check(too_large, "POST", "/v1/subjects")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"subject_ref": "u" * 129, "evidence": CHILD["evidence"]}, id="ref-too-long"),
        pytest.param({"subject_ref": "u 1", "evidence": CHILD["evidence"]}, id="ref-with-space"),
        pytest.param({"subject_ref": "u-1", "evidence": {**CHILD["evidence"], "resident_id": "11010519491231002X"}}, id="two-evidence-fields"),
        pytest.param({"subject_ref": "u-1", "evidence": {"method": "passport", "number": "E123"}}, id="unknown-method"),
        pytest.param({"subject_ref": "u-1", "evidence": {"method": "self_declared", "birth_date": 20130501}}, id="date-not-a-string"),
        pytest.param({"subject_ref": "u-1\n", "evidence": CHILD["evidence"]}, id="ref-with-trailing-newline"),
    ],
)
def test_bodies_the_spec_refuses_are_refused(http, auth, body) -> None:  # type: ignore[no-untyped-def]
    # the request schema must refuse it too, or this case is not testing the spec
    with pytest.raises(AssertionError):
        _validate_at(_pointer("components", "schemas", "RegisterSubjectRequest"), body)
    refused = post_json(http, "/v1/subjects", body, auth)
    assert refused.status_code == 422, refused.get_data(as_text=True)
    check(refused, "POST", "/v1/subjects")


def test_tokens_issue_and_verify(http, auth) -> None:  # type: ignore[no-untyped-def]
    post_json(http, "/v1/subjects", MINOR, auth)
    issued = post_json(http, "/v1/tokens", {"subject_ref": "u-2", "audience": "persona-chat", "ttl": 600}, auth)
    assert issued.status_code == 201
    body = check(issued, "POST", "/v1/tokens")
    validate_schema("AgeTokenHeader", _jws_part(body["token"], 0))
    validate_schema("AgeTokenClaims", _jws_part(body["token"], 1))

    for request in ({"token": body["token"], "feature": "companion"}, {"token": body["token"]}, {"token": "not.a.token"}):
        verified = post_json(http, "/v1/tokens/verify", request, auth)
        assert verified.status_code == 200
        answer = check(verified, "POST", "/v1/tokens/verify")
        assert answer["active"] is (request["token"] == body["token"])

    unknown = post_json(http, "/v1/tokens", {"subject_ref": "nobody", "audience": "persona-chat"}, auth)
    assert unknown.status_code == 404
    check(unknown, "POST", "/v1/tokens")


def test_published_documents(http, auth) -> None:  # type: ignore[no-untyped-def]
    for path in ("/.well-known/agegate", "/v1/policy", "/.well-known/jwks.json"):
        response = http.get(path)
        assert response.status_code == 200, path
        check(response, "GET", path)
        unchanged = http.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert unchanged.status_code == 304, path
        check(unchanged, "GET", path)

    post_json(http, "/v1/subjects", CHILD, auth)
    token = post_json(http, "/v1/tokens", {"subject_ref": "u-1", "audience": "persona-chat"}, auth).get_json()["token"]
    uri = _jws_part(token, 1)["status"]["status_list"]["uri"]
    path = "/v1/status-lists/" + uri.rsplit("/", 1)[1]
    listed = http.get(path)
    assert listed.status_code == 200
    served = check(listed, "GET", "/v1/status-lists/{list_id}")
    assert _jws_part(served, 0)["typ"] == "statuslist+jwt"
    validate_schema("StatusListTokenClaims", _jws_part(served, 1))
    check(http.get("/v1/status-lists/999999"), "GET", "/v1/status-lists/{list_id}")


def test_consents_grant_list_withdraw(http, auth) -> None:  # type: ignore[no-untyped-def]
    post_json(http, "/v1/subjects", CHILD, auth)
    post_json(http, "/v1/subjects", GUARDIAN, auth)
    granted = post_json(http, "/v1/consents", CONSENT, auth, **{"Idempotency-Key": "k-1"})
    assert granted.status_code == 201
    consent = check(granted, "POST", "/v1/consents")
    replay = post_json(http, "/v1/consents", CONSENT, auth, **{"Idempotency-Key": "k-1"})
    assert (replay.status_code, replay.get_json()) == (201, consent)
    reused = post_json(http, "/v1/consents", {**CONSENT, "scopes": ["pi_processing"]}, auth, **{"Idempotency-Key": "k-1"})
    assert reused.status_code == 409
    check(reused, "POST", "/v1/consents")

    listed = http.get("/v1/consents?child_ref=u-1", headers=auth)
    assert listed.status_code == 200
    check(listed, "GET", "/v1/consents")
    check(http.get("/v1/subjects/u-1", headers=auth), "GET", "/v1/subjects/{subject_ref}")
    token = post_json(http, "/v1/tokens", {"subject_ref": "u-1", "audience": "persona-chat"}, auth).get_json()["token"]
    validate_schema("AgeTokenClaims", _jws_part(token, 1))

    withdrawn = post_json(http, f"/v1/consents/{consent['consent_id']}/withdraw", {"reason": "changed mind"}, auth)
    assert withdrawn.status_code == 200
    assert check(withdrawn, "POST", "/v1/consents/{consent_id}/withdraw")["status"] == "withdrawn"
    revoked = check(post_json(http, "/v1/tokens/verify", {"token": token}, auth), "POST", "/v1/tokens/verify")
    assert revoked == {"active": False, "reason": "revoked"}
    check(http.post("/v1/consents/no-such-consent/withdraw", headers=auth), "POST", "/v1/consents/{consent_id}/withdraw")


def test_consent_refusals(http, auth) -> None:  # type: ignore[no-untyped-def]
    post_json(http, "/v1/subjects", CHILD, auth)
    post_json(http, "/v1/subjects", GUARDIAN, auth)
    banned = post_json(http, "/v1/consents", {**CONSENT, "scopes": ["virtual_intimacy"]}, auth)
    assert banned.status_code == 422
    problem = check(banned, "POST", "/v1/consents")
    assert (problem["type"], problem["rule"]) == ("urn:agegate:problem:banned-category", "minor_ban")

    invalid = post_json(http, "/v1/consents", {**CONSENT, "relationship": "neighbour"}, auth)
    assert invalid.status_code == 422
    assert "relationship" in check(invalid, "POST", "/v1/consents")["errors"]

    weak = post_json(http, "/v1/consents", {**CONSENT, "guardian_ref": "u-1"}, auth)
    assert weak.status_code == 422
    check(weak, "POST", "/v1/consents")

    unknown = post_json(http, "/v1/consents", {**CONSENT, "guardian_ref": "nobody"}, auth)
    assert unknown.status_code == 404
    check(unknown, "POST", "/v1/consents")


CONSENT_REQUEST = {
    "child_ref": "u-1",
    "guardian_ref": "g-1",
    "relationship": "parent",
    "scopes": ["pi_processing", "companion"],
    "notice": {"version": "privacy-notice-v3", "url": "https://app.example/privacy/v3"},
    "child_label": "小明",
}


def test_consent_requests_and_the_guardian_pages(http, auth) -> None:  # type: ignore[no-untyped-def]
    post_json(http, "/v1/subjects", CHILD, auth)
    post_json(http, "/v1/subjects", GUARDIAN, auth)
    body = CONSENT_REQUEST
    created = post_json(http, "/v1/consent-requests", body, auth, **{"Idempotency-Key": "ask-1"})
    assert created.status_code == 201
    request = check(created, "POST", "/v1/consent-requests")
    banned = post_json(http, "/v1/consent-requests", {**body, "scopes": ["virtual_intimacy"]}, auth)
    assert banned.status_code == 422
    check(banned, "POST", "/v1/consent-requests")
    read = http.get(f"/v1/consent-requests/{request['request_id']}", headers=auth)
    assert check(read, "GET", "/v1/consent-requests/{request_id}")["status"] == "pending"
    early = http.post(f"/v1/consent-requests/{request['request_id']}/manage-link", headers=auth)
    assert early.status_code == 409
    check(early, "POST", "/v1/consent-requests/{request_id}/manage-link")

    page = "/guardian/r/" + request["consent_url"].rsplit("/", 1)[1]
    html = http.get(page)
    check(html, "GET", "/guardian/r/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', html.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    check(http.get(page + "/qr.svg"), "GET", "/guardian/r/{token}/qr.svg")
    check(http.post(page + "/code", data={"csrf": csrf, "code": "12345"}), "POST", "/guardian/r/{token}/code")
    check(http.post(page + "/code", data={"csrf": csrf, "code": request["guardian_code"]}), "POST", "/guardian/r/{token}/code")
    answer = {"csrf": csrf, "choice-pi_processing": "allow", "choice-companion": "refuse", "confirm": "yes"}
    check(http.post(page + "/answer", data=answer), "POST", "/guardian/r/{token}/answer")
    check(http.get(page + "/receipt"), "GET", "/guardian/r/{token}/receipt")
    receipt = check(http.get(page + "/receipt.jwt"), "GET", "/guardian/r/{token}/receipt.jwt")
    validate_schema("ConsentReceiptClaims", _jws_part(receipt.strip(), 1))
    link = http.post(f"/v1/consent-requests/{request['request_id']}/manage-link", headers=auth)
    manage = "/guardian/m/" + check(link, "POST", "/v1/consent-requests/{request_id}/manage-link")["manage_url"].rsplit("/", 1)[1]
    check(http.get(manage), "GET", "/guardian/m/{token}")
    check(http.post(manage + "/withdraw", data={"csrf": csrf, "consent_id": "none"}), "POST", "/guardian/m/{token}/withdraw")
    loosened = http.post(manage + "/controls", data={"csrf": csrf, "daily_minutes": "1441"})
    assert loosened.status_code == 422
    check(loosened, "POST", "/guardian/m/{token}/controls")
    tightened = http.post(manage + "/controls", data={"csrf": csrf, "daily_minutes": "30", "blocked": "digital_human"})
    assert tightened.status_code == 303
    check(tightened, "POST", "/guardian/m/{token}/controls")
    stylesheet = http.get("/guardian/static/guardian.css")
    check(stylesheet, "GET", "/guardian/static/{filename}")
    stylesheet.close()
    check(http.get("/guardian/oidc/callback"), "GET", "/guardian/oidc/callback")
    check(http.get(page + "/oidc"), "GET", "/guardian/r/{token}/oidc")
    completed = check(http.get(f"/v1/consent-requests/{request['request_id']}", headers=auth), "GET", "/v1/consent-requests/{request_id}")
    assert completed["granted"] == ["pi_processing"] and completed["declined"] == ["companion"]


def test_the_sandbox_operations(http, auth, api) -> None:  # type: ignore[no-untyped-def]
    sandbox = api.bearer(*ALL_SCOPES, tenant="sandbox-a", sandbox=True)
    check(http.get("/v1/sandbox/identities", headers=auth), "GET", "/v1/sandbox/identities")  # a production client: 403
    listed = check(http.get("/v1/sandbox/identities", headers=sandbox), "GET", "/v1/sandbox/identities")
    guardian = next(item for item in listed["items"] if item["name"] == "adult-guardian")
    post_json(http, "/v1/subjects", CHILD, sandbox)
    post_json(http, "/v1/subjects", {**GUARDIAN, "evidence": {"method": "resident_id", "resident_id": guardian["resident_id"]}}, sandbox)
    body = CONSENT_REQUEST
    request_id = post_json(http, "/v1/consent-requests", body, sandbox).get_json()["request_id"]
    path = "/v1/sandbox/consent-requests/{request_id}/complete"
    url = f"/v1/sandbox/consent-requests/{request_id}/complete"
    check(post_json(http, url, {"granted": ["pi_processing"]}, sandbox), "POST", path)  # companion unanswered: 422
    check(post_json(http, url, {"granted": ["pi_processing"]}, auth), "POST", path)  # a production client: 403
    done = check(post_json(http, url, {"granted": ["pi_processing"], "declined": ["companion"]}, sandbox), "POST", path)
    validate_schema("ConsentReceiptClaims", _jws_part(done["receipt"], 1))
    check(post_json(http, url, {"granted": ["pi_processing"], "declined": ["companion"]}, sandbox), "POST", path)  # 409
    check(post_json(http, "/v1/sandbox/consent-requests/nope/complete", {}, sandbox), "POST", path)  # 404


def test_audit_export_and_summary(http, auth, api) -> None:  # type: ignore[no-untyped-def]
    post_json(http, "/v1/subjects", CHILD, auth)
    post_json(http, "/v1/subjects", GUARDIAN, auth)
    consent = post_json(http, "/v1/consents", CONSENT, auth).get_json()
    post_json(http, f"/v1/consents/{consent['consent_id']}/withdraw", {}, auth)

    summary = http.get("/v1/reports/summary", headers=auth)
    assert summary.status_code == 200
    report = check(summary, "GET", "/v1/reports/summary")
    assert report["subjects_total"] == 2 and report["consents_withdrawn"] == 1

    annual = check(http.get("/v1/reports/minors-pi?year=2026", headers=auth), "GET", "/v1/reports/minors-pi")
    assert annual["under_14"]["exact"] == 1 and annual["consents"]["withdrawn"] == 1
    check(http.get("/v1/reports/minors-pi?year=next", headers=auth), "GET", "/v1/reports/minors-pi")

    exported = http.get("/v1/audit/consent-log?since=2026-01-01T00:00:00Z", headers=auth)
    assert exported.status_code == 200
    lines = check(exported, "GET", "/v1/audit/consent-log")
    assert [line["kind"] for line in lines] == ["event", "event", "event", "checkpoint"]  # granted, withdrawn, deletion_required
    validate_schema("CheckpointClaims", _jws_part(lines[-1]["jws"], 1))

    regulator = api.regulator_bearer()
    other = check(http.get("/v1/reports/summary?tenant=tenant-a", headers=regulator), "GET", "/v1/reports/summary")
    assert other["subjects_total"] == 2
    bad_query = http.get("/v1/audit/consent-log?since=yesterday", headers=auth)
    assert bad_query.status_code == 422
    check(bad_query, "GET", "/v1/audit/consent-log")


def test_operations_endpoints(http) -> None:  # type: ignore[no-untyped-def]
    for path in ("/healthz", "/metrics"):
        response = http.get(path, headers=METRICS_AUTH)
        assert response.status_code == 200, path
        check(response, "GET", path)


@pytest.fixture
def app_on(runtime):  # type: ignore[no-untyped-def]
    """Build the app over another database, reached through `engine` and its sessions."""
    engines = []

    def build(url: str):  # type: ignore[no-untyped-def]
        engine = make_engine(url)
        engines.append(engine)
        return create_app(runtime=build_runtime(runtime.settings, engine=engine, clock=runtime.clock))

    yield build
    for engine in engines:
        engine.dispose()


def test_readiness_and_the_database_down(app_on, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # (the per-test SQLite transaction holds the write lock, so /readyz gets its own database)
    migrate.upgrade(f"sqlite:///{tmp_path / 'ready.db'}")
    ready = app_on(f"sqlite:///{tmp_path / 'ready.db'}").test_client().get("/readyz")
    assert ready.status_code == 200
    check(ready, "GET", "/readyz")

    down = app_on(f"sqlite:///{tmp_path / 'no-such-dir' / 'agegate.db'}").test_client()
    not_ready = down.get("/readyz")
    assert not_ready.status_code == 503
    assert check(not_ready, "GET", "/readyz")["type"] == "urn:agegate:problem:database_unavailable"
    unavailable = down.post("/v1/subjects", json=CHILD, headers={"Authorization": "Bearer some-token"})
    assert unavailable.status_code == 503
    check(unavailable, "POST", "/v1/subjects")
    assert check(down.get("/healthz"), "GET", "/healthz") == {"status": "ok"}


class _Switch:
    """A session factory whose database can be switched off mid-test."""

    def __init__(self, up: Any, down: Any) -> None:
        self.up, self.down, self.is_down = up, down, False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self.down if self.is_down else self.up)(*args, **kwargs)


def test_the_export_answers_503_when_the_database_is_down(runtime, api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    unreachable = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'agegate.db'}")
    try:
        switch = _Switch(runtime.sessions, make_sessionmaker(unreachable))
        # the export reads through the reporting database (the primary here: no replica configured)
        down_able = dataclasses.replace(runtime, sessions=switch, reporting=ReportingDatabase(switch, None))
        http = create_app(runtime=down_able).test_client()
        api.http = http
        auth = api.bearer("audit:export")
        assert http.get("/v1/audit/consent-log", headers=auth).status_code == 200  # caches the bearer and the keys
        switch.is_down = True
        response = http.get("/v1/audit/consent-log", headers=auth)
        assert response.status_code == 503
        check(response, "GET", "/v1/audit/consent-log")
    finally:
        unreachable.dispose()


def test_oauth_token_endpoint(http, api) -> None:  # type: ignore[no-untyped-def]
    new = api.client("subjects:read", "subjects:write")
    basic = base64.b64encode(f"{new.client_id}:{new.client_secret}".encode()).decode()
    good = http.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "subjects:read"}, headers={"Authorization": f"Basic {basic}"})
    assert good.status_code == 200
    assert check(good, "POST", "/oauth/token")["scope"] == "subjects:read"
    posted = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": new.client_id, "client_secret": new.client_secret})
    assert posted.status_code == 200
    check(posted, "POST", "/oauth/token")
    wrong = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": new.client_id, "client_secret": "nope"})
    assert wrong.status_code == 401
    check(wrong, "POST", "/oauth/token")
    grant = http.post("/oauth/token", data={"grant_type": "password"}, headers={"Authorization": f"Basic {basic}"})
    assert grant.status_code == 400
    check(grant, "POST", "/oauth/token")


def _secured_operations() -> list[Any]:
    found = []
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                for requirement in item[method].get("security", []):
                    for scope in requirement.get("agegate", []):
                        found.append(pytest.param(method, path, scope, id=f"{method.upper()} {path}"))
    return found


@pytest.mark.parametrize(("method", "path", "scope"), _secured_operations())
def test_each_operation_needs_exactly_its_documented_scope(http, api, method, path, scope) -> None:  # type: ignore[no-untyped-def]
    url = path.replace("{subject_ref}", "nobody").replace("{consent_id}", "no-such-consent").replace("{request_id}", "no-such-request")
    kwargs: dict[str, Any] = {"json": {}} if method == "post" else {}

    anonymous = http.open(url, method=method.upper(), **kwargs)
    assert anonymous.status_code == 401
    check(anonymous, method, path)

    # /v1/sandbox/ answers sandbox tenants' clients only (CONTRACT §15)
    tenant = {"tenant": "try-app", "sandbox": True} if path.startswith("/v1/sandbox/") else {}
    others = [s for s in ALL_SCOPES if s != scope]
    forbidden = http.open(url, method=method.upper(), headers=api.bearer(*others, **tenant), **kwargs)
    assert forbidden.status_code == 403, f"{method.upper()} {path} without {scope}"
    check(forbidden, method, path)

    allowed = http.open(url, method=method.upper(), headers=api.bearer(scope, **tenant), **kwargs)
    assert allowed.status_code not in (401, 403), f"{method.upper()} {path} with {scope}: {allowed.get_data(as_text=True)}"
    check(allowed, method, path)
