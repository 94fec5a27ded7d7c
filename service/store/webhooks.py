"""Webhook subscriptions: create (secret shown once, kept encrypted), list, delete, replay,
test pings, and the delivery log a tenant reads (CONTRACT.md §11)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.events.signing import new_secret
from service.kek import KeyEncryptionKey
from service.store.errors import NotFound
from service.store.models import LogHead, WebhookAttempt, WebhookDelivery, WebhookSubscription

_SECRET = "webhook-secret"


@dataclass(frozen=True)
class NewSubscription:
    subscription: WebhookSubscription
    secret: str  # the only time it is ever returned


def seal_secret(kek: KeyEncryptionKey, subscription_id: str, secret: str) -> bytes:
    return kek.seal(_SECRET, secret.encode(), subscription_id.encode())


def open_secret(kek: KeyEncryptionKey, subscription_id: str, sealed: bytes) -> str:
    """The subscription's whsec_ secret; raises service.kek.Undecryptable on a wrong KEK."""
    return kek.open(_SECRET, sealed, subscription_id.encode()).decode()


def head_seq(session: Session, tenant: str) -> int:
    """The tenant's last log seq (0 for an empty log)."""
    return session.scalar(select(LogHead.seq).where(LogHead.tenant == tenant)) or 0


def create(
    session: Session, kek: KeyEncryptionKey, *, tenant: str, url: str, events: Sequence[str], client_id: str, now: datetime
) -> NewSubscription:
    """A subscription that receives the tenant's events logged from now on."""
    subscription_id = "wh_" + uuid.uuid4().hex
    secret = new_secret()
    subscription = WebhookSubscription(
        id=subscription_id,
        tenant=tenant,
        url=url,
        events=" ".join(dict.fromkeys(events)),
        secret_enc=seal_secret(kek, subscription_id, secret),
        cursor_seq=head_seq(session, tenant),
        replay_until_seq=None,
        status="active",
        failing_since=None,
        client_id=client_id,
        created_at=now,
        deleted_at=None,
    )
    session.add(subscription)
    session.flush()
    return NewSubscription(subscription, secret)


def get(session: Session, tenant: str, subscription_id: str, *, for_update: bool = False) -> WebhookSubscription:
    """A live subscription of the tenant; raises NotFound (also for a deleted one)."""
    query = select(WebhookSubscription).where(
        WebhookSubscription.tenant == tenant, WebhookSubscription.id == subscription_id, WebhookSubscription.deleted_at.is_(None)
    )
    subscription = session.scalar(query.with_for_update() if for_update else query)
    if subscription is None:
        raise NotFound("webhook", subscription_id)
    return subscription


def list_for_tenant(session: Session, tenant: str) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(WebhookSubscription.tenant == tenant, WebhookSubscription.deleted_at.is_(None))
    return list(session.scalars(query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)))


def delete(session: Session, tenant: str, subscription_id: str, now: datetime) -> None:
    """Stop the subscription and cancel what it still owed; its delivery log stays readable
    to the store (not to the API) as a record of what was sent."""
    subscription = get(session, tenant, subscription_id, for_update=True)
    subscription.deleted_at = now
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.state == "pending")
        .values(state="cancelled", finished_at=now, claim=None)
    )
    session.flush()


def replay(session: Session, tenant: str, subscription_id: str, since_seq: int) -> tuple[int, int]:
    """Send again every subscribed event from ``since_seq`` on; returns (from, up to) seq.

    Moves the subscription's fan-out cursor back, so the worker walks the log again from
    there and owes a fresh delivery of each event (same ``webhook-id``, so a receiver that
    already has one can tell). Events after the old cursor were owed once anyway.
    """
    subscription = get(session, tenant, subscription_id, for_update=True)
    start = max(since_seq, 1)
    up_to = subscription.cursor_seq
    if start <= up_to:
        subscription.replay_until_seq = max(up_to, subscription.replay_until_seq or 0)
        subscription.cursor_seq = start - 1
    session.flush()
    return start, up_to


def queue_test(session: Session, tenant: str, subscription_id: str, now: datetime) -> WebhookDelivery:
    """A ``webhook.test`` ping owed to the subscription, due at once."""
    get(session, tenant, subscription_id)
    delivery = WebhookDelivery(
        subscription_id=subscription_id,
        tenant=tenant,
        seq=0,
        event_type="webhook.test",
        message_id="test_" + uuid.uuid4().hex,
        origin="test",
        state="pending",
        attempts=0,
        next_attempt_at=now,
        claim=None,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


@dataclass(frozen=True)
class DeliveryRecord:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


def deliveries(
    session: Session, tenant: str, subscription_id: str, *, state: str | None, before: int | None, limit: int
) -> list[DeliveryRecord]:
    """The subscription's deliveries, newest first, each with its attempts (oldest first)."""
    get(session, tenant, subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    found = list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))
    attempts: dict[int, list[WebhookAttempt]] = {d.id: [] for d in found}
    if found:
        rows = session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(attempts))).order_by(WebhookAttempt.id)
        )
        for attempt in rows:
            attempts[attempt.delivery_id].append(attempt)
    return [DeliveryRecord(d, attempts[d.id]) for d in found]
