"""Guardian controls (CONTRACT §13): a guardian tightens the child's limits or turns a
category off; the child's live tokens are revoked so verifiers see the change within one
status-list TTL, and `controls_changed` is logged (and offered to webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.domain.brackets import age_on, bracket_at
from service.domain.consent import check_guardian
from service.domain.controls import NO_CONTROLS, GuardianControls, check_controls, controls_from_document, limits_for
from service.domain.evidence import Assurance
from service.domain.limits import Limits
from service.domain.policy_sections import LimitBand
from service.events import catalogue as events
from service.flows.deps import Deps
from service.flows.policies import policy_for
from service.store import audit_log
from service.store import controls as controls_store
from service.store import status as status_store
from service.store import subjects as subject_store
from service.store.controls import ControlsInForce
from service.store.errors import NotFound
from service.store.locks import lock_subjects
from service.store.models import Subject


@dataclass(frozen=True)
class ControlsChange:
    tenant: str
    child_ref: str
    guardian_ref: str
    controls: dict[str, Any]  # daily_minutes, curfew, payment caps (each optional), blocked_categories
    client_id: str | None  # None when the guardian set them on a hosted page


@dataclass(frozen=True)
class ControlsQuery:
    tenant: str
    child_ref: str


@dataclass(frozen=True)
class ControlsView:
    """The controls as set, and the limits they leave the child with now."""

    child_ref: str
    controls: GuardianControls
    limits: Limits | None
    set_by: str | None
    set_at: Any
    log_seq: int | None
    # the defaults a guardian may only tighten: the child's age band in the policy in force
    # (as the tenant tightened it), each value with its source; None from 18 on
    defaults: LimitBand | None


def set_controls(session: Session, deps: Deps, change: ControlsChange) -> ControlsView:
    """Replace the child's controls with ``change.controls``.

    Raises store NotFound (child or guardian), ConsentNotAllowed (who may act for the child),
    LimitLoosened (a limit looser than the default in force for the child's age band) and
    PolicyInvalid (a malformed control or an unknown category).
    """
    now, tz = deps.clock(), deps.timezone
    # Level 1 of store/locks.py (the child changes: its token slot), before the log head (level 3).
    locked = lock_subjects(session, change.tenant, (change.child_ref, change.guardian_ref))
    child, guardian = (_found(locked, ref) for ref in (change.child_ref, change.guardian_ref))
    child_birth = subject_store.birth_date_of(deps.kek, child)
    check_guardian(
        child_bracket=bracket_at(child_birth, now, tz),
        guardian_bracket=bracket_at(subject_store.birth_date_of(deps.kek, guardian), now, tz),
        guardian_assurance=Assurance(guardian.assurance),
        child_ref=child.subject_ref,
        guardian_ref=guardian.subject_ref,
    )
    policy = policy_for(session, deps, change.tenant)
    controls = controls_from_document(change.controls, policy.categories)
    age = age_on(child_birth, now.astimezone(tz).date())
    check_controls(policy, age, controls)
    seq = audit_log.append(
        session,
        change.tenant,
        [
            events.controls_changed(
                tenant=change.tenant,
                child_ref=child.subject_ref,
                guardian_ref=guardian.subject_ref,
                controls=controls.as_document(),
                occurred_at=now,
                client_id=change.client_id,
            )
        ],
        now,
    ).seq
    controls_store.record(
        session,
        tenant=change.tenant,
        child_ref=child.subject_ref,
        guardian_ref=guardian.subject_ref,
        controls=controls,
        set_at=now,
        log_seq=seq,
    )
    # Like a withdrawal: every live token of the child carries the old limits or categories.
    status_store.revoke_subject_tokens(session, child, now)
    return ControlsView(
        child.subject_ref, controls, limits_for(policy, age, controls), guardian.subject_ref, now, seq, policy.limits_for_age(age)
    )


def read_controls(session: Session, deps: Deps, query: ControlsQuery) -> ControlsView:
    """The child's controls and the limits they leave now; raises store NotFound."""
    now, tz = deps.clock(), deps.timezone
    child = subject_store.get_subject(session, query.tenant, query.child_ref)
    policy = policy_for(session, deps, query.tenant)
    in_force = controls_store.in_force(session, query.tenant, query.child_ref, policy.categories)
    controls = NO_CONTROLS if in_force is None else in_force.controls
    age = age_on(subject_store.birth_date_of(deps.kek, child), now.astimezone(tz).date())
    return _view(child.subject_ref, controls, limits_for(policy, age, controls), in_force, policy.limits_for_age(age))


def _view(
    child_ref: str, controls: GuardianControls, limits: Limits | None, in_force: ControlsInForce | None, defaults: LimitBand | None
) -> ControlsView:
    if in_force is None:
        return ControlsView(child_ref, controls, limits, None, None, None, defaults)
    return ControlsView(child_ref, controls, limits, in_force.guardian_ref, in_force.set_at, in_force.log_seq, defaults)


def _found(subjects: dict[str, Subject], subject_ref: str) -> Subject:
    if subject_ref not in subjects:
        raise NotFound("subject", subject_ref)
    return subjects[subject_ref]
