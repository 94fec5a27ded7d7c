"""/v1/sandbox/clock: a sandbox tenant's clock (CONTRACT §15)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from marshmallow import Schema, ValidationError, fields, post_load, validate

from service.api.auth import require_scope
from service.api.bodies import load
from service.domain.durations import Duration, parse_duration
from service.domain.errors import InvalidDuration
from service.flows import sandbox as sandbox_flows
from service.flows.sandbox import ClockAdvance, ClockQuery, SandboxClock
from service.runtime import current_runtime
from service.store.audit_log import timestamp

blueprint = Blueprint("sandbox_clock", __name__)


class AdvanceSchema(Schema):
    advance = fields.String(required=True, validate=validate.Length(min=2, max=40))

    @post_load
    def _duration(self, data: dict[str, Any], **_: Any) -> Duration:
        try:
            return parse_duration(data["advance"])
        except InvalidDuration as error:
            raise ValidationError({"advance": [str(error)]}) from None


ADVANCE = AdvanceSchema()


def clock_view(clock: SandboxClock) -> dict[str, Any]:
    return {"tenant": clock.tenant, "now": timestamp(clock.now), "offset_seconds": int(clock.offset.total_seconds())}


# Both steps add the tenant's offset themselves: they run on the real clock (current_runtime).
@blueprint.get("/v1/sandbox/clock")
@require_scope("subjects:read")
def read_clock() -> dict[str, Any]:
    return clock_view(current_runtime().read(sandbox_flows.read_clock, ClockQuery(g.caller.tenant)))


@blueprint.post("/v1/sandbox/clock")
@require_scope("subjects:write")
def advance_clock() -> dict[str, Any]:
    by = load(ADVANCE)
    return clock_view(current_runtime().run(sandbox_flows.advance_clock, ClockAdvance(g.caller.tenant, by)))
