"""Status-list slots: allocation and revocation (the Token Status List draft, bits=1).

A subject's live tokens share one slot. Revoking them sets that slot's bit and moves the
subject to a fresh slot, so issuing a token never writes, and a slot is never reused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from service.store.models import StatusList, StatusRevocation, Subject

# 2^20 slots make a 128 KiB bit array that compresses to a few KiB while few are revoked.
LIST_CAPACITY = 1 << 20


def allocate_slot(session: Session, now: datetime) -> tuple[int, int]:
    """Hand out the next unused (list id, index), opening a new list when the last is full.

    The UPDATE ... RETURNING takes the newest list's row lock for the rest of the
    transaction: two writers never get the same index.
    """
    while True:
        newest = session.scalar(select(func.max(StatusList.id)))
        if newest is not None:
            row = session.execute(
                update(StatusList)
                .where(StatusList.id == newest, StatusList.next_idx < StatusList.capacity)
                .values(next_idx=StatusList.next_idx + 1)
                .returning(StatusList.next_idx)
            ).first()
            if row is not None:
                return newest, row[0] - 1
        session.execute(insert(StatusList).values(capacity=LIST_CAPACITY, next_idx=0, created_at=now))


def revoke_subject_tokens(session: Session, subject: Subject, now: datetime, *, reissue: bool = True) -> None:
    """Set the bit of every live token of `subject`; give it a fresh slot unless it is going away."""
    session.add(StatusRevocation(list_id=subject.status_list_id, idx=subject.status_idx, revoked_at=now))
    if reissue:
        subject.status_list_id, subject.status_idx = allocate_slot(session, now)
    session.flush()


def list_info(session: Session, list_id: int) -> StatusList | None:
    return session.get(StatusList, list_id)


def revoked_indexes(session: Session, list_id: int) -> list[int]:
    return list(session.scalars(select(StatusRevocation.idx).where(StatusRevocation.list_id == list_id)))
