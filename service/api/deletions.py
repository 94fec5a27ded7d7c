"""/v1/deletions: what apps must delete after a child's consent ends, and their acknowledgements
(CONTRACT.md §11; POLICY.md "Deletion on withdrawal")."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, request
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import NotFound

from service.api.auth import require_scope
from service.api.bodies import json_body
from service.events.catalogue import timestamp
from service.flows import deletions as deletion_flows
from service.flows.deletions import DeletionAck, DeletionListing
from service.store import deletions as deletion_store
from service.api.realm import caller_runtime
from service.store.models import Deletion

blueprint = Blueprint("deletions", __name__)

_UUID = r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"


class DeletionQuery(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(deletion_store.STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    after = fields.String(load_default=None, validate=validate.Regexp(_UUID))


class AckSchema(Schema):
    """The acknowledgement carries nothing yet; an empty object or no body at all."""


QUERY, ACK = DeletionQuery(), AckSchema()


def deletion_view(deletion: Deletion, now: Any) -> dict[str, Any]:
    return {
        "deletion_id": deletion.deletion_id,
        "child_ref": deletion.child_ref,
        "cause": deletion.cause,
        "consent_id": deletion.consent_id,
        "status": deletion_store.status_of(deletion, now),
        "required_at": timestamp(deletion.required_at),
        "due_by": timestamp(deletion.due_by),
        "acknowledged_at": None if deletion.acknowledged_at is None else timestamp(deletion.acknowledged_at),
    }


@blueprint.get("/v1/deletions")
@require_scope("consent:read")
def list_deletions() -> dict[str, Any]:
    runtime = caller_runtime()
    query = QUERY.load(request.args.to_dict())
    found = runtime.run(deletion_flows.list_deletions, DeletionListing(g.caller.tenant, **query))
    now = runtime.clock()
    return {"items": [deletion_view(d, now) for d in found]}


@blueprint.post("/v1/deletions/<deletion_id>/ack")
@require_scope("consent:write")
def acknowledge(deletion_id: str) -> dict[str, Any]:
    runtime = caller_runtime()
    if re.fullmatch(_UUID, deletion_id) is None:
        raise NotFound(f"no deletion {deletion_id!r} in this tenant")
    if request.content_length:
        ACK.load(json_body())
    deletion = runtime.run(deletion_flows.acknowledge_deletion, DeletionAck(g.caller.tenant, g.caller.client_id, deletion_id))
    return deletion_view(deletion, runtime.clock())
