"""Monthly active subjects: the last local day a token was issued, upserted in batches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.store.models import Subject, SubjectActivity


def record_issued(session: Session, tenant: str, subject_refs: Iterable[str], day: date) -> None:
    """Mark the subjects as issued a token on `day`; a later day already recorded stays.

    INSERT ... SELECT from subjects, so a subject erased since its token was issued is
    skipped rather than breaking the batch on the foreign key.
    """
    refs = sorted(set(subject_refs))  # one lock order for concurrent flushes of other workers
    if not refs:
        return
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    source = select(Subject.tenant, Subject.subject_ref, literal(day).label("last_issued_on")).where(
        Subject.tenant == tenant, Subject.subject_ref.in_(refs)
    )
    statement = dialect_insert(SubjectActivity).from_select(["tenant", "subject_ref", "last_issued_on"], source)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant", "subject_ref"],
        set_={"last_issued_on": statement.excluded.last_issued_on},
        where=SubjectActivity.last_issued_on < statement.excluded.last_issued_on,
    )
    session.execute(statement)
