"""The application factory: wiring only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Flask
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.attestation import AttestationVerifier
from service.config import ConfigError, Settings
from service.domain.policy import Policy, load_policy
from service.kek import KeyEncryptionKey
from service.reports.activity import ActivityRecorder
from service.reports.routing import ReportingDatabase
from service.runtime import Runtime, utc_now
from service.store.db import (
    DatabaseUnavailable,
    make_engine,
    make_read_sessionmaker,
    make_sessionmaker,
    wait_for_database,
)
from service.store.group_commit import GroupCommit
from service.store.models import SigningKey
from service.store.transactions import run_in_transaction
from service.store.keys import REALMS, SANDBOX
from service.tokens.issue import sandbox_issuer_of
from service.tokens.keys import Keyring, ensure_signing_key
from service.tokens.online import DatabaseStatuses, KeyringKeys, OnlineVerifiers

MAX_BODY_BYTES = 64 * 1024

log = logging.getLogger("agegate")


def checked_settings() -> Settings:
    """Settings from the environment, with the database answering within its bounded wait.

    Raises ConfigError whose str() is the one line to print before refusing to start.
    """
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    try:
        wait_for_database(engine, settings.database_wait)
    except DatabaseUnavailable as error:
        raise ConfigError(f"AGEGATE_DATABASE_URL: database unreachable: {error}") from None
    finally:
        engine.dispose()
    return settings


def build_runtime(
    settings: Settings,
    *,
    engine: Engine | None = None,
    sessions: sessionmaker[Session] | None = None,
    reads: sessionmaker[Session] | None = None,
    clock: Callable[[], datetime] = utc_now,
    policy: Policy | None = None,
    attestation: AttestationVerifier | None = None,
) -> Runtime:
    """Everything the service holds, from `settings`. Tests pass their own session factories
    (bound to a rolled-back connection), a fake clock or an attester they trust."""
    engine = engine or make_engine(settings.database_url, timeouts=settings.database_timeouts)
    own_sessions = sessions is None
    if sessions is None:
        sessions = make_sessionmaker(engine)
        reads = reads or make_read_sessionmaker(engine)
    reads = reads or sessions
    kek = KeyEncryptionKey(settings.kek)
    keyring = Keyring(reads, kek, clock)
    sandbox_keyring = Keyring(reads, kek, clock, SANDBOX)
    sandbox_issuer = sandbox_issuer_of(settings.issuer)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        reads=reads,
        kek=kek,
        policy=policy or load_policy(),
        clock=clock,
        keyring=keyring,
        online_verifiers=OnlineVerifiers(
            settings.issuer, KeyringKeys(keyring), DatabaseStatuses(reads, settings.issuer), clock
        ),
        sandbox_keyring=sandbox_keyring,
        sandbox_verifiers=OnlineVerifiers(
            sandbox_issuer, KeyringKeys(sandbox_keyring), DatabaseStatuses(reads, sandbox_issuer), clock
        ),
        attestation=attestation
        or AttestationVerifier(dict(settings.attesters), audience=settings.issuer, clock=lambda: clock().timestamp()),
        # A process with sessions of its own flushes token activity from a thread as well;
        # tests' connection-bound sessions are flushed only by the requests themselves.
        activity=ActivityRecorder(sessions, settings.timezone, background=own_sessions),
        reporting=ReportingDatabase(sessions, settings.replica_database_url, settings.database_timeouts),
        group_commit=GroupCommit(sessions, settings.group_commit_batch),
    )


def ensure_signing_key_at_start(runtime: Runtime) -> None:
    """Create the first signing key if the schema is there and holds none.

    `agegate db upgrade` creates it too; this covers a database migrated some other way. A
    database that is unreachable or not migrated is left alone: requests then answer 503 or
    name `agegate db upgrade`, which creates the key.
    """
    try:
        with runtime.engine.connect() as connection:
            if not inspect(connection).has_table(SigningKey.__tablename__):
                return
    except OperationalError:
        log.warning("database unreachable at start-up; signing key not checked")
        return
    for realm in REALMS:
        kid = run_in_transaction(runtime.sessions, lambda session: ensure_signing_key(session, runtime.kek, runtime.clock(), realm))
        if kid is not None:
            log.info("created the first %s signing key %s", realm, kid)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the service from `settings` (default: the environment), or around a `runtime`
    a test built with build_runtime."""
    from service.api import register_blueprints
    from service.api.auth import init_oauth
    from service.api.problems import init_problems
    from service.web import init_web
    from service.api.ratelimits import init_rate_limits
    from service.api.request_cycle import init_request_cycle
    from service.api.verify_fast_path import install_verify_fast_path

    if runtime is None:
        runtime = build_runtime(settings or Settings.from_env())
        ensure_signing_key_at_start(runtime)
    app = Flask("agegate")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    runtime.install(app)
    init_problems(app)
    init_request_cycle(app, runtime.engine)
    init_oauth(app)
    register_blueprints(app)
    init_web(app, runtime)  # the hosted guardian pages (CONTRACT §12)
    init_rate_limits(app, runtime.settings.rate_limit_storage)
    install_verify_fast_path(app)
    logging.getLogger("agegate").setLevel(logging.INFO)
    return app
