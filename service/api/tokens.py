"""Age tokens (CONTRACT §6): issuance, online verification and the published documents."""

from __future__ import annotations

import gzip
import hashlib
from datetime import timedelta, timezone
from typing import Any

from agegate_verifier import MAX_TOKEN_BYTES, TOKEN_TYPE, InvalidToken
from flask import Blueprint, Response, g, json, request
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from service.api.auth import Caller, require_scope
from service.api.bodies import json_body
from service.api.realm import caller_runtime
from service.api.schemas import is_ref, ref_field
from service.domain.brackets import Bracket
from service.flows import tokens as token_flows
from service.flows.policies import policy_for
from service.flows.tokens import TokenRequest
from service.runtime import Runtime, current_runtime
from service.store.transactions import run_in_transaction
from service.store import sandbox as sandbox_store
from service.tokens.issue import sandbox_issuer_of
from service.tokens.status_lists import ServedList, status_list_token

blueprint = Blueprint("tokens", __name__)

# Published documents change only on key rotation or a new policy: let caches keep them briefly.
_PUBLISHED_MAX_AGE = 300


_TTL_MAX = 86_400  # seconds: a day


class IssueSchema(Schema):
    subject_ref = ref_field(required=True)
    audience = ref_field(required=True)
    ttl = fields.Integer(strict=True, validate=validate.Range(min=1, max=_TTL_MAX))


ISSUE = IssueSchema()  # schemas are stateless: build each once, not per request


def well_formed_issue_body(body: Any) -> bool:
    """Whether ISSUE accepts `body` as it is, checked by hand in ~1 us where marshmallow's
    load takes ~7 us of every issuance. Anything else goes to ISSUE, which words the refusal
    (tests/api/test_tokens.py holds the two to the same answers)."""
    if type(body) is not dict or not body.keys() <= {"subject_ref", "audience", "ttl"}:
        return False
    subject_ref, audience = body.get("subject_ref"), body.get("audience")
    if type(subject_ref) is not str or type(audience) is not str or not (is_ref(subject_ref) and is_ref(audience)):
        return False
    if "ttl" not in body:
        return True
    ttl = body["ttl"]
    return type(ttl) is int and 1 <= ttl <= _TTL_MAX


_TOKEN_CHARS = MAX_TOKEN_BYTES * 2
_FEATURE_CHARS = 64


class VerifySchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=_TOKEN_CHARS))
    feature = fields.String(validate=validate.Length(min=1, max=_FEATURE_CHARS))


VERIFY = VerifySchema()


def well_formed_verify_body(body: Any) -> bool:
    """Whether VERIFY accepts `body` as it is, checked by hand: on the hottest endpoint the
    schema costs more than answering from the verifier's cache. Anything else goes to VERIFY,
    which words the refusal (tests/api/test_tokens.py holds the two to the same answers)."""
    if type(body) is not dict or not body.keys() <= {"token", "feature"}:
        return False
    token = body.get("token")
    if type(token) is not str or not 1 <= len(token) <= _TOKEN_CHARS:
        return False
    if "feature" not in body:
        return True
    feature = body["feature"]
    return type(feature) is str and 1 <= len(feature) <= _FEATURE_CHARS


def _cacheable(document: Any, max_age: int = _PUBLISHED_MAX_AGE, mimetype: str = "application/json") -> Response:
    """A response with a strong ETag; answers 304 to a matching If-None-Match."""
    body = document if isinstance(document, str) else json.dumps(document)
    response = Response(body, mimetype=mimetype)
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response.make_conditional(request)


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Response:
    return _cacheable(current_runtime().keyring.snapshot().jwks, max_age=60)


@blueprint.get("/sandbox/.well-known/jwks.json")
def sandbox_jwks() -> Response:
    """The sandbox tenants' keys only (CONTRACT §15): never in the production JWKS, nor it here."""
    return _cacheable(current_runtime().sandbox_keyring.snapshot().jwks, max_age=60)


@blueprint.get("/.well-known/agegate")
def discovery() -> Response:
    return _discovery(current_runtime().settings.issuer)


@blueprint.get("/sandbox/.well-known/agegate")
def sandbox_discovery() -> Response:
    return _discovery(sandbox_issuer_of(current_runtime().settings.issuer))


def _discovery(issuer: str) -> Response:
    """The realm of `issuer`'s keys and status lists; policy and OAuth are the service's own."""
    runtime = current_runtime()
    service = runtime.settings.issuer
    return _cacheable(
        {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "policy_uri": f"{service}/v1/policy",
            "token_endpoint": f"{service}/oauth/token",
            "status_list_uri_prefix": f"{issuer}/v1/status-lists/",
            "brackets": [b.value for b in Bracket],
            "feature_categories": list(runtime.policy.categories),
            "token_type": TOKEN_TYPE,
            "status_ttl": runtime.settings.status_ttl,
        }
    )


class PolicyQuery(Schema):
    tenant = ref_field()


POLICY_QUERY = PolicyQuery()


@blueprint.get("/v1/policy")
def policy() -> Response:
    """The base policy, or with `?tenant=T` the policy in force for T's users (base made
    stricter by T's overrides; the base itself when T has none). Public, like the base."""
    runtime = current_runtime()
    tenant = POLICY_QUERY.load(request.args.to_dict()).get("tenant")
    if tenant is None:
        return _cacheable(runtime.policy.document())
    in_force = run_in_transaction(runtime.reads, lambda session: policy_for(session, runtime.deps, tenant))
    return _cacheable(in_force.document(), max_age=60)


@blueprint.get("/v1/status-lists/<int:list_id>")
def status_list(list_id: int) -> Response:
    runtime = current_runtime()
    signing = runtime.keyring.snapshot()
    served = run_in_transaction(
        runtime.reads,
        lambda session: status_list_token(
            session, signing, issuer=runtime.settings.issuer, list_id=list_id, ttl=runtime.settings.status_ttl, now=runtime.clock()
        ),
    )
    return _status_list_response(served)


@blueprint.get("/sandbox/v1/status-lists/<int:list_id>")
def sandbox_status_list(list_id: int) -> Response:
    """The list signed by the sandbox keys as `<issuer>/sandbox`, valid until `ttl` past the
    furthest sandbox clock, so a verifier on any sandbox tenant's time accepts it."""
    runtime = current_runtime()
    signing, ttl = runtime.sandbox_keyring.snapshot(), runtime.settings.status_ttl

    def served_list(session: Session) -> ServedList:
        ahead = max(sandbox_store.clocks(session).values(), default=timedelta(0))
        return status_list_token(
            session, signing, issuer=sandbox_issuer_of(runtime.settings.issuer), list_id=list_id, ttl=ttl,
            now=runtime.clock(), valid_for=ttl + int(ahead.total_seconds()),
        )

    return _status_list_response(run_in_transaction(runtime.reads, served_list))


def _status_list_response(served: ServedList) -> Response:
    runtime = current_runtime()
    response = Response(served.token, mimetype="application/statuslist+jwt")
    response.set_etag(served.etag)
    response.vary.add("Accept-Encoding")
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        # base64 text shrinks by a quarter: a 1,000,000-slot list with 1% revoked fits in 16 KB
        response.set_data(gzip.compress(response.get_data(), 6))
        response.headers["Content-Encoding"] = "gzip"
    # A verifier keeps a list until its own exp (iat + ttl); half a ttl in a shared cache keeps
    # the whole path within one ttl of a revocation.
    response.headers["Cache-Control"] = f"public, max-age={max(1, runtime.settings.status_ttl // 2)}"
    return response.make_conditional(request)


@blueprint.post("/v1/tokens")
@require_scope("tokens:issue")
def issue() -> tuple[dict[str, Any], int]:
    body = json_body()
    if not well_formed_issue_body(body):
        body = ISSUE.load(body)  # raises the 422 naming what is wrong
    token_request = TokenRequest(g.caller.tenant, body["subject_ref"], body["audience"], body.get("ttl"))
    runtime = caller_runtime()
    issued = token_flows.issue_token(runtime.read_connection, runtime.deps, token_request)
    return {
        "token": issued.token,
        "expires_at": issued.expires_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "age_bracket": issued.claims["age_bracket"],
        "features": issued.claims["features"],
    }, 201


@blueprint.post("/v1/tokens/verify")
@require_scope("tokens:verify")
def verify() -> dict[str, Any]:
    """The offline verifier's checks, run here for services that cannot verify themselves."""
    body = json_body()
    if not well_formed_verify_body(body):
        body = VERIFY.load(body)  # raises the 422 naming what is wrong
    return verify_answer(caller_runtime(), g.caller, body)


def verify_answer(runtime: Runtime, caller: Caller, body: dict[str, str]) -> dict[str, Any]:
    """The answer to a well-formed verify body from `caller` (the view and the fast path's)."""
    if caller.audience is None:
        return {"active": False, "reason": "no_audience_registered"}
    verifier = runtime.online_verifiers(caller.audience, caller.tenant)
    try:
        if "feature" in body:  # one check of the token gives the claims and the decision
            claims, decision = verifier.verify_and_gate(body["token"], body["feature"])
        else:
            claims, decision = verifier.verify(body["token"]), None
    except InvalidToken as error:
        return {"active": False, "reason": error.reason}
    answer: dict[str, Any] = {
        "active": True,
        "sub": claims["sub"],
        "age_bracket": claims["age_bracket"],
        "assurance": claims["assurance"],
        "policy": claims["policy"],
        "exp": claims["exp"],
    }
    if "limits" in claims:
        answer["limits"] = claims["limits"]
    if decision is not None:
        answer.update(decision=decision.decision, obligations=list(decision.obligations))
        if decision.reason is not None:
            answer["reason"] = decision.reason
    else:
        answer["features"] = claims["features"]
    return answer
