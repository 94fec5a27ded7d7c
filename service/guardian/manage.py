"""What the guardian's management page changes: withdrawal, through the consent flow, and the
child's controls, through the controls flow -- the steps the API calls, for the link's
(tenant, child, guardian)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.flows.consents import ConsentWithdrawal, withdraw_consent
from service.flows.controls import ControlsChange, ControlsQuery, ControlsView, read_controls, set_controls
from service.flows.deps import Deps
from service.store.models import ManageLink

WITHDRAWAL_REASON = "withdrawn by the guardian on the agegate page"


def withdraw(session: Session, deps: Deps, link: ManageLink, consent_id: str) -> None:
    """Withdraw one of the guardian's consents for the link's child: `withdrawn` is logged and
    the child's live tokens are revoked in the same transaction. The caller checked that the
    consent is the link's (tenant, child, guardian)."""
    withdraw_consent(session, deps, ConsentWithdrawal(link.tenant, None, consent_id, WITHDRAWAL_REASON))


def child_controls(session: Session, deps: Deps, link: ManageLink) -> ControlsView:
    """The link's child's controls, the limits they leave and the defaults of its age band."""
    return read_controls(session, deps, ControlsQuery(link.tenant, link.child_ref))


def change_controls(session: Session, deps: Deps, link: ManageLink, controls: dict[str, Any]) -> ControlsView:
    """Replace the link's child's controls, as the link's guardian, exactly as
    PUT /v1/subjects/{child_ref}/controls does (no client: the guardian acted on the page).

    Raises what `set_controls` raises: LimitLoosened, PolicyInvalid, ConsentNotAllowed, NotFound.
    """
    return set_controls(session, deps, ControlsChange(link.tenant, link.child_ref, link.guardian_ref, controls, client_id=None))
