"""Subjects: registration with evidence, assurance upgrades, reads and erasure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import Insert, bindparam, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.domain.age_counts import birth_month
from service.domain.evidence import Assurance
from service.kek import KeyEncryptionKey
from service.store import locks, status
from service.store.errors import Conflict, NotFound
from service.store.models import Subject

_BIRTH_DATE = "birth-date"


@dataclass(frozen=True)
class AcceptedEvidence:
    """Evidence that passed its checks: what it proves, and how strongly."""

    birth_date: date
    assurance: Assurance
    method: str
    resident_id_hmac: str | None = None
    attester: str | None = None


def _context(tenant: str, subject_ref: str) -> bytes:
    return f"{tenant}\x00{subject_ref}".encode()


def open_birth_date(kek: KeyEncryptionKey, tenant: str, subject_ref: str, sealed: bytes) -> date:
    """Decrypt a stored birth date; raises service.kek.Undecryptable on a wrong KEK or row."""
    return date.fromisoformat(kek.open(_BIRTH_DATE, sealed, _context(tenant, subject_ref)).decode())


def birth_date_of(kek: KeyEncryptionKey, subject: Subject) -> date:
    """Decrypt a subject's birth date; raises service.kek.Undecryptable on a wrong KEK."""
    return open_birth_date(kek, subject.tenant, subject.subject_ref, subject.birth_date_enc)


def get_subject(session: Session, tenant: str, subject_ref: str, *, for_update: bool = False) -> Subject:
    """The tenant's subject; raises NotFound."""
    query = select(Subject).where(Subject.tenant == tenant, Subject.subject_ref == subject_ref)
    if for_update:
        query = query.with_for_update()
    subject = session.scalar(query)
    if subject is None:
        raise NotFound("subject", subject_ref)
    return subject


def get_subjects(session: Session, tenant: str, *subject_refs: str) -> list[Subject]:
    """The tenant's subjects, in the order asked; raises NotFound for the first missing.

    They stay locked FOR SHARE until commit (lock level 1, see store/locks.py): what the
    caller decides from them cannot be undone by a concurrent erasure or re-verification.
    """
    found = locks.lock_subjects(session, tenant, subject_refs, share=True)
    for ref in subject_refs:
        if ref not in found:
            raise NotFound("subject", ref)
    return [found[ref] for ref in subject_refs]


def register_subject(
    session: Session,
    kek: KeyEncryptionKey,
    *,
    tenant: str,
    subject_ref: str,
    evidence: AcceptedEvidence,
    now: datetime,
) -> tuple[Subject, bool]:
    """Create the subject, or reconcile new evidence with what is recorded, in the caller's
    transaction.

    Returns (subject, created). Same birth date: the stronger assurance wins (an upgrade).
    Another birth date: accepted only from strictly stronger evidence, which also revokes
    the subject's live tokens since their bracket may be wrong; otherwise Conflict.
    A resident ID already used by another subject of the tenant is a Conflict too.

    The subject_ref's row is locked first: this is the path of a subject_ref insert_subject
    found taken. If there is none (new, or erased since), it is inserted; a concurrent
    registration that inserts it first is then locked and reconciled with.
    """
    _refuse_resident_id_of_another(session, tenant, subject_ref, evidence)
    while True:
        existing = _locked(session, tenant, subject_ref)
        if existing is not None:
            break
        subject = insert_subject(session, kek, tenant=tenant, subject_ref=subject_ref, evidence=evidence, now=now)
        if subject is not None:
            return subject, True

    recorded = Assurance(existing.assurance)
    stronger = evidence.assurance.rank > recorded.rank
    if birth_date_of(kek, existing) != evidence.birth_date:
        if not stronger:
            raise Conflict(
                "contradicting_evidence",
                f"the birth date contradicts recorded evidence of assurance {recorded.value}",
            )
        existing.birth_date_enc = kek.seal(
            _BIRTH_DATE, evidence.birth_date.isoformat().encode(), _context(tenant, subject_ref)
        )
        existing.birth_month = birth_month(evidence.birth_date)
        status.revoke_subject_tokens(session, existing, now)
    if stronger:
        existing.assurance = evidence.assurance.value
        existing.method = evidence.method
        existing.resident_id_hmac = evidence.resident_id_hmac or existing.resident_id_hmac
        existing.attester = evidence.attester
        existing.verified_at = now
    session.flush()
    return existing, False


def _duplicate_resident_id() -> Conflict:
    return Conflict("duplicate_resident_id", "this resident ID is already registered to another subject")


def _refuse_resident_id_of_another(session: Session, tenant: str, subject_ref: str, evidence: AcceptedEvidence) -> None:
    """Conflict if another subject of the tenant holds the evidence's resident ID.

    insert_subject needs no such SELECT (the unique index refuses the row); an existing
    subject must ask, as evidence weaker than its record would not run into the index.
    """
    if evidence.resident_id_hmac is None:
        return
    owner = session.scalar(
        select(Subject.subject_ref).where(
            Subject.tenant == tenant,
            Subject.resident_id_hmac == evidence.resident_id_hmac,
            Subject.subject_ref != subject_ref,
        )
    )
    if owner is not None:
        raise _duplicate_resident_id()


def _locked(session: Session, tenant: str, subject_ref: str) -> Subject | None:
    return session.scalar(
        select(Subject)
        .where(Subject.tenant == tenant, Subject.subject_ref == subject_ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# What a registration writes; the status slot comes from the database.
_NEW_COLUMNS = (
    "tenant", "subject_ref", "birth_date_enc", "birth_month", "assurance", "method",
    "resident_id_hmac", "attester", "verified_at", "created_at",
)
_RESIDENT_ID_INDEX = "ix_subjects_tenant_resident_id_hmac"


@cache
def _insert_statement(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (tenant, subject_ref) DO NOTHING RETURNING id, status_slot,
    with a bound parameter per column of _NEW_COLUMNS (plus `status_slot` on SQLite).

    Built once per dialect, so every registration reuses the statement and its memoised
    cache key: building them anew (and the ORM's bulk-insert path) was over half of a
    registration's CPU.
    On PostgreSQL the status slot is taken inside the same statement (status.slot_for_new),
    so a new subject costs one round trip; SQLite, in-process, takes it in a statement of its own.
    """
    table = Subject.__table__
    values = {name: bindparam(name, type_=table.c[name].type) for name in _NEW_COLUMNS}
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        taken = exists().where(table.c.tenant == values["tenant"], table.c.subject_ref == values["subject_ref"])
        slot = status.slot_for_new(taken)
        statement = postgresql.insert(table).from_select([*values, "status_slot"], select(*values.values(), slot.c.id))
    else:
        statement = sqlite.insert(table).values(**values, status_slot=bindparam("status_slot"))
    return statement.on_conflict_do_nothing(index_elements=["tenant", "subject_ref"]).returning(
        table.c.id, table.c.status_slot
    )


def insert_subject(
    session: Session, kek: KeyEncryptionKey, *, tenant: str, subject_ref: str, evidence: AcceptedEvidence, now: datetime
) -> Subject | None:
    """Insert a new subject: the new subject (a transient instance holding the row as
    inserted), or None if the (tenant, subject_ref) is taken (by a committed row or, after
    waiting, a concurrent one); register_subject then reconciles.

    On PostgreSQL this is one statement, so it may run with no transaction around it.
    Raises Conflict when another subject of the tenant holds the resident ID: the unique
    index refuses the row (on PostgreSQL the failed statement aborts any transaction).
    """
    values: dict[str, object] = dict(
        tenant=tenant,
        subject_ref=subject_ref,
        birth_date_enc=kek.seal(_BIRTH_DATE, evidence.birth_date.isoformat().encode(), _context(tenant, subject_ref)),
        birth_month=birth_month(evidence.birth_date),
        assurance=evidence.assurance.value,
        method=evidence.method,
        resident_id_hmac=evidence.resident_id_hmac,
        attester=evidence.attester,
        verified_at=now,
        created_at=now,
    )
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        taken = exists().where(Subject.tenant == tenant, Subject.subject_ref == subject_ref)
        if session.scalar(select(taken)):
            return None
        values["status_slot"] = status.allocate_slot(session)
    try:
        row = session.execute(_insert_statement(dialect), values).first()
    except IntegrityError as error:
        if evidence.resident_id_hmac is not None and _names_resident_id_index(error):
            raise _duplicate_resident_id() from None
        raise
    if row is None:
        return None
    values.update(id=row.id, status_slot=row.status_slot)
    return Subject(**values)


def _names_resident_id_index(error: IntegrityError) -> bool:
    """Whether `error` is the unique index on (tenant, resident_id_hmac) refusing a row:
    psycopg names the index; SQLite names its columns."""
    index = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    return index == _RESIDENT_ID_INDEX or "subjects.tenant, subjects.resident_id_hmac" in str(error.orig)


def erase_subject(session: Session, tenant: str, subject_ref: str, now: datetime) -> Subject:
    """Revoke the subject's tokens and delete its row (birth date, ID hash); raises NotFound.

    Returns the deleted row (detached) so the caller can log what happened to its consents.
    Locks, at level 1 (store/locks.py), the subject and the children relying on its consents,
    which consents.end_for_erased_subject goes on to revoke.
    """
    subject = locks.lock_for_erasure(session, tenant, subject_ref).get(subject_ref)
    if subject is None:
        raise NotFound("subject", subject_ref)
    status.revoke_subject_tokens(session, subject, now, reissue=False)
    session.execute(delete(Subject).where(Subject.id == subject.id))
    return subject
