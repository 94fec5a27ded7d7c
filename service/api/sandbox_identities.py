"""/v1/sandbox/identities: the ready-made test identities, as they stand on the sandbox
tenant's own clock (CONTRACT §15; the list is service.domain.sandbox_identities)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from service.api.auth import require_scope
from service.api.realm import caller_runtime, require_sandbox
from service.domain.sandbox_identities import ready_identities

blueprint = Blueprint("sandbox_identities", __name__)


@blueprint.get("/v1/sandbox/identities")
@require_scope("subjects:write")
def identities() -> dict[str, Any]:
    """Each identity with its checksum-valid resident ID (region 99: never a real person),
    birth date, age and bracket now, next bracket change, and what it demonstrates."""
    require_sandbox()
    runtime = caller_runtime()
    now, tz = runtime.clock(), runtime.settings.timezone
    return {
        "as_of": now.astimezone(tz).isoformat(),
        "time_zone": tz.key,
        "items": [
            {
                "name": identity.name,
                "resident_id": identity.resident_id,
                "birth_date": identity.birth_date.isoformat(),
                "age": identity.age,
                "age_bracket": identity.age_bracket.value,
                "bracket_changes_at": None if identity.bracket_changes_at is None else identity.bracket_changes_at.isoformat(),
                "demonstrates": identity.demonstrates,
            }
            for identity in ready_identities(now, tz)
        ],
    }
