"""/v1/subjects: registration at signup, reads, erasure (CONTRACT §5)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, g
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.exceptions import NotFound as HTTPNotFound

from service.api import current_runtime
from service.api.auth import require_scope
from service.api.bodies import load
from service.api.schemas import IsoDate, is_ref, ref_field
from service.domain.brackets import bracket_at, check_birth_date, next_bracket_change
from service.domain.evidence import Assurance, normalize_resident_id, resident_id_birth_date
from service.runtime import Runtime
from service.store import consents as consent_store
from service.store import subjects as subject_store
from service.store.db import transaction
from service.store.models import Subject

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


def _accept(runtime: Runtime, evidence: dict[str, Any]) -> subject_store.AcceptedEvidence:
    """Check the evidence and say what it proves; raises a domain error when it proves nothing."""
    method = evidence["method"]
    now = runtime.clock()
    resident_id_hmac = attester = None
    if method == "self_declared":
        birth_date: date = evidence["birth_date"]
        assurance = Assurance.SELF_DECLARED
    elif method == "resident_id":
        number = normalize_resident_id(evidence["resident_id"])
        birth_date = resident_id_birth_date(number)
        resident_id_hmac = runtime.kek.keyed_hash("resident-id", number.encode())
        assurance = Assurance.DOCUMENT
    else:
        attester, birth_date = runtime.parts["attestation"].birth_date(evidence["jwt"])
        assurance = Assurance.VERIFIED
    check_birth_date(birth_date, now, runtime.settings.timezone)
    return subject_store.AcceptedEvidence(birth_date, assurance, method, resident_id_hmac, attester)


def subject_view(runtime: Runtime, subject: Subject) -> dict[str, Any]:
    """The public view: bracket and assurance, never the birth date or ID number."""
    now = runtime.clock()
    tz = runtime.settings.timezone
    birth_date = subject_store.birth_date_of(runtime.kek, subject)
    change = next_bracket_change(birth_date, now, tz)
    return {
        "subject_ref": subject.subject_ref,
        "age_bracket": bracket_at(birth_date, now, tz).value,
        "assurance": subject.assurance,
        "bracket_valid_until": None if change is None else change.isoformat(),
        "verified_at": subject.verified_at.astimezone(tz).date().isoformat(),
    }


def _ref_or_404(subject_ref: str) -> str:
    if not is_ref(subject_ref):
        raise HTTPNotFound("no such subject")
    return subject_ref


@blueprint.post("/v1/subjects")
@require_scope("subjects:write")
def register_subject() -> tuple[dict[str, Any], int]:
    runtime = current_runtime()
    body = load(REGISTER)
    evidence = _accept(runtime, body["evidence"])
    with transaction(runtime.sessions) as session:
        subject, created = subject_store.register_subject(
            session,
            runtime.kek,
            tenant=g.caller.tenant,
            subject_ref=body["subject_ref"],
            evidence=evidence,
            now=runtime.clock(),
        )
        view = subject_view(runtime, subject)
    return view, 201 if created else 200


@blueprint.get("/v1/subjects/<subject_ref>")
@require_scope("subjects:read")
def read_subject(subject_ref: str) -> dict[str, Any]:
    runtime = current_runtime()
    with transaction(runtime.sessions) as session:
        subject = subject_store.get_subject(session, g.caller.tenant, _ref_or_404(subject_ref))
        view = subject_view(runtime, subject)
        view["consents"] = [
            {"consent_id": c.consent_id, "scopes": c.scopes, "status": c.status.value, "role": c.role}
            for c in consent_store.of_subject(session, g.caller.tenant, subject_ref, runtime.clock())
        ]
    return view


@blueprint.delete("/v1/subjects/<subject_ref>")
@require_scope("subjects:write")
def erase_subject(subject_ref: str) -> tuple[str, int]:
    runtime = current_runtime()
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        subject_store.erase_subject(session, g.caller.tenant, _ref_or_404(subject_ref), now)
        consent_store.end_for_erased_subject(
            session, tenant=g.caller.tenant, subject_ref=subject_ref, client_id=g.caller.client_id, now=now
        )
    return "", 204
