"""Where exports and reports read: a streaming replica when one is configured and answering
(AGEGATE_REPLICA_DATABASE_URL), else the primary. Long scans then never load the database
that takes signups; a replica lags by its replay delay, and every export names the head it saw.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.store.db import DatabaseTimeouts, make_engine, make_sessionmaker, transaction

log = logging.getLogger("agegate.reports")

# After a failed connection the replica is not tried again for this long: every report would
# otherwise wait out a connect timeout before falling back.
RETRY_REPLICA_AFTER_SECONDS = 30.0


class ReportingDatabase:
    """Transactions for read-only reporting, on the replica if it answers, else the primary."""

    def __init__(
        self, primary: sessionmaker[Session], replica_url: str | None, timeouts: DatabaseTimeouts = DatabaseTimeouts()
    ) -> None:
        self._primary = primary
        self._replica: sessionmaker[Session] | None = None
        self._replica_engine = None
        if replica_url:
            # One snapshot for a whole report: several statements must agree with each other.
            engine = make_engine(replica_url, pool_size=4, timeouts=timeouts)
            if engine.dialect.name == "postgresql":
                engine = engine.execution_options(isolation_level="REPEATABLE READ")
            self._replica, self._replica_engine = make_sessionmaker(engine), engine
        self._lock = threading.Lock()
        self._replica_down_until = 0.0

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A read transaction; the caller may find out where it runs with `read_from`."""
        replica = self._usable_replica()
        if replica is not None:
            session = replica()
            try:
                # a round trip, not just a checkout: a pooled connection may have outlived its server
                session.execute(text("SELECT 1"))
            except OperationalError as error:
                session.close()
                self._mark_down(error)
            else:
                try:  # connection() began the transaction: commit it ourselves
                    session.info["read_from"] = "replica"
                    yield session
                    session.commit()
                finally:
                    session.close()
                return
        with transaction(self._primary) as session:
            session.info["read_from"] = "primary"
            yield session

    def dispose(self) -> None:
        """Close the replica's pooled connections (the primary's belong to the caller)."""
        if self._replica_engine is not None:
            self._replica_engine.dispose()

    def _usable_replica(self) -> sessionmaker[Session] | None:
        with self._lock:
            if self._replica is None or time.monotonic() < self._replica_down_until:
                return None
            return self._replica

    def _mark_down(self, error: OperationalError) -> None:
        log.warning("replica unreachable, reading from the primary for %.0f s: %s",
                    RETRY_REPLICA_AFTER_SECONDS, type(error.orig).__name__ if error.orig else "OperationalError")
        with self._lock:
            self._replica_down_until = time.monotonic() + RETRY_REPLICA_AFTER_SECONDS


def read_from(session: Session) -> str:
    """"replica" or "primary": where a ReportingDatabase transaction runs."""
    return str(session.info.get("read_from", "primary"))
