"""/v1/webhooks: subscriptions, their delivery log, replay and test pings (CONTRACT.md §11)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, request
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.exceptions import NotFound

from service.api.auth import require_scope
from service.api.bodies import json_body, load
from service.delivery import check_destination
from service.events.catalogue import timestamp
from service.events.destinations import MAX_URL_LENGTH, RefusedDestination
from service.events.payloads import SUBSCRIBABLE_TYPES
from service.store import webhooks as webhook_store
from service.runtime import current_runtime
from service.store.db import transaction
from service.store.models import WebhookSubscription
from service.store.webhooks import DeliveryRecord

blueprint = Blueprint("webhooks", __name__)

SCOPE = "webhooks:manage"
_ID = r"\Awh_[0-9a-f]{32}\Z"


class SubscribeSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=MAX_URL_LENGTH))
    events = fields.List(
        fields.String(validate=validate.OneOf(SUBSCRIBABLE_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(SUBSCRIBABLE_TYPES)),
    )


class ReplaySchema(Schema):
    since_seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**53 - 1))


class DeliveryQuery(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(["pending", "delivered", "failed", "cancelled"]))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PingSchema(Schema):
    """A test ping takes no parameters; an empty object or no body at all."""


SUBSCRIBE, REPLAY, DELIVERY_QUERY, PING = SubscribeSchema(), ReplaySchema(), DeliveryQuery(), PingSchema()


def _id_or_404(webhook_id: str) -> str:
    if re.fullmatch(_ID, webhook_id) is None:
        raise NotFound(f"no webhook {webhook_id!r} in this tenant")
    return webhook_id


def subscription_view(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": subscription.events.split(),
        "status": subscription.status,
        "failing_since": None if subscription.failing_since is None else timestamp(subscription.failing_since),
        "created_at": timestamp(subscription.created_at),
    }


def delivery_view(record: DeliveryRecord) -> dict[str, Any]:
    d = record.delivery
    return {
        "delivery_id": d.id,
        "seq": d.seq,
        "type": d.event_type,
        "webhook_id": d.message_id,
        "origin": d.origin,
        "state": d.state,
        "created_at": timestamp(d.created_at),
        "next_attempt_at": timestamp(d.next_attempt_at) if d.state == "pending" else None,
        "finished_at": None if d.finished_at is None else timestamp(d.finished_at),
        "attempts": [
            {
                "attempted_at": timestamp(a.attempted_at),
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error,
                "response_prefix": a.response_prefix,
            }
            for a in record.attempts
        ],
    }


@blueprint.post("/v1/webhooks")
@require_scope(SCOPE)
def subscribe() -> tuple[dict[str, Any], int]:
    runtime = current_runtime()
    body = load(SUBSCRIBE)
    try:
        check_destination(body["url"], allow_private=runtime.settings.webhook_allow_private)
    except RefusedDestination as e:
        raise ValidationError({"url": [str(e)]}) from None
    with transaction(runtime.sessions) as session:
        new = webhook_store.create(
            session, runtime.kek, tenant=g.caller.tenant, url=body["url"], events=body["events"],
            client_id=g.caller.client_id, now=runtime.clock(),
        )
        view = subscription_view(new.subscription)
    return {**view, "secret": new.secret}, 201


@blueprint.get("/v1/webhooks")
@require_scope(SCOPE)
def list_subscriptions() -> dict[str, Any]:
    runtime = current_runtime()
    with transaction(runtime.sessions) as session:
        return {"items": [subscription_view(s) for s in webhook_store.list_for_tenant(session, g.caller.tenant)]}


@blueprint.delete("/v1/webhooks/<webhook_id>")
@require_scope(SCOPE)
def unsubscribe(webhook_id: str) -> tuple[str, int]:
    runtime = current_runtime()
    with transaction(runtime.sessions) as session:
        webhook_store.delete(session, g.caller.tenant, _id_or_404(webhook_id), runtime.clock())
    return "", 204


@blueprint.get("/v1/webhooks/<webhook_id>/deliveries")
@require_scope(SCOPE)
def list_deliveries(webhook_id: str) -> dict[str, Any]:
    runtime = current_runtime()
    query = DELIVERY_QUERY.load(request.args.to_dict())
    with transaction(runtime.sessions) as session:
        records = webhook_store.deliveries(session, g.caller.tenant, _id_or_404(webhook_id), **query)
        return {"items": [delivery_view(r) for r in records]}


@blueprint.post("/v1/webhooks/<webhook_id>/replay")
@require_scope(SCOPE)
def replay(webhook_id: str) -> tuple[dict[str, Any], int]:
    runtime = current_runtime()
    body = load(REPLAY)
    with transaction(runtime.sessions) as session:
        start, up_to = webhook_store.replay(session, g.caller.tenant, _id_or_404(webhook_id), body["since_seq"])
    return {"id": webhook_id, "since_seq": start, "until_seq": up_to}, 202


@blueprint.post("/v1/webhooks/<webhook_id>/test")
@require_scope(SCOPE)
def send_test(webhook_id: str) -> tuple[dict[str, Any], int]:
    runtime = current_runtime()
    if request.content_length:
        PING.load(json_body())
    with transaction(runtime.sessions) as session:
        delivery = webhook_store.queue_test(session, g.caller.tenant, _id_or_404(webhook_id), runtime.clock())
        return {"delivery_id": delivery.id, "webhook_id": delivery.message_id, "type": delivery.event_type}, 202
