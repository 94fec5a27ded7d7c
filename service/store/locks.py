"""LOCKING: the one order in which every write path takes its row locks.

Two transactions deadlock only when each waits for a lock the other holds. If every write
path takes its locks level by level in the order below -- and within a level in the stated
key order -- no such cycle can form, so on Postgres no request dies as a deadlock victim.

  0. Idempotency-Key reservation: the INSERT into idempotency_keys (store/idempotency.claim);
     a repeat of the same key waits here, before anything else is locked.
  1. Subjects (store/locks.lock_subjects): every subject row the transaction will change,
     erase or rely on, in ONE statement ordered by subject_ref -- FOR UPDATE to change or
     erase, FOR SHARE to keep a row as read (a grant keeps child and guardian from being
     erased or re-verified before it commits).
  2. Consents (store/locks.lock_consents): every consent the transaction will end, in ONE
     statement, in the order of their lock keys. These are transaction-scoped advisory locks
     keyed by consent_id (a row lock would need UPDATE privilege on an append-only table).
     Ending rows, whose foreign key takes a KEY SHARE lock on their consent, are inserted
     only after this; nothing takes a stronger row lock on a consent.
  3. The tenant's consent-log head, last: every writer of the tenant queues on it, so it is
     held for the shortest possible time. Appends are staged and linked just before the
     COMMIT (store/audit_log.link_staged, from run_in_transaction), whatever the step does
     after them; a step that asks where an entry stands (a receipt) links there and holds
     the head from then on. A transaction that appends for several tenants (the expiry
     sweep) takes their heads in tenant order.

Grants through the API are group-committed (store/group_commit.py): one transaction runs
several grant steps one after another, each taking its levels 0 and 1, and takes the head
(level 3) once, after the last step, when it links their staged entries. A later step's
level 0 or 1 is therefore taken while earlier steps' level-1 FOR SHARE locks are held: a
transaction that waits for one of those rows (an erasure or re-verification of the child
or guardian, FOR UPDATE) while holding a row or key a later step of the batch then waits
for closes a cycle. That needs two requests racing on the same subjects and keys; the
database breaks it and the transaction runner runs the loser again in full, the batch
included (every step of a batch runs again, as each would alone).

Everything else a write path touches either is a new key (consent rows, log entries,
status slots and revocations, clients, access tokens: inserts wait on nobody's row lock
except a duplicate key, and the key's owner is already locked at level 1 or 2 -- a
revocation's slot belongs to a subject locked at level 1; a deletion requirement is a new
row whose "was this the child's last consent?" question is answered under the child's
level-1 lock) or is a sweep of expired rows, which skips rows another transaction holds
(SKIP LOCKED) and so never waits. Acknowledging a deletion locks that one deletions row and
then the head, and no path locks a deletions row after a head. Signing-key rotation and the
webhook tables (subscriptions, deliveries, leases taken with SKIP LOCKED) share no row with
the paths above and never touch a log head.

The paths:
  register, re-verify    1 (the subject, FOR UPDATE; a new one is an INSERT)
  grant                  0, 1 (child and guardian, FOR SHARE), 3 (once per batch)
  withdraw               0, 1 (the child, FOR UPDATE), 2 (the consent), 3 (the
                         `withdrawn` entry, then any `deletion_required`)
  erase                  1 (the subject and, for a guardian, the children of its unended
                         consents, FOR UPDATE), 2 (every consent it ends), 3
  expire                 2 (the due consents), 3 (per tenant, in tenant order)
  set guardian controls  1 (child and guardian, FOR UPDATE: the child's token slot changes), 3

A path learns which rows it needs by plain reads first (a consent's child_ref never changes:
consents are append-only) and then locks them. The one place where the set can grow after
locking is a guardian's erasure racing a grant to a new child; erase_subject locks the
newcomer afterwards, out of order, and the bounded retry of deadlocks (the transaction
runner) covers that rare case.

SQLite: every write transaction begins with BEGIN IMMEDIATE (store/db.py), which takes the
database's one write lock up front, so writers there queue and never deadlock; FOR UPDATE
and FOR SHARE compile to nothing and the advisory locks are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.store.models import Consent, ConsentEnding, Subject


def lock_subjects(session: Session, tenant: str, subject_refs: Iterable[str], *, share: bool = False) -> dict[str, Subject]:
    """Level 1: lock the tenant's subjects named, in subject_ref order, in one statement.

    Returns the rows found by subject_ref (an erased or unknown ref is simply absent).
    `share` takes FOR SHARE (keep the row as read) instead of FOR UPDATE (change or erase it).
    """
    refs = sorted(set(subject_refs))
    if not refs:
        return {}
    query = (
        select(Subject)
        .where(Subject.tenant == tenant, Subject.subject_ref.in_(refs))
        .order_by(Subject.subject_ref)
        .with_for_update(read=share)
        .execution_options(populate_existing=True)  # a lock waited for may return a newer row
    )
    return {subject.subject_ref: subject for subject in session.scalars(query)}


def lock_consents(session: Session, consent_ids: Iterable[str]) -> list[Consent]:
    """Level 2: lock the consents named, in lock-key order, in one statement; returns them.

    Transaction-scoped advisory locks, not FOR UPDATE: a row lock needs UPDATE privilege,
    which the runtime role must not have on an append-only table (store/roles.py).
    """
    ids = sorted(set(consent_ids))
    if not ids:
        return []
    if session.get_bind().dialect.name == "postgresql":
        keys = sorted({advisory_key("consent", consent_id) for consent_id in ids})
        # unnest yields the array in order, so the locks are taken in key order
        session.execute(text("SELECT pg_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key"), {"keys": keys})
    return list(session.scalars(select(Consent).where(Consent.consent_id.in_(ids)).order_by(Consent.consent_id)))


def advisory_key(kind: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for `name` of `kind` (a collision only serialises more)."""
    return int.from_bytes(hashlib.sha256(f"agegate:{kind}:{name}".encode()).digest()[:8], "big", signed=True)


def children_relying_on(session: Session, tenant: str, guardian_ref: str) -> set[str]:
    """The child_refs of the guardian's consents that have not ended (their tokens may rely on them)."""
    query = (
        select(Consent.child_ref)
        .outerjoin(ConsentEnding, ConsentEnding.consent_id == Consent.consent_id)
        .where(Consent.tenant == tenant, Consent.guardian_ref == guardian_ref, ConsentEnding.consent_id.is_(None))
    )
    return set(session.scalars(query))


def lock_for_erasure(session: Session, tenant: str, subject_ref: str) -> dict[str, Subject]:
    """Level 1 for an erasure: the subject and the children relying on its consents, FOR UPDATE.

    Once the subject is locked no grant naming it as guardian can commit, so a second look
    finds at most the children of grants that committed between the first look and the lock.
    """
    locked = lock_subjects(session, tenant, {subject_ref} | children_relying_on(session, tenant, subject_ref))
    if subject_ref in locked:
        late = children_relying_on(session, tenant, subject_ref) - set(locked)
        locked.update(lock_subjects(session, tenant, late))
    return locked
