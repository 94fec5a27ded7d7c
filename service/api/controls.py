"""/v1/subjects/{ref}/controls and /decisions: guardian controls and decision provenance (CONTRACT §13)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import NotFound as HTTPNotFound

from service.api.auth import require_scope
from service.api.bodies import load
from service.api.schemas import is_ref, ref_field
from service.flows import controls as control_flows
from service.flows import provenance
from service.flows.controls import ControlsChange, ControlsQuery, ControlsView
from service.flows.provenance import DecisionQuery
from service.api.realm import caller_runtime

blueprint = Blueprint("controls", __name__)

_CLOCK = validate.Regexp(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z", error="HH:MM, 00:00 to 23:59")


class CurfewSchema(Schema):
    start = fields.String(required=True, validate=_CLOCK)
    end = fields.String(required=True, validate=_CLOCK)


class ControlsSchema(Schema):
    guardian_ref = ref_field(required=True)
    daily_minutes = fields.Integer(strict=True, validate=validate.Range(min=0, max=1440))
    curfew = fields.Nested(CurfewSchema)
    single_payment_max_cny = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000))
    monthly_payment_max_cny = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000))
    blocked_categories = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), load_default=list, validate=validate.Length(max=16)
    )


CONTROLS = ControlsSchema()


def controls_view(view: ControlsView) -> dict[str, Any]:
    return {
        "child_ref": view.child_ref,
        "controls": view.controls.as_document(),
        "limits": None if view.limits is None else view.limits.as_claim(),
        "set_by": view.set_by,
        "set_at": None if view.set_at is None else view.set_at.isoformat(),
        "log_seq": view.log_seq,
    }


def _child_or_404(child_ref: str) -> str:
    if not is_ref(child_ref):
        raise HTTPNotFound("no such subject")
    return child_ref


@blueprint.put("/v1/subjects/<subject_ref>/controls")
@require_scope("consent:write")
def set_controls(subject_ref: str) -> dict[str, Any]:
    body = load(CONTROLS)
    guardian_ref = body.pop("guardian_ref")
    change = ControlsChange(g.caller.tenant, _child_or_404(subject_ref), guardian_ref, body, g.caller.client_id)
    return controls_view(caller_runtime().run(control_flows.set_controls, change))


@blueprint.get("/v1/subjects/<subject_ref>/controls")
@require_scope("subjects:read")
def read_controls(subject_ref: str) -> dict[str, Any]:
    query = ControlsQuery(g.caller.tenant, _child_or_404(subject_ref))
    return controls_view(caller_runtime().run(control_flows.read_controls, query))


class DecisionsQuery(Schema):
    at = fields.AwareDateTime(required=True, format="iso")


DECISIONS_QUERY = DecisionsQuery()


@blueprint.get("/v1/subjects/<subject_ref>/decisions")
@require_scope("subjects:read")
def decisions(subject_ref: str) -> dict[str, Any]:
    """What the subject's tokens said at `at`, and why (decision provenance)."""
    at = DECISIONS_QUERY.load(request.args.to_dict())["at"]
    found = caller_runtime().read(provenance.decisions_at, DecisionQuery(g.caller.tenant, _child_or_404(subject_ref), at))
    return {
        "subject_ref": found.subject_ref,
        "at": found.at.isoformat(),
        "age_bracket": found.age_bracket,
        "assurance": found.assurance,
        "assurance_recorded_at": found.assurance_recorded_at.isoformat(),
        "policy": found.policy,
        "features": found.features,
        "limits": found.limits,
        "consents": [
            {"consent_id": c.consent_id, "guardian_ref": c.guardian_ref, "scopes": list(c.scopes), "log_seq": c.granted_log_seq}
            for c in found.consents
        ],
        "controls": found.controls,
    }
