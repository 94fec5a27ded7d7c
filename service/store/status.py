"""Status-list slots: allocation and revocation (the Token Status List draft, bits=1).

A subject's live tokens share one slot. Revoking them sets that slot's bit and moves the
subject to a fresh slot, so issuing a token never writes, and a slot is never reused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CTE, Exists, func, insert, select
from sqlalchemy.orm import Session

from service.store.models import StatusRevocation, StatusSlot, Subject

# 2^18 slots: a 32 KiB bit array, about 5 KB on the wire with 1% revoked at random. Lists
# this small keep every verifier's fetch small (the JWS base64url's the already base64url
# `lst` a second time, so bigger lists cost more than their bits); a verifier fetches only
# the lists its tokens name.
LIST_CAPACITY = 1 << 18


def position(slot: int) -> tuple[int, int]:
    """(list id, index in that list) of a slot."""
    return (slot - 1) // LIST_CAPACITY + 1, (slot - 1) % LIST_CAPACITY


def allocate_slot(session: Session) -> int:
    """A new slot from the identity column: one INSERT, no lock shared with other writers."""
    return session.execute(insert(StatusSlot).returning(StatusSlot.id)).scalar_one()


def slot_for_new(taken: Exists) -> CTE:
    """PostgreSQL: a CTE that allocates one slot (column `id`) unless `taken` holds.

    The subject INSERT selects from it, so slot and subject cost one statement; a subject_ref
    already taken allocates nothing (a concurrent registration may still cost one unused slot).
    """
    next_id = func.nextval(func.pg_get_serial_sequence(StatusSlot.__tablename__, "id"))
    return insert(StatusSlot).from_select(["id"], select(next_id).where(~taken)).returning(StatusSlot.id).cte("new_slot")


def revoke_subject_tokens(session: Session, subject: Subject, now: datetime, *, reissue: bool = True) -> None:
    """Set the bit of every live token of `subject`; give it a fresh slot unless it is going away."""
    session.add(StatusRevocation(slot=subject.status_slot, revoked_at=now))
    if reissue:
        subject.status_slot = allocate_slot(session)
    session.flush()


def list_exists(session: Session, list_id: int) -> bool:
    """Whether any slot of list `list_id` has been handed out."""
    handed_out = session.scalar(select(func.max(StatusSlot.id))) or 0
    return list_id >= 1 and handed_out > (list_id - 1) * LIST_CAPACITY


def revoked_indexes(session: Session, list_id: int) -> list[int]:
    """Indexes within list `list_id` whose bit is set."""
    first = (list_id - 1) * LIST_CAPACITY + 1
    slots = session.scalars(
        select(StatusRevocation.slot).where(StatusRevocation.slot >= first, StatusRevocation.slot < first + LIST_CAPACITY)
    )
    return [slot - first for slot in slots]
