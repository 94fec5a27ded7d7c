"""Regulators' reports (CONTRACT §8, §14): the summary and the annual minors' figures.

Both read through the reporting database (a streaming replica when configured)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request
from marshmallow import Schema, ValidationError, fields, validate

from service.api.auth import require_scope
from service.api.tenancy import readable_tenant, readable_tenants
from service.reports import annual
from service.reports.summary import summary as summary_document
from service.runtime import current_runtime

blueprint = Blueprint("reports", __name__)


class SummaryQuery(Schema):
    tenant = fields.String(validate=validate.Length(min=1, max=128))


class MinorsQuery(Schema):
    tenant = fields.String(validate=validate.Length(min=1, max=128))
    year = fields.Integer(required=True, strict=False, validate=validate.Range(min=2000, max=9999))


SUMMARY_QUERY = SummaryQuery()
MINORS_QUERY = MinorsQuery()


@blueprint.get("/v1/reports/summary")
@require_scope("audit:export")
def summary() -> dict[str, Any]:
    runtime = current_runtime()
    requested = SUMMARY_QUERY.load(request.args.to_dict()).get("tenant")
    now = runtime.clock()
    runtime.activity.flush()  # this process's pending token issuances count too
    with runtime.reporting.transaction() as session:
        tenant = readable_tenant(session, g.caller, requested)
        return summary_document(
            session, runtime.kek, runtime.policy, tenant, now, now.astimezone(runtime.settings.timezone)
        )


@blueprint.get("/v1/reports/minors-pi")
@require_scope("audit:export")
def minors_pi() -> dict[str, Any]:
    runtime = current_runtime()
    query = MINORS_QUERY.load(request.args.to_dict())
    tz = runtime.settings.timezone
    if query["year"] > runtime.clock().astimezone(tz).year:
        raise ValidationError({"year": ["the year has not begun"]})
    with runtime.reporting.transaction() as session:
        tenant = readable_tenant(session, g.caller, query.get("tenant"))
        return annual.minors_pi(session, runtime.kek, runtime.policy, tenant, query["year"], tz, runtime.clock())


@blueprint.get("/v1/tenants")
@require_scope("audit:export")
def tenants() -> dict[str, Any]:
    """The tenants the caller may read reports and exports of (CONTRACT §14): every tenant for
    a regulator client (sandbox tenants left out), its own for a tenant's client."""
    runtime = current_runtime()
    with runtime.reporting.transaction() as session:
        return {"items": [{"tenant": tenant} for tenant in readable_tenants(session, g.caller)]}
