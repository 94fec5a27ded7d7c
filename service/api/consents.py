"""/v1/consents: guardian consent (CONTRACT §7, PIPL Art. 31)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, request
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.exceptions import NotFound as HTTPNotFound

from service.api import current_runtime
from service.api.auth import require_scope
from service.api.bodies import json_body
from service.api.schemas import is_ref, ref_field
from service.domain.brackets import bracket_at
from service.domain.consent import Relationship, check_consent_request
from service.domain.evidence import Assurance
from service.store import consents as consent_store
from service.store import idempotency
from service.store import subjects as subject_store
from service.store.consents import ConsentRecord
from service.store.db import transaction
from service.store.audit_log import timestamp

blueprint = Blueprint("consents", __name__)

_KEY = validate.Regexp(r"\A[!-~]{1,200}\Z")


class GrantSchema(Schema):
    child_ref = ref_field(required=True)
    guardian_ref = ref_field(required=True)
    relationship = fields.String(required=True, validate=validate.OneOf([r.value for r in Relationship]))
    scopes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=[validate.Length(min=1, max=16), lambda scopes: len(set(scopes)) == len(scopes) or _repeated()],
    )
    method = fields.String(required=True, validate=validate.Length(min=1, max=64))
    evidence_ref = fields.String(required=True, validate=validate.Length(min=1, max=200))
    notice_version = fields.String(required=True, validate=validate.Length(min=1, max=64))
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")


GRANT = GrantSchema()  # schemas are stateless: build each once, not per request


def _repeated() -> bool:
    raise ValidationError("scopes must not repeat")


class WithdrawSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


WITHDRAW = WithdrawSchema()


def consent_view(record: ConsentRecord) -> dict[str, Any]:
    consent = record.consent
    view: dict[str, Any] = {
        "consent_id": consent.consent_id,
        "status": record.status.value,
        "child_ref": consent.child_ref,
        "guardian_ref": consent.guardian_ref,
        "relationship": consent.relationship,
        "scopes": record.scopes,
        "method": consent.method,
        "evidence_ref": consent.evidence_ref,
        "notice_version": consent.notice_version,
        "policy": consent.policy,
        "granted_at": timestamp(consent.granted_at),
        "expires_at": None if consent.expires_at is None else timestamp(consent.expires_at),
    }
    if record.ending is not None:
        view["ended_at"] = timestamp(record.ending.ended_at)
        view["ended_by"] = record.ending.kind
        if record.ending.reason is not None:
            view["withdrawal_reason"] = record.ending.reason
    return view


def _idempotent(write: Callable[[Any], tuple[dict[str, Any], int]]) -> tuple[dict[str, Any], int]:
    """Run `write(session)` once per Idempotency-Key and request body (CONTRACT §7)."""
    runtime = current_runtime()
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        try:
            _KEY(key)
        except ValidationError as error:
            raise ValidationError({"Idempotency-Key": error.messages}) from None
    request_hash = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + request.get_data()).hexdigest()
    with transaction(runtime.sessions) as session:
        if key is not None:
            replay = idempotency.claim(
                session, client_id=g.caller.client_id, key=key, request_hash=request_hash, now=runtime.clock()
            )
            if replay is not None:
                return replay.body, replay.status_code
        body, status = write(session)
        if key is not None:
            idempotency.remember(
                session, client_id=g.caller.client_id, key=key, status_code=status, body=body, now=runtime.clock()
            )
    return body, status


@blueprint.post("/v1/consents")
@require_scope("consent:write")
def grant() -> tuple[dict[str, Any], int]:
    runtime = current_runtime()
    data = GRANT.load(json_body())
    now = runtime.clock()
    if data["expires_at"] is not None and data["expires_at"] <= now:
        raise ValidationError({"expires_at": ["must be in the future"]})

    def write(session: Any) -> tuple[dict[str, Any], int]:
        tenant, tz = g.caller.tenant, runtime.settings.timezone
        child, guardian = subject_store.get_subjects(session, tenant, data["child_ref"], data["guardian_ref"])
        check_consent_request(
            policy=runtime.policy,
            child_bracket=bracket_at(subject_store.birth_date_of(runtime.kek, child), now, tz),
            guardian_bracket=bracket_at(subject_store.birth_date_of(runtime.kek, guardian), now, tz),
            guardian_assurance=Assurance(guardian.assurance),
            child_ref=child.subject_ref,
            guardian_ref=guardian.subject_ref,
            scopes=data["scopes"],
        )
        record = consent_store.grant(
            session,
            tenant=tenant,
            client_id=g.caller.client_id,
            child_ref=child.subject_ref,
            guardian_ref=guardian.subject_ref,
            relationship=data["relationship"],
            scopes=data["scopes"],
            method=data["method"],
            evidence_ref=data["evidence_ref"],
            notice_version=data["notice_version"],
            policy_version=runtime.policy.version,
            expires_at=data["expires_at"],
            now=now,
        )
        return consent_view(record), 201

    return _idempotent(write)


@blueprint.post("/v1/consents/<consent_id>/withdraw")
@require_scope("consent:write")
def withdraw(consent_id: str) -> tuple[dict[str, Any], int]:
    runtime = current_runtime()
    data = WITHDRAW.load(json_body() if request.content_length else {})
    if not is_ref(consent_id):
        raise HTTPNotFound("no such consent")

    def write(session: Any) -> tuple[dict[str, Any], int]:
        record = consent_store.withdraw(
            session,
            tenant=g.caller.tenant,
            consent_id=consent_id,
            reason=data["reason"],
            client_id=g.caller.client_id,
            now=runtime.clock(),
        )
        return consent_view(record), 200

    return _idempotent(write)


class ListQuery(Schema):
    child_ref = ref_field(required=True)


LIST_QUERY = ListQuery()


@blueprint.get("/v1/consents")
@require_scope("consent:read")
def list_consents() -> dict[str, Any]:
    runtime = current_runtime()
    query = LIST_QUERY.load(request.args.to_dict())
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        consent_store.expire_due(session, now, tenant=g.caller.tenant, child_ref=query["child_ref"])
        records = consent_store.for_child(session, g.caller.tenant, query["child_ref"], now)
        return {"items": [consent_view(r) for r in records]}
