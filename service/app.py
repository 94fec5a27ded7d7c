"""The application factory: wiring only."""

from __future__ import annotations

import logging

from flask import Flask

from service.config import ConfigError, Settings
from service.domain.policy import load_policy
from service.kek import KeyEncryptionKey
from service.runtime import Runtime
from service.store.db import (
    DatabaseUnavailable,
    make_engine,
    make_read_sessionmaker,
    make_sessionmaker,
    wait_for_database,
)

MAX_BODY_BYTES = 64 * 1024


def checked_settings() -> Settings:
    """Settings from the environment, with the database answering within its bounded wait.

    Raises ConfigError whose str() is the one line to print before refusing to start.
    """
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        wait_for_database(engine, settings.database_wait)
    except DatabaseUnavailable as error:
        raise ConfigError(f"AGEGATE_DATABASE_URL: database unreachable: {error}") from None
    finally:
        engine.dispose()
    return settings


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the service. Tests pass `runtime` (a connection-bound session factory, a fake clock)."""
    from service.api import register_blueprints
    from service.api.auth import init_oauth
    from service.api.ops import init_metrics
    from service.api.problems import init_problems

    if runtime is None:
        settings = settings or Settings.from_env()
        engine = make_engine(settings.database_url)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            kek=KeyEncryptionKey(settings.kek),
            policy=load_policy(),
            reads=make_read_sessionmaker(engine),
        )
    app = Flask("agegate")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["agegate"] = runtime
    app.extensions["agegate.sessions"] = runtime.sessions
    init_problems(app)
    init_metrics(app)
    init_oauth(app)
    register_blueprints(app, runtime)
    logging.getLogger("agegate").setLevel(logging.INFO)
    return app
