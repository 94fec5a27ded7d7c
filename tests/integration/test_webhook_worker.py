"""The webhook worker against committed databases and a real receiver on loopback: every
event type arrives signed, a receiver that was down gets everything once it is back, a
killed worker loses nothing, and two workers never deliver the same attempt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from service.auditlog.chain import EVENT_TYPES
from service.delivery import Sender
from service.events.payloads import WEBHOOK_TYPES
from service.events.retry import Backoff
from service.kek import KeyEncryptionKey
from service.store import audit_log, migrate
from service.store import webhooks as webhook_store
from service.store.db import make_engine, make_sessionmaker, transaction
from service.store.models import WebhookAttempt, WebhookDelivery
from service.worker import Worker
from tests.conftest import TEST_KEK, FakeClock
from tests.integration.conftest import needs_postgres
from tests.event_samples import BUILT
from tests.webhook_fixtures import receiver  # noqa: F401  (fixture)

KEK = KeyEncryptionKey(TEST_KEK)
FAST = Backoff(first=timedelta(milliseconds=50), cap=timedelta(milliseconds=200), give_up_after=timedelta(minutes=10))


@pytest.fixture
def database(fresh_database_url: str) -> Iterator[tuple[str, Any]]:
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    yield fresh_database_url, make_sessionmaker(engine)
    engine.dispose()


def now() -> datetime:
    return datetime.now(timezone.utc)


def subscribe(sessions: Any, url: str, types: Any = tuple(WEBHOOK_TYPES.values()), tenant: str = "t1") -> str:
    with transaction(sessions) as session:
        return webhook_store.create(session, KEK, tenant=tenant, url=url, events=types, client_id="cl", now=now()).secret


def log_events(sessions: Any, count: int, tenant: str = "t1") -> None:
    with transaction(sessions) as session:
        for _ in range(count):
            audit_log.append(session, tenant, [dict(BUILT["granted"], tenant=tenant)], now())


def worker(sessions: Any, **kwargs: Any) -> Worker:
    options: dict[str, Any] = {"concurrency": 8, "backoff": FAST, "idle_wait": 0.02, "clock": now}
    options.update(kwargs)
    return Worker(sessions=sessions, kek=KEK, sender=Sender(allow_private=True, timeout=2), **options)


def test_every_event_type_arrives_signed_and_the_standard_library_verifies_each(database, receiver) -> None:  # type: ignore[no-untyped-def]
    _, sessions = database
    secret = subscribe(sessions, receiver.url)
    with transaction(sessions) as session:
        audit_log.append(session, "t1", [dict(BUILT[kind]) for kind in EVENT_TYPES], now())
    worker(sessions).run_until_idle()
    bodies = [Webhook(secret).verify(r.body, r.headers) for r in receiver.wait_for(len(EVENT_TYPES))]
    assert sorted((b["seq"], b["type"]) for b in bodies) == [(i + 1, WEBHOOK_TYPES[k]) for i, k in enumerate(EVENT_TYPES)]
    assert all(b.keys() == {"type", "seq", "tenant", "occurred_at", "data"} for b in bodies)


def test_a_receiver_down_for_a_while_gets_every_event_exactly_once_when_it_is_back(database, receiver) -> None:  # type: ignore[no-untyped-def]
    _, sessions = database
    subscribe(sessions, receiver.url)
    receiver.stop()
    log_events(sessions, 30)
    clock = FakeClock(now())
    running = worker(sessions, clock=clock)
    running.run_until_idle()  # every first attempt fails: connection refused
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.status_code.is_(None))) == 30
    clock.advance(minutes=1)
    running.run_until_idle()  # still down: the second attempts fail too
    receiver.start()
    clock.advance(minutes=1)
    running.run_until_idle()
    seqs = [json.loads(r.body)["seq"] for r in receiver.wait_for(30)]
    assert sorted(seqs) == list(range(1, 31))  # each once, and seq restores the order
    assert Counter(r.headers["webhook-id"] for r in receiver.received).most_common(1)[0][1] == 1


def test_a_worker_killed_mid_delivery_loses_nothing(database, receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, sessions = database
    subscribe(sessions, receiver.url)
    log_events(sessions, 12)
    receiver.delay = 1.0  # slow enough that the kill lands while requests are in flight
    env = {**os.environ, "AGEGATE_DATABASE_URL": url, "AGEGATE_KEK": _kek_text(), "AGEGATE_WEBHOOK_ALLOW_PRIVATE": "1"}
    command = [os.path.join(os.path.dirname(sys.executable), "agegate"), "worker", "--concurrency", "4", "--timeout", "2"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: _in_flight(sessions) > 0, 20)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    receiver.delay = 0.0
    second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: _delivered(sessions) == 12, 40)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    seqs = {json.loads(r.body)["seq"] for r in receiver.received}
    assert seqs == set(range(1, 13))  # at least once each; an attempt cut off by the kill may arrive twice


@needs_postgres
@pytest.mark.parametrize("fresh_database_url", ["postgres"], indirect=True)
def test_two_workers_share_the_queue_and_never_deliver_the_same_attempt(database, receiver) -> None:  # type: ignore[no-untyped-def]
    _, sessions = database
    for tenant in ("t1", "t2", "t3"):
        subscribe(sessions, receiver.url, tenant=tenant)
        log_events(sessions, 60, tenant=tenant)
    workers = [worker(sessions, concurrency=6), worker(sessions, concurrency=6)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    try:
        receiver.wait_for(180, timeout=60)
        _wait_until(lambda: _delivered(sessions) == 180, 20)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    ids = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert len(ids) == 180 and max(ids.values()) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 180


def _kek_text() -> str:
    import base64

    return base64.urlsafe_b64encode(TEST_KEK).decode().rstrip("=")


def _in_flight(sessions: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.claim.is_not(None))) or 0


def _delivered(sessions: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.state == "delivered")) or 0


def _wait_until(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
