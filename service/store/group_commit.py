"""Group commit of one tenant's chain writes: several waiting steps, one transaction.

Every append to a tenant's consent log locks the tenant's chain head until commit, so one
tenant's writers, each in a transaction of its own, can never commit faster than one commit
after another. Here the writers of a tenant that arrive while a transaction of that tenant is
running wait for it; the next of them to run (the leader) then takes every step waiting, up
to its batch size (AGEGATE_GROUP_COMMIT_BATCH), and runs them in ONE transaction:

- the steps one after another, in arrival order, with no savepoint: the common batch, where
  every step succeeds, pays nothing for isolating them. If one raises, that transaction is
  rolled back and the batch runs again with each step in a SAVEPOINT of its own: a step that
  raises then is rolled back to its savepoint and gets its own error; the others go on. A
  failing step thus costs its batch one more run, as a deadlock does;
- their log appends are staged (store/audit_log.Staging) and linked after the last step,
  under one lock of the head (level 3 of store/locks.py, taken last as always), in the
  order the steps ran -- so the head is held for the linking and the commit only;
- one COMMIT; only then is any caller answered, with its own result or error. An error of
  the batch as a whole (the commit, the linking, a lost connection) is every caller's.

A deadlock or serialization failure inside any step aborts the whole transaction, which
`run_in_transaction` runs again in full, as it would have run each step alone; steps
therefore read the clock and build their ids inside, as they always have.

The waiting uses `threading` locks, which gunicorn's gevent worker has monkey-patched before
the app is built (service/serving.py), so a waiting request yields its greenlet; under
threads (gthread, tests) they are ordinary locks. A lone writer (the CLI, a test client, a
SQLite database whose writers queue anyway) is simply a batch of one. Batches are per
process: two workers' leaders each link their batch in turn on the head's row lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from service.store import audit_log
from service.store.transactions import ABORTED_TO_RETRY, run_in_transaction

T = TypeVar("T")


@dataclass
class _Waiter(Generic[T]):
    work: Callable[[Session], T]
    result: T | None = None
    error: BaseException | None = None
    done: bool = False

    def answer(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


@dataclass
class _Tenant:
    waiting: list[_Waiter] = field(default_factory=list)  # type: ignore[type-arg]
    # held by the leader while its batch runs; waiters block on it and find their answer.
    # Looked up when a tenant first writes, not at import: gevent's patched Lock then.
    running: threading.Lock = field(default_factory=lambda: threading.Lock())


class GroupCommit:
    """Runs steps that append to one tenant's chain, batched per tenant (see the module doc)."""

    def __init__(self, sessions: sessionmaker[Session], max_batch: int) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._guard = threading.Lock()
        self._tenants: dict[str, _Tenant] = {}

    def run(self, tenant: str, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in a transaction shared with other waiting steps of `tenant`;
        returns its result (or raises its error) once that transaction has committed."""
        waiter: _Waiter[T] = _Waiter(work)
        with self._guard:
            queue = self._tenants.setdefault(tenant, _Tenant())
            queue.waiting.append(waiter)
        with queue.running:
            while not waiter.done:  # more waiting than a batch takes: the leader runs the next one too
                with self._guard:
                    batch = queue.waiting[: self._max_batch]
                    del queue.waiting[: self._max_batch]
                self._commit(batch)
        return waiter.answer()

    def waiting(self, tenant: str) -> int:
        """How many of the tenant's steps wait for a batch to take them."""
        with self._guard:
            queue = self._tenants.get(tenant)
            return 0 if queue is None else len(queue.waiting)

    def _commit(self, batch: list[_Waiter]) -> None:  # type: ignore[type-arg]
        try:
            try:
                outcomes = run_in_transaction(self._sessions, lambda session: _run_batch(session, batch))
            except _StepFailed:  # rolled back: again, each step isolated in its savepoint
                outcomes = run_in_transaction(self._sessions, lambda session: _run_isolated(session, batch))
        except BaseException as error:  # every caller learns it, then the leader's own raise does
            for waiter in batch:
                waiter.error, waiter.done = error, True
            if not isinstance(error, Exception):
                raise
            return
        for waiter, (result, error) in zip(batch, outcomes):
            waiter.result, waiter.error, waiter.done = result, error, True


class _StepFailed(Exception):
    """A step of a batch run without savepoints raised: roll back, run the batch isolated."""


def _run_batch(session: Session, batch: list[_Waiter]) -> list[tuple[object, Exception | None]]:  # type: ignore[type-arg]
    """Every step, no savepoints, then the staged appends linked: one outcome per step.

    Raises _StepFailed (its transaction to be rolled back) when a step of several raises,
    since what it wrote before raising cannot be told apart from the others' writes. A lone
    step's error is its own: the whole transaction, rolled back, was its alone.
    """
    staging = audit_log.Staging()
    staging.install(session)
    results: list[tuple[object, Exception | None]] = []
    for waiter in batch:
        try:
            result = waiter.work(session)
        except Exception as error:
            if len(batch) == 1 or _aborts_transaction(error):
                raise
            raise _StepFailed() from error
        staging.keep()
        results.append((result, None))
    audit_log.link_staged(session)
    return results


def _run_isolated(session: Session, batch: list[_Waiter]) -> list[tuple[object, Exception | None]]:  # type: ignore[type-arg]
    """Each step in its savepoint, then the staged appends linked: one outcome per step."""
    staging = audit_log.Staging()
    staging.install(session)
    outcomes: list[tuple[object, Exception | None]] = []
    for waiter in batch:
        try:
            with session.begin_nested():
                result = waiter.work(session)
        except Exception as error:
            if _aborts_transaction(error):
                raise
            staging.drop()
            outcomes.append((None, error))
        else:
            staging.keep()
            outcomes.append((result, None))
    audit_log.link_staged(session)
    return outcomes


def _aborts_transaction(error: Exception) -> bool:
    """Whether `error` ends the whole transaction rather than one step: a deadlock or
    serialization failure (run again in full) or a connection lost."""
    if not isinstance(error, DBAPIError):
        return False
    return error.connection_invalidated or getattr(error.orig, "sqlstate", None) in ABORTED_TO_RETRY
