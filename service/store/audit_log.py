"""Appending to and reading a tenant's hash-chained consent log (CONTRACT §8).

Linking entries locks the tenant's head row, so one tenant's writers queue behind each other
while other tenants write in parallel; the chain can neither fork nor gap.

The head is held from the statement that locks it to the COMMIT, and under gevent each
statement between them costs a turn of the worker's loop: with the loop busy, a turn is tens
to hundreds of milliseconds, during which every other writer of the tenant waits. So appends
are staged and linked together at the end of their transaction, just before its COMMIT
(store/transactions.run_in_transaction installs a transaction's `Staging`): `append` checks
the events and holds them back, and `link_staged` chains them, in the order they were
appended, under one lock of each head. A step that needs an entry's place in the chain
before the commit (a receipt names it) asks `Appended.position`, which links what is staged
so far at once; the transaction then holds the head from there, as every append used to.

A group commit (store/group_commit.py) runs several writers' steps in one transaction with a
`Staging` of its own: a step's appends are kept only when the step succeeded, and their
places are known only after the batch is linked.

An append may carry rows that belong with its events (a grant's consent row): they are
written with the entries -- at once outside a group commit, just before the linking inside
one -- so a row is stored exactly when its entries are chained. Everything here is Core
statements on the session's connection: an append builds no ORM objects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import CTE, Insert, Row, Table, Update, bindparam, insert, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.auditlog.chain import GENESIS, canonical, check_event, link_hash
from service.events.catalogue import timestamp
from service.store.models import ConsentLogEntry, LogHead

__all__ = [
    "Appended", "LogPosition", "Staging", "append", "entries", "head_before", "link_staged", "stage_until_commit",
    "timestamp",
]


class LogPosition(NamedTuple):
    """Where an entry stands in its tenant's chain: what a receipt names."""

    seq: int
    hash: str


class _Head(NamedTuple):
    seq: int
    hash: str
    recorded_at: datetime | None


_HEADS: Table = LogHead.__table__  # type: ignore[assignment]
_ENTRIES: Table = ConsentLogEntry.__table__  # type: ignore[assignment]
# Built once per dialect: constructing these costs more than running them.
_LOCK_HEAD = {
    name: dialect.insert(_HEADS)
    .values(seq=0, hash=GENESIS)
    .on_conflict_do_update(index_elements=["tenant"], set_={"seq": _HEADS.c.seq})
    .returning(_HEADS.c.seq, _HEADS.c.hash, _HEADS.c.recorded_at)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_MOVE_HEAD = update(_HEADS).where(_HEADS.c.tenant == bindparam("at_tenant"))
_ADD_ENTRIES = insert(_ENTRIES)
_ENTRY_COLUMNS = ("tenant", "seq", "event", "prev", "hash", "recorded_at")


# On PostgreSQL the rows an append writes beside its entries go in the statement that locks
# the head, and the entries in the statement that moves it, as data-modifying CTEs: a batch's
# writes in two round trips instead of four. Those statements are built once per shape (which
# INSERTs, which columns, how many rows) so that SQLAlchemy's compiled cache serves them;
# building and compiling a multi-row statement per call costs more than the round trip it
# saves. Appends of more rows than this (an expiry sweep) take one statement per table.
_FUSED_ROWS = 64


@functools.lru_cache(maxsize=256)
def _rows_cte(statement: Insert, columns: tuple[str, ...], count: int, name: str) -> CTE:
    """`statement` writing `count` rows of `columns`, as a CTE named `name`; row i's values
    are the parameters `{name}_{i}_{column}`."""
    # INSERT ... SELECT of one SELECT a row, not a multi-row VALUES: SQLAlchemy caches no
    # compiled form of the latter.
    table = statement.table
    rows = [select(*(bindparam(f"{name}_{i}_{c}", type_=table.c[c].type).label(c) for c in columns)) for i in range(count)]  # type: ignore[union-attr]
    return statement.from_select(list(columns), rows[0] if count == 1 else union_all(*rows)).cte(name)


def _rows_parameters(name: str, values_list: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {f"{name}_{i}_{c}": value for i, values in enumerate(values_list) for c, value in values.items()}


@functools.lru_cache(maxsize=256)
def _fused_lock_head(shapes: tuple[tuple[Insert, tuple[str, ...], int], ...]) -> Insert:
    ctes = [_rows_cte(statement, columns, count, f"r{n}") for n, (statement, columns, count) in enumerate(shapes)]
    return _LOCK_HEAD["postgresql"].add_cte(*ctes)


@functools.lru_cache(maxsize=_FUSED_ROWS)
def _fused_move_head(count: int) -> Update:
    return _MOVE_HEAD.add_cte(_rows_cte(_ADD_ENTRIES, _ENTRY_COLUMNS, count, "e"))


def _lock_head(session: Session, tenant: str, rows: Sequence[tuple[Insert, dict[str, Any]]] = ()) -> _Head:
    """Write `rows` (one multi-row INSERT per prebuilt statement), then return the tenant's
    chain head, created if missing and row-locked until commit: the no-op ON CONFLICT DO
    UPDATE takes the lock that SELECT FOR UPDATE would. One statement on PostgreSQL."""
    by_statement: dict[tuple[Insert, tuple[str, ...]], list[dict[str, Any]]] = {}
    for statement, values in rows:
        by_statement.setdefault((statement, tuple(values)), []).append(values)
    connection = session.connection()
    if connection.dialect.name == "postgresql" and 0 < len(rows) <= _FUSED_ROWS:
        lock = _fused_lock_head(tuple((statement, columns, len(values_list)) for (statement, columns), values_list in by_statement.items()))
        parameters = {"tenant": tenant}
        for n, values_list in enumerate(by_statement.values()):
            parameters.update(_rows_parameters(f"r{n}", values_list))
        row = connection.execute(lock, parameters).one()
    else:
        for (statement, _), values_list in by_statement.items():
            connection.execute(statement, values_list)
        row = connection.execute(_LOCK_HEAD[connection.dialect.name], {"tenant": tenant}).one()
    return _Head(row.seq, row.hash, row.recorded_at)


class Appended:
    """Where an append's last entry stands in the chain: known once it is linked -- at the
    latest just before its transaction commits; in a transaction's own staging, asking links
    it (and everything staged before it) at once; in a group commit, only after the batch."""

    def __init__(self, link_now: Callable[[], None] | None = None) -> None:
        self._position: LogPosition | None = None
        self._link_now = link_now

    @property
    def position(self) -> LogPosition:
        if self._position is None and self._link_now is not None:
            self._link_now()
        if self._position is None:
            raise RuntimeError("a staged append has no place in the chain before its batch is linked")
        return self._position

    @property
    def seq(self) -> int:
        return self.position.seq


class _Staged(NamedTuple):
    tenant: str
    events: Sequence[dict[str, Any]]
    now: datetime
    appended: Appended
    rows: Sequence[tuple[Insert, dict[str, Any]]]


# The session.info key under which a group commit's Staging travels with its session.
_STAGING = "agegate.audit_log.staging"


class Staging:
    """Appends held back until `link_staged`: a transaction's, or one group commit's steps'.

    A group commit's running step's appends are pending until the step ends: `keep` when its
    savepoint was released, `drop` when it was rolled back (its entries must never be linked).
    A transaction's own staging (`for_transaction`) keeps every append at once and links
    what it holds whenever an `Appended.position` is asked for. It does not follow savepoints:
    a step that appends inside a SAVEPOINT it may roll back must ask the position before the
    savepoint ends (the controls flow does), or the rolled-back append is still linked.
    """

    def __init__(self) -> None:
        self._kept: list[_Staged] = []
        self._pending: list[_Staged] = []
        self._session: Session | None = None  # set for a transaction's own staging

    @classmethod
    def for_transaction(cls, session: Session) -> Staging:
        staging = cls()
        staging._session = session
        return staging

    def install(self, session: Session) -> None:
        session.info[_STAGING] = self

    def stage(
        self, tenant: str, events: Sequence[dict[str, Any]], now: datetime, rows: Sequence[tuple[Insert, dict[str, Any]]]
    ) -> Appended:
        for event in events:
            event["recorded_at"] = timestamp(now)  # the final value is set when linked
            check_event(event)  # a malformed event fails its own step, not the batch
            canonical(event)
        if self._session is None:
            staged = _Staged(tenant, events, now, Appended(), rows)
            self._pending.append(staged)
        else:
            staged = _Staged(tenant, events, now, Appended(self._link_now), rows)
            self._kept.append(staged)
        return staged.appended

    def _link_now(self) -> None:
        assert self._session is not None
        kept, self._kept = self._kept, []
        _link_kept(self._session, kept)

    @property
    def kept(self) -> list[_Staged]:
        return list(self._kept)

    def keep(self) -> None:
        self._kept.extend(self._pending)
        self._pending.clear()

    def drop(self) -> None:
        self._pending.clear()


def append(
    session: Session,
    tenant: str,
    events: Sequence[dict[str, Any]],
    now: datetime,
    *,
    rows: Sequence[tuple[Insert, dict[str, Any]]] = (),
) -> Appended:
    """Chain `events` onto the tenant's log in this transaction, with `rows` (a prebuilt
    INSERT and its values) written beside them; returns where the last event stands.

    Each event's `recorded_at` is set when it is linked, never earlier than the previous
    entry's, so that seq order and recorded_at order agree and a since/until window has no
    holes. In a session with a `Staging` (every transaction of run_in_transaction, a group
    commit's) the events are checked now, and they and the rows are written by
    `link_staged`, or when the returned position is asked for; in a bare session, at once.
    """
    staging: Staging | None = session.info.get(_STAGING)
    if staging is not None:
        return staging.stage(tenant, events, now, rows)
    session.flush()  # the ORM's pending changes go first, as they did when entries were ORM objects
    appended = Appended()
    _link(session, _lock_head(session, tenant, rows), tenant, [(events, now, appended)])
    return appended


def stage_until_commit(session: Session) -> None:
    """Hold the transaction's appends back until `link_staged`, run just before its COMMIT."""
    Staging.for_transaction(session).install(session)


def link_staged(session: Session) -> None:
    """Chain every kept staged append, each tenant's head locked once and in tenant order
    (store/locks.py), the appends in the order they were made; ends the staging (if any)."""
    staging: Staging | None = session.info.pop(_STAGING, None)
    if staging is not None:
        _link_kept(session, staging.kept)


def _link_kept(session: Session, kept: Sequence[_Staged]) -> None:
    if not kept:
        return
    session.flush()
    rows = [row for staged in kept for row in staged.rows]  # written as the first head is locked
    by_tenant: dict[str, list[_Staged]] = {}
    for staged in kept:
        by_tenant.setdefault(staged.tenant, []).append(staged)
    for tenant in sorted(by_tenant):
        _link(session, _lock_head(session, tenant, rows), tenant, [(s.events, s.now, s.appended) for s in by_tenant[tenant]])
        rows = []


def _link(
    session: Session, head: _Head, tenant: str, appends: Sequence[tuple[Sequence[dict[str, Any]], datetime, Appended]]
) -> None:
    """Add the entries of each append's events after the locked `head`, in one INSERT, and
    move the head past them, in one UPDATE."""
    seq, prev, last_recorded = head.seq, head.hash, head.recorded_at
    entries: list[dict[str, Any]] = []
    for events, now, appended in appends:
        recorded_at = now if last_recorded is None else max(now, last_recorded)
        stamp = timestamp(recorded_at)
        for event in events:
            event["recorded_at"] = stamp
            check_event(event)  # a malformed event must fail here, not at the regulator's
            seq += 1
            text = canonical(event)
            digest = link_hash(prev, event)
            entries.append(
                {"tenant": tenant, "seq": seq, "event": text.decode(), "prev": prev, "hash": digest, "recorded_at": recorded_at}
            )
            prev = digest
        last_recorded = recorded_at
        appended._position = LogPosition(seq, prev)
    if not entries:
        return
    connection = session.connection()
    moved = {"at_tenant": tenant, "seq": seq, "hash": prev, "recorded_at": last_recorded}
    if connection.dialect.name == "postgresql" and len(entries) <= _FUSED_ROWS:
        connection.execute(_fused_move_head(len(entries)), {**moved, **_rows_parameters("e", entries)})
    else:
        connection.execute(_ADD_ENTRIES, entries)
        connection.execute(_MOVE_HEAD, moved)


def head_before(session: Session, tenant: str, since: datetime | None, from_seq: int | None = None) -> tuple[int, str]:
    """(seq, hash) of the last entry before a window starting at `since` and `from_seq`
    (0 and GENESIS if none). Entries are appended in seq and recorded_at order, so those
    before the window are a prefix of the log."""
    before = []
    if since is not None:
        before.append(ConsentLogEntry.recorded_at < since)
    if from_seq is not None:
        before.append(ConsentLogEntry.seq < from_seq)
    if not before:
        return 0, GENESIS
    row = session.execute(
        select(ConsentLogEntry.seq, ConsentLogEntry.hash)
        .where(ConsentLogEntry.tenant == tenant, or_(*before))
        .order_by(ConsentLogEntry.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS) if row is None else (row[0], row[1])


def entries(
    session: Session,
    tenant: str,
    since: datetime | None,
    until: datetime | None,
    batch: int = 2_000,
    from_seq: int | None = None,
) -> Iterator[Row[int, str, str, str]]:
    """(seq, event, prev, hash) rows in seq order, in keyset-paginated batches so memory stays flat.

    A batch is held twice while it is read (libpq's result and the Python rows): 10,000 rows
    took a worker from 103 to 128 MB during a 1,000,000-event export, 2,000 rows to 108 MB at
    the same speed (7.5 s; perf/bench_audit_export.py). Under the mixed load a worker's
    resident memory grew with the log until its size reached one batch.

    Plain rows, not ORM entities: an export reads a million of them and builds nothing else.
    """
    columns = (ConsentLogEntry.seq, ConsentLogEntry.event, ConsentLogEntry.prev, ConsentLogEntry.hash)
    after = 0 if from_seq is None else from_seq - 1
    while True:
        query = select(*columns).where(ConsentLogEntry.tenant == tenant, ConsentLogEntry.seq > after)
        if since is not None:
            query = query.where(ConsentLogEntry.recorded_at >= since)
        if until is not None:
            query = query.where(ConsentLogEntry.recorded_at < until)
        rows = session.execute(query.order_by(ConsentLogEntry.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def seq_of(session: Session, tenant: str, event_type: str, consent_id: str) -> int | None:
    """The seq of the tenant's first `event_type` entry for `consent_id`, or None.

    Entries are stored as RFC 8785 canonical JSON (no spaces, fixed member order), so the
    members can be matched as exact substrings; the tenant's rows bound the scan.
    """
    row = session.execute(
        select(ConsentLogEntry.seq)
        .where(
            ConsentLogEntry.tenant == tenant,
            ConsentLogEntry.event.contains(f'"consent_id":"{consent_id}"', autoescape=True),
            ConsentLogEntry.event.contains(f'"type":"{event_type}"', autoescape=True),
        )
        .order_by(ConsentLogEntry.seq)
        .limit(1)
    ).first()
    return None if row is None else row[0]
