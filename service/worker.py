"""`agegate worker`: delivers webhooks and runs the service's scheduled steps.

One loop keeps up to ``concurrency`` deliveries in flight on a thread pool. Each turn it
records what finished (one transaction), then fans out new log entries and claims as many
due deliveries as there are free slots (one transaction), and hands them to the pool; the
HTTP happens outside any transaction. Scheduled steps (bracket changes, consent expiry) run
between turns at their own interval. Everything the loop knows lives in the database, so a
restarted worker carries on where the last one stopped, and several can run at once.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from service.delivery import TIMEOUT_SECONDS, Sender
from service.events.catalogue import timestamp
from service.events.outcome import Outcome
from service.events.payloads import encode, payload, ping_payload
from service.events.retry import Backoff
from service.events.signing import headers
from service.kek import KeyEncryptionKey, Undecryptable
from service.store import webhook_queue
from service.store.transactions import run_in_transaction
from service.store.webhooks import open_secret

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger("agegate.worker")


@dataclass(frozen=True)
class ScheduledStep:
    """A step the worker runs every ``every``; it frames its own transactions."""

    name: str
    every: timedelta
    run: Callable[[datetime], int]


class Worker:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        kek: KeyEncryptionKey,
        sender: Sender,
        clock: Callable[[], datetime],
        backoff: Backoff = Backoff(),
        concurrency: int = 16,
        idle_wait: float = 0.2,
        batch_window: float = 0.02,
        rand: Callable[[], float] = random.random,
        steps: Sequence[ScheduledStep] = (),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.sessions = sessions
        self.kek = kek
        self.sender = sender
        self.clock = clock
        self.backoff = backoff
        self.concurrency = concurrency
        self.idle_wait = idle_wait
        self.batch_window = batch_window
        self.rand = rand
        self.steps = steps
        # A claim outlives the longest attempt, so no other worker takes a delivery in flight.
        self.lease = timedelta(seconds=sender.timeout + max(1.0, sender.timeout / 2))
        self._secrets: dict[str, str] = {}
        self._next_step_at: dict[str, datetime] = {}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="agegate-webhook")
        self._in_flight: dict[Future[Outcome], tuple[webhook_queue.Claimed, datetime]] = {}

    def turn(self) -> int:
        """Record finished attempts, start new ones; returns how many it started."""
        self._record_finished()
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        now = self.clock()
        def claim(session: Session) -> list[webhook_queue.Claimed]:
            webhook_queue.fan_out(session, now)
            return webhook_queue.claim_due(session, now, limit=free, lease=self.lease)

        claimed = run_in_transaction(self.sessions, claim)
        for item in claimed:
            self._in_flight[self._pool.submit(self._send, item)] = (item, self.clock())
        return len(claimed)

    def drain(self) -> None:
        """Wait for every attempt in flight, record it, and close the idle connections."""
        wait(list(self._in_flight))
        self._record_finished()
        self.sender.close()

    def run(self, stop: threading.Event) -> None:
        """Deliver and run scheduled steps until ``stop`` is set, then finish what is in flight."""
        log.info("webhook worker started (up to %d deliveries at once)", self.concurrency)
        try:
            while not stop.is_set():
                try:
                    started = self.turn()
                    self._run_steps()
                except Exception:  # noqa: BLE001 - a database outage must not end the worker
                    log.exception("worker turn failed; retrying")
                    stop.wait(1.0)
                    continue
                if self._in_flight:
                    # Let attempts finish together (up to a short batch window), so that
                    # recording and claiming cost one transaction per batch, not per delivery.
                    window = self.batch_window if started else self.idle_wait
                    wait(list(self._in_flight), timeout=window, return_when=FIRST_COMPLETED)
                    wait(list(self._in_flight), timeout=self.batch_window)
                elif started == 0:
                    stop.wait(self.idle_wait)
        finally:
            self.drain()
            self._pool.shutdown()
            log.info("webhook worker stopped")

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """Turn until nothing is due or in flight (tests and `agegate worker --once`)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.turn() == 0 and not self._in_flight:
                    return
                if self._in_flight:
                    wait(list(self._in_flight), timeout=0.05, return_when=FIRST_COMPLETED)
            raise TimeoutError("deliveries still due after the timeout")
        finally:
            self.sender.close()

    def run_steps(self) -> None:
        """Run every scheduled step now, whatever its interval."""
        self._next_step_at.clear()
        self._run_steps()

    def _run_steps(self) -> None:
        now = self.clock()
        for step in self.steps:
            if self._next_step_at.get(step.name, now) <= now:
                count = step.run(now)
                if count:
                    log.info("%s: %d", step.name, count)
                self._next_step_at[step.name] = now + step.every

    def _record_finished(self) -> None:
        done = [future for future in self._in_flight if future.done()]
        if not done:
            return
        results = [(*self._in_flight.pop(future), future.result()) for future in done]
        outcomes = [(item, outcome, at) for item, at, outcome in results]
        run_in_transaction(
            self.sessions,
            lambda session: webhook_queue.record_outcomes(session, outcomes, backoff=self.backoff, rand=self.rand),
        )
        for item, _at, outcome in results:
            log.info(
                "webhook %s seq=%d to %s: %s in %d ms%s",
                item.message_id,
                item.seq,
                item.subscription_id,
                outcome.status if outcome.status is not None else "no answer",
                outcome.latency_ms,
                "" if outcome.delivered else f" ({outcome.error}; attempt {item.attempts + 1})",
            )

    def _secret(self, item: webhook_queue.Claimed) -> str:
        secret = self._secrets.get(item.subscription_id)
        if secret is None:
            secret = self._secrets[item.subscription_id] = open_secret(self.kek, item.subscription_id, item.secret_enc)
        return secret

    def _send(self, item: webhook_queue.Claimed) -> Outcome:
        try:
            if item.event is None:
                body = ping_payload(item.tenant, timestamp(item.created_at), item.subscription_id)
            else:
                body = payload(item.seq, json.loads(item.event))
            raw = encode(body)
            signed = headers(self._secret(item), item.message_id, int(self.clock().timestamp()), raw)
        except (ValueError, KeyError, Undecryptable) as e:  # a body we must not or cannot send
            return Outcome(None, 0, f"not sent: {type(e).__name__}: {e}"[:200])
        try:
            return self.sender.post(item.url, raw, signed)
        except Exception as e:  # noqa: BLE001 - one odd receiver must not stop the others
            return Outcome(None, 0, f"{type(e).__name__}: {e}"[:200])


def expire_consents_step(runtime: Runtime) -> ScheduledStep:
    """Consents past ``expires_at`` get their ``expired`` event (and webhook) within a minute:
    production tenants' on the real clock, each sandbox tenant's on its own."""
    from service.flows.consents import ConsentExpiry, expire_consents

    def run(_now: datetime) -> int:
        expired = runtime.run(expire_consents, ConsentExpiry())
        return expired + sum(sandbox.run(expire_consents, ConsentExpiry(tenant)) for tenant, sandbox in runtime.sandboxes())

    return ScheduledStep("consents expired", timedelta(minutes=1), run)


def bracket_changes_step(runtime: Runtime) -> ScheduledStep:
    """``bracket_changed`` for every subject at the 00:00 its bracket changes: checked every
    minute, so logged (and offered to webhooks) within about a minute of midnight -- for a
    sandbox tenant, of midnight on its clock (every change its last moves passed over)."""
    from service.flows.brackets import BracketScan, SandboxBracketScan, days_due, log_bracket_changes, log_sandbox_bracket_changes

    def run(_now: datetime) -> int:
        logged = sum(runtime.run(log_bracket_changes, BracketScan(day)) for day in runtime.run(days_due, None))
        return logged + sum(sandbox.run(log_sandbox_bracket_changes, SandboxBracketScan(tenant)) for tenant, sandbox in runtime.sandboxes())

    return ScheduledStep("bracket changes logged", timedelta(minutes=1), run)


def build_worker(runtime: Runtime, *, concurrency: int = 16, timeout: float = TIMEOUT_SECONDS) -> Worker:
    """The worker `agegate worker` and `agegate serve` run, on ``runtime``'s database and clock."""
    from service.guardian.keep_little import keep_little_step

    return Worker(
        sessions=runtime.sessions,
        kek=runtime.kek,
        sender=Sender(allow_private=runtime.settings.webhook_allow_private, timeout=timeout),
        clock=runtime.clock,
        concurrency=concurrency,
        steps=(expire_consents_step(runtime), keep_little_step(runtime), bracket_changes_step(runtime)),
    )


def start_in_background(worker: Worker) -> threading.Event:
    """Run ``worker`` on a daemon thread (development: `agegate serve`); set the event to stop it."""
    stop = threading.Event()
    threading.Thread(target=worker.run, args=(stop,), name="agegate-worker", daemon=True).start()
    return stop
