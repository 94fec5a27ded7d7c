"""/v1/sandbox/consent-requests/{id}/complete: a sandbox tenant answers its own consent
request without the hosted page (CONTRACT §15).

The answer goes through the very step the guardian's page submits to
(`service.guardian.requests.answer_request`), on the tenant's own clock: the same
`granted`/`declined` log events, webhooks and signed receipt; the consent's `method` says
`sandbox_completion`, since no guardian was there.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound

from service.api.auth import require_scope
from service.api.bodies import load
from service.api.consent_requests import request_view
from service.api.realm import caller_runtime, require_sandbox
from service.api.schemas import is_ref
from service.guardian import requests as steps
from service.store import consent_requests as store
from service.store.models import ConsentRequest
from service.store.transactions import run_in_transaction

blueprint = Blueprint("sandbox_requests", __name__)

_CATEGORIES = fields.List(
    fields.String(validate=validate.Length(min=1, max=64)), load_default=list, validate=validate.Length(max=16)
)


class CompleteSchema(Schema):
    granted = _CATEGORIES
    declined = _CATEGORIES

    @validates_schema
    def _each_category_once(self, data: dict[str, Any], **_: Any) -> None:
        answered = [*data["granted"], *data["declined"]]
        if len(set(answered)) != len(answered):
            raise ValidationError("a category is granted or declined, once", field_name="declined")


COMPLETE = CompleteSchema()


def _check_answer(record: ConsentRequest, granted: list[str], declined: list[str]) -> None:
    """Every requested category answered, nothing else: what the page's form enforces."""
    asked = record.scopes.split()
    errors = {
        name: [f"not requested: {', '.join(extra)}"]
        for name, given in (("granted", granted), ("declined", declined))
        if (extra := [c for c in given if c not in asked])
    }
    missing = [c for c in asked if c not in granted and c not in declined]
    if missing:
        errors["_schema"] = [f"every requested category needs an answer; missing: {', '.join(missing)}"]
    if errors:
        raise ValidationError(errors)


@blueprint.post("/v1/sandbox/consent-requests/<request_id>/complete")
@require_scope("consent:write")
def complete(request_id: str) -> dict[str, Any]:
    """Grant and decline the request's categories as a guardian would; returns the request
    as `GET /v1/consent-requests/{id}` shows it, with the signed receipt."""
    require_sandbox()
    body = load(COMPLETE)
    if not is_ref(request_id):
        raise HTTPNotFound("no such consent request")
    tenant, runtime = g.caller.tenant, caller_runtime()
    key = runtime.keyring.snapshot()  # before the write transaction: it reads in its own

    def answer(session: Session) -> steps.Answered:
        record = store.get(session, tenant, request_id, for_update=True)
        _check_answer(record, body["granted"], body["declined"])
        chosen = steps.Answer(tuple(body["granted"]), tuple(body["declined"]), "sandbox")
        return steps.answer_request(session, runtime.deps, record, chosen, key)

    answered = run_in_transaction(runtime.sessions, answer)
    return {**request_view(answered.request, runtime.clock()), "receipt": answered.receipt}
