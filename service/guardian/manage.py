"""What the guardian's management page changes: withdrawal, through the consent flow."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.flows.consents import ConsentWithdrawal, withdraw_consent
from service.flows.deps import Deps
from service.store.models import ManageLink

WITHDRAWAL_REASON = "withdrawn by the guardian on the agegate page"


def withdraw(session: Session, deps: Deps, link: ManageLink, consent_id: str) -> None:
    """Withdraw one of the guardian's consents for the link's child: `withdrawn` is logged and
    the child's live tokens are revoked in the same transaction. The caller checked that the
    consent is the link's (tenant, child, guardian)."""
    withdraw_consent(session, deps, ConsentWithdrawal(link.tenant, None, consent_id, WITHDRAWAL_REASON))
