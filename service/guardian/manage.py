"""What the guardian's management page changes: withdrawal, through the consent records."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.runtime import Runtime
from service.store import consents as consent_store
from service.store.models import ManageLink

WITHDRAWAL_REASON = "withdrawn by the guardian on the agegate page"


def withdraw(session: Session, runtime: Runtime, link: ManageLink, consent_id: str) -> None:
    """Withdraw one of the guardian's consents for the link's child: `withdrawn` is logged and
    the child's live tokens are revoked in the same transaction. The caller checked that the
    consent is the link's (tenant, child, guardian)."""
    consent_store.withdraw(
        session, tenant=link.tenant, consent_id=consent_id, reason=WITHDRAWAL_REASON, client_id=None, now=runtime.clock()  # type: ignore[arg-type]
    )
