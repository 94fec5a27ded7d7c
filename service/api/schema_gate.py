"""A database whose schema is behind this code: /readyz says so, and every other request
answers 503 naming `agegate db upgrade` instead of failing on a missing table or column."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from sqlalchemy import Engine

from service.api.problems import problem
from service.store import migrate
from service.store.db import DatabaseUnavailable

log = logging.getLogger("agegate.schema")

# While behind, the revision is re-read at most this often, so an upgrade run while the
# service is up is noticed within seconds; once at head it is never read again.
RECHECK_SECONDS = 5.0
UPGRADE_HINT = "run `agegate db upgrade`"
# Endpoints that must answer whatever the schema: probes and metrics.
_UNGATED = frozenset({"ops.healthz", "ops.readyz", "ops.metrics"})


@functools.cache
def _shipped_revisions() -> tuple[str | None, frozenset[str]]:
    """(head, every revision) of the migrations this code ships; read once per process."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return scripts.get_current_head(), frozenset(script.revision for script in scripts.walk_revisions())


def _database_revision(engine: Engine) -> str | None:
    """The revision stamped in the database; None for a database never migrated.

    Below SQLAlchemy's transaction events, like /readyz: a probe must not queue for
    SQLite's write lock. Raises DatabaseUnavailable when it cannot connect.
    """
    try:
        connection = engine.raw_connection()
    except Exception as error:
        raise DatabaseUnavailable(type(error).__name__) from None
    try:
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT version_num FROM alembic_version")
            row = cursor.fetchone()
        except engine.dialect.loaded_dbapi.Error:
            return None  # no alembic_version table: nothing was ever migrated
        return None if row is None else str(row[0])
    finally:
        connection.close()


class SchemaGate:
    """Knows whether the database is at (or, mid-deploy, past) the code's head revision."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._current = False
        self._reason: str | None = None
        self._checked_at = float("-inf")

    def behind(self) -> str | None:
        """None when the schema is current; else why not, naming `agegate db upgrade`."""
        if self._current:
            return None
        with self._lock:
            if self._clock() - self._checked_at < RECHECK_SECONDS:
                return self._reason
            head, shipped = _shipped_revisions()
            found = _database_revision(self._engine)
            self._checked_at = self._clock()
            if found == head or (found is not None and found not in shipped):
                # a revision this code does not know was written by a newer release that
                # already migrated: its migrations are additive, so this code still runs
                self._current, self._reason = True, None
            elif found is None:
                self._reason = f"the database has no agegate schema (this code needs {head}): {UPGRADE_HINT}"
            else:
                self._reason = f"the database schema is at {found}, this code needs {head}: {UPGRADE_HINT}"
            if self._reason is not None:
                log.warning("schema behind: %s", self._reason)
            return self._reason


def schema_behind_problem(reason: str) -> Response:
    response = problem(503, "schema_behind", "Database schema behind", reason)
    response.headers["Retry-After"] = str(int(RECHECK_SECONDS))
    return response


def schema_gate() -> SchemaGate:
    return current_app.extensions["agegate.schema_gate"]  # type: ignore[no-any-return]


def init_schema_gate(app: Flask, engine: Engine) -> None:
    app.extensions["agegate.schema_gate"] = SchemaGate(engine)


def refused_while_behind() -> Response | None:
    """Before the view: the 503 for a request while the schema is behind (probes excepted)."""
    if request.endpoint in _UNGATED:
        return None
    reason = schema_gate().behind()
    return None if reason is None else schema_behind_problem(reason)
