"""Engine and session factory, built from Settings (never at import time)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.config import DatabaseTimeouts


class DatabaseUnavailable(Exception):
    """The database could not be reached; callers answer 503 and retry later."""


def make_engine(url: str, *, pool_size: int = 10, timeouts: DatabaseTimeouts = DatabaseTimeouts()) -> Engine:
    """Create the engine for `url`; SQLite gets the pragmas and transaction fix it needs,
    PostgreSQL connections get their timeouts.

    On PostgreSQL the pool opens connections as requests need them at once, up to
    `pool_size`, and keeps each it opened. With 5 kept and 5 more opened for a burst and
    closed after it, as before, every burst cost Postgres a backend fork per extra
    connection: under the token benchmark about 15 new sessions a second, and a mixed run's
    connection count that followed the load up and down.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _fix_sqlite_transactions(engine)
        return engine
    engine = create_engine(
        url,
        # A statement's parameters (refs, sealed birth dates, hashes) stay out of exception
        # messages, so no traceback or log line of a failed statement carries them.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=5,
        connect_args=postgres_connect_args(url, timeouts),
    )
    _pre_ping_idle_connections(engine)
    return engine


def postgres_connect_args(url: str, timeouts: DatabaseTimeouts) -> dict[str, object]:
    """libpq parameters bounding every wait on PostgreSQL.

    statement_timeout and lock_timeout go in the startup packet's `options`, so they hold from
    the first statement with no extra round trip; a URL's own `options` (a search_path, say)
    are kept. TCP keepalives find a server that vanished (a dead host or a cut network) while
    a connection sat idle in the pool, in about idle + interval * count = 25 s.
    """
    query = make_url(url).query
    own = query.get("options", "")
    own = " ".join(own) if isinstance(own, tuple) else own
    bounds = f"-c statement_timeout={timeouts.statement * 1000} -c lock_timeout={timeouts.lock * 1000}"
    return {
        "connect_timeout": int(query.get("connect_timeout", timeouts.connect)),  # type: ignore[arg-type]
        "options": f"{own} {bounds}".strip(),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


# A connection used this recently is alive: pinging it would add a round trip to every
# request (12% of a token issuance). One idle longer is pinged before use.
PING_AFTER_IDLE_SECONDS = 5.0


def _pre_ping_idle_connections(engine: Engine) -> None:
    """pool_pre_ping for connections idle over PING_AFTER_IDLE_SECONDS only.

    A restarted Postgres leaves dead pooled connections behind; this finds them on checkout
    (DisconnectionError makes the pool replace the connection and try again). A connection
    that dies while in busy use fails its request with a disconnect error instead, which
    invalidates the whole pool, so the next requests reconnect.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            if not dbapi_connection.autocommit:
                dbapi_connection.rollback()
        except Exception as error:
            raise DisconnectionError("pooled connection is dead") from error


def _fix_sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, emit BEGIN, so SAVEPOINT and rollback work as on Postgres.

    Python 3.11's sqlite3 module begins transactions lazily on its own; SQLAlchemy's docs
    ("Serializable isolation / Savepoints / Transactional DDL") give this recipe.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        # IMMEDIATE takes the write lock up front: two writers never deadlock upgrading a read lock.
        # Read sessions begin DEFERRED: under WAL they read beside a writer instead of queueing
        # behind it (a keyring refresh inside another session's write would otherwise wait).
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READS_ONLY) else "BEGIN IMMEDIATE")


def make_sessionmaker(bind: object) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False)  # type: ignore[call-overload]


_READS_ONLY = "agegate_reads_only"


def make_read_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads that write nothing: on Postgres in autocommit, which saves the BEGIN
    and COMMIT round trips (each statement is consistent on its own); on SQLite in DEFERRED
    transactions, which take no write lock."""
    if engine.dialect.name == "postgresql":
        return make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))
    return make_sessionmaker(engine.execution_options(**{_READS_ONLY: True}))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    with factory() as session, session.begin():
        yield session


def wait_for_database(engine: Engine, seconds: float) -> None:
    """Return once `engine` answers SELECT 1; raise DatabaseUnavailable after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                raise DatabaseUnavailable(str(exc.orig).splitlines()[0] if exc.orig else "unreachable") from exc
            time.sleep(0.5)
