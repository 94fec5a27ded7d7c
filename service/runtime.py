"""What one running service holds, typed, and how a request reaches it (`current_runtime`).

A leaf: it imports no blueprint, so API views, hosted pages and the CLI can all use it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TypeVar

from flask import Flask, current_app
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from service.attestation import AttestationVerifier
from service.config import Settings
from service.domain.policy import Policy
from service.flows.deps import Deps
from service.kek import KeyEncryptionKey
from service.reports.activity import ActivityRecorder
from service.reports.routing import ReportingDatabase
from service.store import sandbox as sandbox_store
from service.store.group_commit import GroupCommit
from service.store.keys import PRODUCTION, SANDBOX
from service.store.transactions import run_in_transaction
from service.tokens.issue import sandbox_issuer_of
from service.tokens.keys import Keyring
from service.tokens.online import OnlineVerifiers

Data = TypeVar("Data")
Result = TypeVar("Result")
Step = Callable[[Session, Deps, Data], Result]

_EXTENSION = "agegate"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Runtime:
    """Built once by `service.app.build_runtime`; views reach it through `current_runtime()`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # Read-only paths (token issuance, status lists) and single-statement writes
    # (run_single_statement) run without BEGIN/COMMIT round trips where the database allows
    # it (Postgres autocommit); on SQLite in DEFERRED transactions (store/db.py).
    reads: sessionmaker[Session]
    kek: KeyEncryptionKey
    policy: Policy
    clock: Callable[[], datetime]
    keyring: Keyring
    online_verifiers: OnlineVerifiers
    attestation: AttestationVerifier
    # token issuances, written in batches for monthly active subjects
    activity: ActivityRecorder
    # where exports and reports read: the streaming replica when configured, else the primary
    reporting: ReportingDatabase
    # sandbox tenants' keys and online verifiers (CONTRACT §15); `for_tenant` swaps them in
    sandbox_keyring: Keyring
    sandbox_verifiers: OnlineVerifiers
    # one tenant's consent grants, committed in batches (store/group_commit.py)
    group_commit: GroupCommit
    # whose issuer and keys `keyring`, `online_verifiers` and the tokens of `deps` are
    realm: str = PRODUCTION

    @property
    def token_issuer(self) -> str:
        """The `iss` of this runtime's tokens: `<issuer>/sandbox` in the sandbox realm."""
        return sandbox_issuer_of(self.settings.issuer) if self.realm == SANDBOX else self.settings.issuer

    @cached_property
    def deps(self) -> Deps:
        """The collaborators every business step takes."""
        return Deps(
            kek=self.kek,
            policy=self.policy,
            clock=self.clock,
            timezone=self.settings.timezone,
            issuer=self.token_issuer,
            token_ttl=self.settings.token_ttl,
            keyring=self.keyring,
            attestation=self.attestation,
            activity=self.activity,
        )

    def for_tenant(self, tenant: str, session: Session | None = None) -> Runtime:
        """The runtime as `tenant` sees it: a sandbox tenant's runs on its own clock and signs
        with the sandbox keys as `<issuer>/sandbox` (CONTRACT §15).

        One query, in `session` when the caller has one open (a hosted page that just read the
        request's tenant), else in a read transaction of its own; a view with an authenticated
        caller uses `for_caller`, which skips it for production callers.
        """
        if session is not None:
            offset = sandbox_store.clock_offset(session, tenant)
        else:
            offset = run_in_transaction(self.reads, lambda session: sandbox_store.clock_offset(session, tenant))
        return self if offset is None else self._sandboxed(offset)

    def for_caller(self, tenant: str | None, *, sandbox: bool) -> Runtime:
        """`for_tenant` for an authenticated client: production clients get this runtime itself."""
        return self.for_tenant(tenant) if sandbox and tenant is not None else self

    def sandboxes(self) -> list[tuple[str, Runtime]]:
        """Every sandbox tenant with its runtime: what the worker's scheduled steps run for each
        beside the production pass."""
        offsets = run_in_transaction(self.reads, sandbox_store.clocks)
        return [(tenant, self._sandboxed(offset)) for tenant, offset in offsets.items()]

    def _sandboxed(self, offset: timedelta) -> Runtime:
        real_clock = self.clock

        def clock() -> datetime:
            return real_clock() + offset

        return replace(
            self, clock=clock, realm=SANDBOX, keyring=self.sandbox_keyring, online_verifiers=self.sandbox_verifiers.at(clock)
        )

    def run(self, step: Step[Data, Result], data: Data) -> Result:
        """Run one business step in its own write transaction."""
        return run_in_transaction(self.sessions, lambda session: step(session, self.deps, data))

    def run_single_statement(self, step: Step[Data, Result], data: Data) -> Result:
        """Run one business step that writes with a single statement and reads nothing before
        it: on PostgreSQL on the autocommit `reads` sessions, where that statement is its own
        transaction (no BEGIN or COMMIT round trip); on SQLite, whose reads begin DEFERRED,
        in a write transaction as `run`."""
        sessions = self.reads if self.engine.dialect.name == "postgresql" else self.sessions
        return run_in_transaction(sessions, lambda session: step(session, self.deps, data))

    def run_grouped(self, tenant: str, work: Callable[[Session], Result]) -> Result:
        """Run `work` in a write transaction shared with the tenant's other waiting chain
        writers (a group commit); it answers once that transaction has committed."""
        return self.group_commit.run(tenant, work)

    def read(self, step: Step[Data, Result], data: Data) -> Result:
        """Run one business step that writes nothing, on the read sessions."""
        return run_in_transaction(self.reads, lambda session: step(session, self.deps, data))

    def read_connection(self) -> AbstractContextManager[Connection]:
        """A bare connection of the read sessions' engine, back in the pool when the block
        ends: for a step that reads with a single statement and writes nothing, without a
        Session, whose transaction bookkeeping (begin, commit, close) costs ~40 us of CPU a
        call. A bind that is already a connection (a caller's open transaction, as in tests)
        is used as it is."""
        bind = self.reads.kw["bind"]
        return nullcontext(bind) if isinstance(bind, Connection) else bind.connect()

    def install(self, app: Flask) -> None:
        """Make this the runtime `current_runtime()` returns inside `app`."""
        app.extensions[_EXTENSION] = self


def current_runtime() -> Runtime:
    """The Runtime of the app handling the current request."""
    runtime: Runtime = current_app.extensions[_EXTENSION]
    return runtime
