"""Appending to and reading a tenant's hash-chained consent log (CONTRACT §8).

Appends lock the tenant's head row, so one tenant's writers queue behind each other while
other tenants write in parallel; the chain can neither fork nor gap.
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

__all__ = ["LogPosition", "append", "entries", "head", "head_before", "timestamp"]


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


def append(session: Session, tenant: str, events: Sequence[dict[str, Any]], now: datetime) -> int:
    """Chain `events` onto the tenant's log in this transaction; returns the last seq.

    Each event's `recorded_at` is set here, never earlier than the previous entry's, so
    that seq order and recorded_at order agree and a since/until window has no holes.
    """
    head = _lock_head(session, tenant)
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
    session.flush()
    return seq


def head_before(session: Session, tenant: str, since: datetime | None, from_seq: int = 1) -> tuple[int, str]:
    """(seq, hash) of the last entry before the window that starts at `since` and at `from_seq`
    (recorded before `since`, or below `from_seq`); 0 and GENESIS if none."""
    before = []
    if since is not None:
        before.append(ConsentLogEntry.recorded_at < since)
    if from_seq > 1:
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
    session: Session, tenant: str, since: datetime | None, until: datetime | None, from_seq: int = 1,
    batch: int = 10_000,
) -> Iterator[Row[int, str, str, str]]:
    """(seq, event, prev, hash) rows in seq order, in keyset-paginated batches so memory stays flat.

    Plain rows, not ORM entities: an export reads a million of them and builds nothing else.
    """
    columns = (ConsentLogEntry.seq, ConsentLogEntry.event, ConsentLogEntry.prev, ConsentLogEntry.hash)
    after = from_seq - 1
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
