"""/v1/consents: guardian consent (CONTRACT §7, PIPL Art. 31)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, request
from marshmallow import Schema, ValidationError, fields, post_load, validate
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound

from service.api.auth import require_scope
from service.api.idempotency_header import idempotency_key
from service.api.bodies import json_body
from service.api.pagination import PageQuery, page_body, page_request
from service.api.schemas import UtcDateTime, is_ref, ref_field
from service.domain.consent import ConsentTerms, Relationship
from service.flows import consents as consent_flows
from service.flows.consents import ConsentGrant, ConsentListing, ConsentWithdrawal
from service.flows.idempotency import Answer, once
from service.api.realm import caller_runtime
from service.store.audit_log import timestamp
from service.store.consents import CHILD_ORDER, ConsentRecord
from service.store.transactions import run_in_transaction

blueprint = Blueprint("consents", __name__)



def _repeated() -> bool:
    raise ValidationError("scopes must not repeat")


class TermsSchema(Schema):
    """A consent's terms as the API takes them; loads a ConsentTerms."""

    child_ref = ref_field(required=True)
    guardian_ref = ref_field(required=True)
    relationship = fields.Enum(Relationship, by_value=True, required=True)
    scopes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=[validate.Length(min=1, max=16), lambda scopes: len(set(scopes)) == len(scopes) or _repeated()],
    )
    method = fields.String(required=True, validate=validate.Length(min=1, max=64))
    evidence_ref = fields.String(required=True, validate=validate.Length(min=1, max=200))
    notice_version = fields.String(required=True, validate=validate.Length(min=1, max=64))
    expires_at = UtcDateTime(load_default=None, allow_none=True)

    @post_load
    def _terms(self, data: dict[str, Any], **_: Any) -> ConsentTerms:
        return ConsentTerms(**{**data, "scopes": tuple(data["scopes"])})


TERMS = TermsSchema()  # schemas are stateless: build each once, not per request


class WithdrawSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


WITHDRAW = WithdrawSchema()


def consent_view(record: ConsentRecord) -> dict[str, Any]:
    consent = record.consent
    view: dict[str, Any] = {
        "consent_id": consent.consent_id,
        "status": record.status.value,
        **record.terms.described(),
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


def _once(answer: Callable[[Session], Answer], *, grouped_by: str | None = None) -> tuple[dict[str, Any], int]:
    """Run `answer` once per Idempotency-Key and request body, in the request's one transaction
    -- with `grouped_by`, one shared with that tenant's other waiting grants (a group commit)."""
    runtime = caller_runtime()
    key = idempotency_key()

    def work(session: Session) -> Answer:
        return once(session, runtime.deps, key, lambda: answer(session))

    reply = run_in_transaction(runtime.sessions, work) if grouped_by is None else runtime.run_grouped(grouped_by, work)
    return reply.body, reply.status


@blueprint.post("/v1/consents")
@require_scope("consent:write")
def grant() -> tuple[dict[str, Any], int]:
    terms: ConsentTerms = TERMS.load(json_body())
    if terms.expires_at is not None and terms.expires_at <= caller_runtime().clock():
        raise ValidationError({"expires_at": ["must be in the future"]})
    grant = ConsentGrant(g.caller.tenant, g.caller.client_id, terms)
    deps = caller_runtime().deps  # the step may run in another request's greenlet (the batch's leader)

    def answer(session: Session) -> Answer:
        granted = consent_flows.grant_consent(session, deps, grant)
        return Answer(consent_view(granted.record), 201)

    return _once(answer, grouped_by=grant.tenant)


@blueprint.post("/v1/consents/<consent_id>/withdraw")
@require_scope("consent:write")
def withdraw(consent_id: str) -> tuple[dict[str, Any], int]:
    data = WITHDRAW.load(json_body() if request.content_length else {})
    if not is_ref(consent_id):
        raise HTTPNotFound("no such consent")
    withdrawal = ConsentWithdrawal(g.caller.tenant, g.caller.client_id, consent_id, data["reason"])

    def answer(session: Session) -> Answer:
        return Answer(consent_view(consent_flows.withdraw_consent(session, caller_runtime().deps, withdrawal)), 200)

    return _once(answer)


class ListQuery(PageQuery):
    child_ref = ref_field(required=True)


LIST_QUERY = ListQuery()


@blueprint.get("/v1/consents")
@require_scope("consent:read")
def list_consents() -> dict[str, Any]:
    query = LIST_QUERY.load(request.args.to_dict())
    page = page_request(query, arity=len(CHILD_ORDER))
    listing = ConsentListing(g.caller.tenant, query["child_ref"], after=page.after, limit=page.limit)
    found = caller_runtime().run(consent_flows.list_consents, listing)
    return page_body([consent_view(r) for r in found.items], found.next_key)
