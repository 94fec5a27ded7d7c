"""Guardian controls history (CONTRACT §13): append a change, read what is in force."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.controls import GuardianControls, controls_from_document
from service.store.models import GuardianControlsChange


@dataclass(frozen=True)
class ControlsInForce:
    controls: GuardianControls
    guardian_ref: str
    set_at: datetime
    log_seq: int


def record(
    session: Session,
    *,
    tenant: str,
    child_ref: str,
    guardian_ref: str,
    controls: GuardianControls,
    set_at: datetime,
    log_seq: int,
) -> None:
    session.add(
        GuardianControlsChange(
            tenant=tenant,
            child_ref=child_ref,
            guardian_ref=guardian_ref,
            controls=json.dumps(controls.as_document(), sort_keys=True),
            set_at=set_at,
            log_seq=log_seq,
        )
    )
    session.flush()


def in_force(
    session: Session, tenant: str, child_ref: str, categories: tuple[str, ...], at: datetime | None = None
) -> ControlsInForce | None:
    """The child's controls as last set (at or before ``at``, when given); None if never set."""
    query = select(GuardianControlsChange).where(
        GuardianControlsChange.tenant == tenant, GuardianControlsChange.child_ref == child_ref
    )
    if at is not None:
        query = query.where(GuardianControlsChange.set_at <= at)
    row = session.scalars(query.order_by(GuardianControlsChange.id.desc()).limit(1)).first()
    if row is None:
        return None
    return ControlsInForce(stored_controls(row.controls, categories), row.guardian_ref, row.set_at, row.log_seq)


def stored_controls(document: str, categories: tuple[str, ...]) -> GuardianControls:
    """The controls of one stored change (its `controls` column, JSON)."""
    return controls_from_document(json.loads(document), categories)
