"""/v1/subjects: registration at signup, reads, erasure (CONTRACT §5)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.exceptions import NotFound as HTTPNotFound

from service.api.auth import require_scope
from service.api.bodies import load
from service.api.schemas import IsoDate, is_ref, ref_field
from service.flows import subjects as subject_flows
from service.flows.subjects import Evidence, SubjectErasure, SubjectLookup, SubjectRegistration, SubjectStanding
from service.api.realm import caller_runtime

blueprint = Blueprint("subjects", __name__)

_FIELDS_BY_METHOD = {"self_declared": "birth_date", "resident_id": "resident_id", "attestation": "jwt"}


class EvidenceSchema(Schema):
    method = fields.String(required=True, validate=validate.OneOf(sorted(_FIELDS_BY_METHOD)))
    birth_date = IsoDate(format="%Y-%m-%d")
    resident_id = fields.String(validate=validate.Length(equal=18))
    jwt = fields.String(validate=validate.Length(min=1, max=8192))

    @validates_schema
    def _one_field_per_method(self, data: dict[str, Any], **_: Any) -> None:
        wanted = _FIELDS_BY_METHOD.get(data.get("method", ""))
        present = {name for name in _FIELDS_BY_METHOD.values() if name in data}
        if wanted is not None and present != {wanted}:
            raise ValidationError(f"method {data['method']} takes exactly the field {wanted}", field_name=wanted)


class RegisterSchema(Schema):
    subject_ref = ref_field(required=True)
    evidence = fields.Nested(EvidenceSchema, required=True)


REGISTER = RegisterSchema()  # schemas are stateless: build each once, not per request


def standing_view(standing: SubjectStanding) -> dict[str, Any]:
    """The public view: bracket and assurance, never the birth date or ID number."""
    return {
        "subject_ref": standing.subject_ref,
        "age_bracket": standing.age_bracket.value,
        "assurance": standing.assurance.value,
        "bracket_valid_until": None if standing.bracket_valid_until is None else standing.bracket_valid_until.isoformat(),
        "verified_at": standing.verified_at.isoformat(),
    }


def _ref_or_404(subject_ref: str) -> str:
    if not is_ref(subject_ref):
        raise HTTPNotFound("no such subject")
    return subject_ref


@blueprint.post("/v1/subjects")
@require_scope("subjects:write")
def register_subject() -> tuple[dict[str, Any], int]:
    body = load(REGISTER)
    registration = SubjectRegistration(
        g.caller.tenant, body["subject_ref"], Evidence(**body["evidence"]), sandbox=g.caller.sandbox
    )
    runtime = caller_runtime()
    # A new subject -- the common case -- in one statement with no BEGIN or COMMIT; a taken
    # subject_ref then in a transaction that locks and reconciles it (its evidence checked again).
    registered = runtime.run_single_statement(subject_flows.register_new_subject, registration) or runtime.run(
        subject_flows.register_subject, registration
    )
    return standing_view(registered.standing), 201 if registered.created else 200


@blueprint.get("/v1/subjects/<subject_ref>")
@require_scope("subjects:read")
def read_subject(subject_ref: str) -> dict[str, Any]:
    found = caller_runtime().run(subject_flows.read_subject, SubjectLookup(g.caller.tenant, _ref_or_404(subject_ref)))
    return {
        **standing_view(found.standing),
        "consents": [
            {"consent_id": c.consent_id, "scopes": c.scopes, "status": c.status.value, "role": c.role} for c in found.consents
        ],
    }


@blueprint.delete("/v1/subjects/<subject_ref>")
@require_scope("subjects:write")
def erase_subject(subject_ref: str) -> tuple[str, int]:
    erasure = SubjectErasure(g.caller.tenant, _ref_or_404(subject_ref), g.caller.client_id)
    caller_runtime().run(subject_flows.erase_subject, erasure)
    return "", 204
