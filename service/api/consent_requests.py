"""/v1/consent-requests: agegate collects the guardian's consent on its own page (CONTRACT §12)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from flask import Blueprint, g
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound

from service.api.auth import require_scope
from service.api.idempotency_header import idempotency_key
from service.api.bodies import json_body
from service.api.realm import caller_runtime
from service.api.schemas import is_ref, ref_field
from service.domain.consent import Relationship
from service.flows.idempotency import Answer, once
from service.guardian import requests as steps
from service.runtime import Runtime
from service.store import consent_requests as store
from service.store.audit_log import timestamp
from service.store.transactions import run_in_transaction
from service.store.errors import Conflict
from service.store.models import ConsentRequest

blueprint = Blueprint("consent_requests", __name__)

LOCALES = ("zh-CN", "en")
# the replayed answer holds the link token and the code: the idempotency table keeps it sealed
_REPLAY_PURPOSE = "consent-request-replay"


def _unique(values: list[str]) -> bool:
    if len(set(values)) != len(values):
        raise ValidationError("scopes must not repeat")
    return True


def _printable(text: str) -> bool:
    if not text.strip() or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise ValidationError("printable text, not blank")
    return True


class NoticeSchema(Schema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=64))
    url = fields.Url(required=True, schemes={"https", "http"}, validate=validate.Length(max=500))


class CreateSchema(Schema):
    child_ref = ref_field(required=True)
    guardian_ref = ref_field(required=True)
    relationship = fields.String(required=True, validate=validate.OneOf([r.value for r in Relationship]))
    scopes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), required=True, validate=[validate.Length(min=1, max=16), _unique]
    )
    notice = fields.Nested(NoticeSchema, required=True)
    child_label = fields.String(required=True, validate=[validate.Length(min=1, max=64), _printable])
    locale = fields.String(load_default="zh-CN", validate=validate.OneOf(LOCALES))
    expires_in = fields.Integer(load_default=259_200, strict=True, validate=validate.Range(min=300, max=30 * 86_400))
    # the guardian's subject at the configured real-name identity provider, if the app knows it
    guardian_idp_subject = fields.String(load_default=None, validate=[validate.Length(min=1, max=255), _printable])


CREATE = CreateSchema()


def page_url(runtime: Runtime, token: str) -> str:
    return f"{runtime.settings.issuer}/guardian/r/{token}"


def request_view(record: ConsentRequest, now: Any) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "status": store.state_at(record, now),
        "child_ref": record.child_ref,
        "guardian_ref": record.guardian_ref,
        "relationship": record.relationship,
        "scopes": record.scopes.split(),
        "notice_version": record.notice_version,
        "locale": record.locale,
        "created_at": timestamp(record.created_at),
        "expires_at": timestamp(record.expires_at),
        "answered_at": None if record.answered_at is None else timestamp(record.answered_at),
        "consent_id": record.consent_id,
        "granted": None if record.granted is None else record.granted.split(),
        "declined": None if record.declined is None else record.declined.split(),
    }


def _seal(runtime: Runtime, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    sealed = runtime.kek.seal(_REPLAY_PURPOSE, json.dumps(body).encode(), request_id.encode())
    return {"request_id": request_id, "sealed": base64.b64encode(sealed).decode()}


def _unseal(runtime: Runtime, stored: dict[str, Any]) -> dict[str, Any]:
    raw = runtime.kek.open(_REPLAY_PURPOSE, base64.b64decode(stored["sealed"]), stored["request_id"].encode())
    return json.loads(raw)  # type: ignore[no-any-return]


@blueprint.post("/v1/consent-requests")
@require_scope("consent:write")
def create() -> tuple[dict[str, Any], int]:
    runtime = caller_runtime()
    data = CREATE.load(json_body())
    new = steps.NewRequest(
        tenant=g.caller.tenant,
        client_id=g.caller.client_id,
        child_ref=data["child_ref"],
        guardian_ref=data["guardian_ref"],
        relationship=data["relationship"],
        scopes=tuple(data["scopes"]),
        notice_version=data["notice"]["version"],
        notice_url=data["notice"]["url"],
        child_label=data["child_label"],
        locale=data["locale"],
        expires_in=data["expires_in"],
        idp_subject=data["guardian_idp_subject"],
    )

    def answer(session: Session) -> Answer:
        created = steps.create_request(session, runtime.deps, new)
        url = page_url(runtime, created.link_token)
        body = {
            "request_id": created.request.request_id,
            "status": store.PENDING,
            "consent_url": url,
            "qr_code_url": url + "/qr.svg",
            "guardian_code": created.guardian_code,
            "expires_at": timestamp(created.request.expires_at),
        }
        return Answer(_seal(runtime, body, created.request.request_id), 201)

    key = idempotency_key()
    reply = run_in_transaction(runtime.sessions, lambda session: once(session, runtime.deps, key, lambda: answer(session)))
    return _unseal(runtime, reply.body), reply.status


def _known(request_id: str) -> str:
    if not is_ref(request_id):
        raise HTTPNotFound("no such consent request")
    return request_id


@blueprint.get("/v1/consent-requests/<request_id>")
@require_scope("consent:read")
def read(request_id: str) -> dict[str, Any]:
    runtime = caller_runtime()
    tenant = g.caller.tenant
    record = run_in_transaction(runtime.reads, lambda session: store.get(session, tenant, _known(request_id)))
    return request_view(record, runtime.clock())


@blueprint.post("/v1/consent-requests/<request_id>/manage-link")
@require_scope("consent:write")
def manage_link(request_id: str) -> tuple[dict[str, Any], int]:
    """A fresh bounded-time link to the guardian's page for the request's child."""
    runtime = caller_runtime()
    tenant = g.caller.tenant

    def issue(session: Session) -> tuple[str, datetime]:
        record = store.get(session, tenant, _known(request_id))
        if record.state != store.COMPLETED:
            raise Conflict("consent_request_not_completed", "a management link follows a completed request only")
        return steps.issue_manage_link(session, runtime.deps, record)

    token, expires_at = run_in_transaction(runtime.sessions, issue)
    return {"manage_url": f"{runtime.settings.issuer}/guardian/m/{token}", "expires_at": timestamp(expires_at)}, 201
