"""The delivery queue in the database: fan-out from the log, claiming due deliveries, and
recording what each attempt came to.

Fan-out walks each subscription's tenant log past its cursor and adds a delivery row per
subscribed event, moving the cursor in the same transaction: an event is owed exactly once
per subscription, and a crash between the two is impossible. Claims give a worker a lease
(``next_attempt_at`` moved past the send timeout, plus a claim token); a worker that dies
mid-delivery simply lets the lease run out, and the delivery is due again. On Postgres both
steps use ``FOR UPDATE SKIP LOCKED``, so several workers share the queue without waiting on
or repeating each other.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from service.events.outcome import Outcome
from service.events.payloads import WEBHOOK_TYPES, message_id
from service.events.retry import Backoff
from service.store.models import ConsentLogEntry, LogHead, WebhookAttempt, WebhookDelivery, WebhookSubscription


def fan_out(session: Session, now: datetime, *, batch: int = 1000) -> int:
    """Owe each live subscription the events logged past its cursor; returns rows added."""
    subscriptions = session.scalars(
        select(WebhookSubscription)
        .join(LogHead, LogHead.tenant == WebhookSubscription.tenant)
        .where(WebhookSubscription.deleted_at.is_(None), LogHead.seq > WebhookSubscription.cursor_seq)
        .order_by(WebhookSubscription.id)
        .with_for_update(of=WebhookSubscription, skip_locked=True)
    ).all()
    added = 0
    for subscription in subscriptions:
        wanted = set(subscription.events.split())
        rows = session.execute(
            select(ConsentLogEntry.seq, ConsentLogEntry.event, ConsentLogEntry.hash)
            .where(ConsentLogEntry.tenant == subscription.tenant, ConsentLogEntry.seq > subscription.cursor_seq)
            .order_by(ConsentLogEntry.seq)
            .limit(batch)
        ).all()
        owed: list[dict[str, Any]] = []
        for seq, event, log_hash in rows:
            kind = WEBHOOK_TYPES.get(json.loads(event)["type"])
            if kind in wanted:
                replay = subscription.replay_until_seq is not None and seq <= subscription.replay_until_seq
                owed.append(_owed(subscription, seq, kind, message_id(log_hash), "replay" if replay else "live", now))
        if owed:
            session.execute(insert(WebhookDelivery), owed)
            added += len(owed)
        if rows:
            subscription.cursor_seq = rows[-1].seq
            if subscription.replay_until_seq is not None and subscription.cursor_seq >= subscription.replay_until_seq:
                subscription.replay_until_seq = None
    session.flush()
    return added


def _owed(subscription: WebhookSubscription, seq: int, kind: str, msg_id: str, origin: str, now: datetime) -> dict[str, Any]:
    return {
        "subscription_id": subscription.id,
        "tenant": subscription.tenant,
        "seq": seq,
        "event_type": kind,
        "message_id": msg_id,
        "origin": origin,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "claim": None,
        "created_at": now,
    }


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds until ``lease_until``, with everything needed to send it."""

    delivery_id: int
    claim: str
    subscription_id: str
    url: str
    secret_enc: bytes
    tenant: str
    seq: int
    event: str | None  # the log entry's JSON; None for a test ping
    message_id: str
    attempts: int
    first_attempt_at: datetime
    created_at: datetime


def claim_due(session: Session, now: datetime, *, limit: int, lease: timedelta) -> list[Claimed]:
    """Take up to ``limit`` due deliveries, oldest due first, leased until ``now + lease``."""
    ids = session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not ids:
        return []
    token = uuid.uuid4().hex
    # The repeated due condition makes the claim safe even where SKIP LOCKED does not exist.
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids), WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        .values(claim=token, next_attempt_at=now + lease, first_attempt_at=func.coalesce(WebhookDelivery.first_attempt_at, now))
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            WebhookDelivery.id, WebhookSubscription.id, WebhookSubscription.url, WebhookSubscription.secret_enc,
            WebhookDelivery.tenant, WebhookDelivery.seq, ConsentLogEntry.event, WebhookDelivery.message_id,
            WebhookDelivery.attempts, WebhookDelivery.first_attempt_at, WebhookDelivery.created_at,
        )
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .outerjoin(
            ConsentLogEntry,
            (ConsentLogEntry.tenant == WebhookDelivery.tenant) & (ConsentLogEntry.seq == WebhookDelivery.seq),
        )
        .where(WebhookDelivery.claim == token)
        .order_by(WebhookDelivery.tenant, WebhookDelivery.seq)
    ).all()
    return [Claimed(r[0], token, *r[1:]) for r in rows]


def record_outcomes(
    session: Session,
    results: Sequence[tuple[Claimed, Outcome, datetime]],
    *,
    backoff: Backoff,
    rand: Callable[[], float],
) -> None:
    """Store each attempt and settle its delivery: delivered, due again later, or failed.

    A delivery whose lease another worker took over meanwhile keeps that worker's state; the
    attempt is recorded all the same, since it happened.
    """
    if not results:
        return
    session.execute(
        insert(WebhookAttempt),
        [
            {
                "delivery_id": claimed.delivery_id,
                "attempted_at": at,
                "status_code": outcome.status,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error,
                "response_prefix": outcome.response_prefix,
            }
            for claimed, outcome, at in results
        ],
    )
    recovered: set[str] = set()
    exhausted: dict[str, datetime] = {}
    settled: list[dict[str, Any]] = []
    for claimed, outcome, at in results:
        finished_at = at + timedelta(milliseconds=outcome.latency_ms)
        row = {"b_id": claimed.delivery_id, "b_claim": claimed.claim, "attempts": claimed.attempts + 1,
               "state": "pending", "finished_at": None, "retry_at": None}
        if outcome.delivered:
            row.update(state="delivered", finished_at=finished_at)
            recovered.add(claimed.subscription_id)
        else:
            row["retry_at"] = backoff.next_attempt(
                first_attempt_at=claimed.first_attempt_at, failed_at=finished_at, failures=claimed.attempts + 1, rand=rand()
            )
            if row["retry_at"] is None:
                row.update(state="failed", finished_at=finished_at)
                exhausted[claimed.subscription_id] = finished_at
        settled.append(row)
    # One statement for the batch (executemany): a delivery another worker took over since
    # (its claim no longer ours) matches nothing and keeps that worker's state.
    deliveries = WebhookDelivery.__table__
    session.connection().execute(
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"), deliveries.c.claim == bindparam("b_claim"))
        .values(
            attempts=bindparam("attempts"),
            claim=None,
            state=bindparam("state"),
            finished_at=bindparam("finished_at"),
            next_attempt_at=func.coalesce(bindparam("retry_at", type_=deliveries.c.next_attempt_at.type), deliveries.c.next_attempt_at),
        ),
        settled,
    )
    for subscription_id in sorted(recovered - exhausted.keys()):
        session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscription_id, WebhookSubscription.status == "failing")
            .values(status="active", failing_since=None)
        )
    for subscription_id, at in sorted(exhausted.items()):
        session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscription_id, WebhookSubscription.status == "active")
            .values(status="failing", failing_since=at)
        )
