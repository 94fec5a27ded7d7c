"""Monthly active subjects without a write on every token issuance.

Issuance only adds (tenant, subject_ref, local day) to an in-memory set; the set is written
as one batched upsert (service.store.activity) every `flush_seconds` (sooner at
`max_pending` entries) by a daemon thread in a served process, and before a report is
computed in this process. Issuance runs inside a read transaction, so it never writes itself
there (on SQLite that transaction holds the lock); only a runtime without the thread (tests,
whose sessions share one connection) flushes from the issuing call. A subject issued a thousand tokens in ten
seconds costs one row write. Error: a report misses issuances still pending in other
processes (at most `flush_seconds` old), and a killed process loses its pending set.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.store.activity import record_issued
from service.store.db import transaction

log = logging.getLogger("agegate.reports")

FLUSH_SECONDS = 10.0
MAX_PENDING = 50_000


class ActivityRecorder:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tz: ZoneInfo,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        max_pending: int = MAX_PENDING,
        background: bool = False,
    ) -> None:
        self._sessions = sessions
        self._tz = tz
        self._flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._background = background
        self._lock = threading.Lock()
        self._pending: defaultdict[tuple[str, date], set[str]] = defaultdict(set)
        self._size = 0
        self._oldest = 0.0
        self._flusher_pid: int | None = None
        self._wake = threading.Event()

    def issued(self, tenant: str, subject_ref: str, at: datetime) -> None:
        """Note a token issued for the subject at `at`; flushes when the batch is due."""
        day = at.astimezone(self._tz).date()
        with self._lock:
            if not self._size:
                self._oldest = time.monotonic()
            refs = self._pending[(tenant, day)]
            if subject_ref not in refs:
                refs.add(subject_ref)
                self._size += 1
            due = self._size >= self._max_pending or time.monotonic() - self._oldest >= self._flush_seconds
        if self._background:
            self._start_flusher()
            if due:
                self._wake.set()
        elif due:
            self.flush()

    def flush(self) -> None:
        """Write everything pending; a failed batch is kept for the next flush."""
        with self._lock:
            batches, self._pending, self._size = self._pending, defaultdict(set), 0
        for (tenant, day), refs in batches.items():
            try:
                with transaction(self._sessions) as session:
                    record_issued(session, tenant, refs, day)
            except SQLAlchemyError as error:
                log.warning("activity flush failed, kept for the next one: %s", type(error).__name__)
                with self._lock:
                    self._pending[(tenant, day)] |= refs
                    self._size += len(refs)

    def _start_flusher(self) -> None:
        import os

        # Per process: a gunicorn worker forked from a parent with a flusher has no thread.
        if self._flusher_pid == os.getpid():
            return
        with self._lock:
            if self._flusher_pid == os.getpid():
                return
            self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_forever, name="activity-flusher", daemon=True).start()
        atexit.register(self.flush)

    def _flush_forever(self) -> None:
        while True:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            self.flush()
