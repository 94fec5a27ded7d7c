"""Appending to and reading a tenant's hash-chained consent log (CONTRACT §8).

Appends lock the tenant's head row, so one tenant's writers queue behind each other while
other tenants write in parallel; the chain can neither fork nor gap.

A group commit (store/group_commit.py) runs several writers' steps in one transaction and
links their entries together at its end: while a session carries a `Staging`, `append`
checks the events and holds them back, and `link_staged` chains what the steps that
succeeded appended, in their order, under one lock of each head, just before the commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.auditlog.chain import GENESIS, canonical, check_event, link_hash
from service.events.catalogue import timestamp
from service.store.models import ConsentLogEntry, LogHead

__all__ = ["Appended", "LogPosition", "Staging", "append", "entries", "head", "head_before", "link_staged", "timestamp"]


class LogPosition(NamedTuple):
    """Where an entry stands in its tenant's chain: what a receipt names."""

    seq: int
    hash: str


def head(session: Session, tenant: str) -> LogPosition:
    """The tenant's last entry, as this transaction sees it (after an append: that entry)."""
    row = session.get(LogHead, tenant)
    return LogPosition(0, GENESIS) if row is None else LogPosition(row.seq, row.hash)


def _lock_head(session: Session, tenant: str) -> LogHead:
    """The tenant's chain head, created if missing and row-locked until commit, in one
    statement: the no-op ON CONFLICT DO UPDATE takes the lock that SELECT FOR UPDATE would."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(LogHead)
        .values(tenant=tenant, seq=0, hash=GENESIS)
        .on_conflict_do_update(index_elements=["tenant"], set_={"seq": LogHead.seq})
        .returning(LogHead)
    )
    return session.scalars(statement, execution_options={"populate_existing": True}).one()


class Appended:
    """Where an append's last entry stands in the chain: known when `append` returns, or for
    a staged append once its group commit has linked it (just before that commit)."""

    def __init__(self) -> None:
        self._position: LogPosition | None = None

    @property
    def position(self) -> LogPosition:
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


# The session.info key under which a group commit's Staging travels with its session.
_STAGING = "agegate.audit_log.staging"


class Staging:
    """The appends of one group commit's steps, held back until `link_staged`.

    The running step's appends are pending until the step ends: `keep` when its savepoint
    was released, `drop` when it was rolled back (its entries must never be linked).
    """

    def __init__(self) -> None:
        self._kept: list[_Staged] = []
        self._pending: list[_Staged] = []

    def install(self, session: Session) -> None:
        session.info[_STAGING] = self

    def stage(self, tenant: str, events: Sequence[dict[str, Any]], now: datetime) -> Appended:
        for event in events:
            event["recorded_at"] = timestamp(now)  # the final value is set when linked
            check_event(event)  # a malformed event fails its own step, not the batch
            canonical(event)
        staged = _Staged(tenant, events, now, Appended())
        self._pending.append(staged)
        return staged.appended

    @property
    def kept(self) -> list[_Staged]:
        return list(self._kept)

    def keep(self) -> None:
        self._kept.extend(self._pending)
        self._pending.clear()

    def drop(self) -> None:
        self._pending.clear()


def append(session: Session, tenant: str, events: Sequence[dict[str, Any]], now: datetime) -> Appended:
    """Chain `events` onto the tenant's log in this transaction; returns where the last one stands.

    Each event's `recorded_at` is set here, never earlier than the previous entry's, so
    that seq order and recorded_at order agree and a since/until window has no holes. In a
    group commit's session the events are checked now and linked by `link_staged`.
    """
    staging: Staging | None = session.info.get(_STAGING)
    if staging is not None:
        return staging.stage(tenant, events, now)
    appended = Appended()
    _link(session, _lock_head(session, tenant), tenant, events, now, appended)
    session.flush()
    return appended


def link_staged(session: Session) -> None:
    """Chain every kept staged append, each tenant's head locked once and in tenant order
    (store/locks.py), the appends in the order their steps ran; ends the staging."""
    staging: Staging = session.info.pop(_STAGING)
    by_tenant: dict[str, list[_Staged]] = {}
    for staged in staging.kept:
        by_tenant.setdefault(staged.tenant, []).append(staged)
    for tenant in sorted(by_tenant):
        head = _lock_head(session, tenant)
        for staged in by_tenant[tenant]:
            _link(session, head, tenant, staged.events, staged.now, staged.appended)
    session.flush()


def _link(
    session: Session, head: LogHead, tenant: str, events: Sequence[dict[str, Any]], now: datetime, appended: Appended
) -> None:
    """Add the entries of `events` after the locked `head` and move the head past them."""
    seq, prev = head.seq, head.hash
    recorded_at = now if head.recorded_at is None else max(now, head.recorded_at)
    for event in events:
        event["recorded_at"] = timestamp(recorded_at)
        check_event(event)  # a malformed event must fail here, not at the regulator's
        seq += 1
        digest = link_hash(prev, event)
        session.add(
            ConsentLogEntry(
                tenant=tenant, seq=seq, event=canonical(event).decode(), prev=prev, hash=digest, recorded_at=recorded_at
            )
        )
        prev = digest
    head.seq, head.hash, head.recorded_at = seq, prev, recorded_at
    appended._position = LogPosition(seq, prev)


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
    batch: int = 10_000,
    from_seq: int | None = None,
) -> Iterator[Row[int, str, str, str]]:
    """(seq, event, prev, hash) rows in seq order, in keyset-paginated batches so memory stays flat.

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
