"""Erasing a child nobody consented for, through the same step as `DELETE /v1/subjects/{ref}`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.flows.deps import Deps
from service.flows.subjects import SubjectErasure, erase_subject
from service.store import consent_requests as request_store


def erase_child(session: Session, deps: Deps, tenant: str, child_ref: str) -> None:
    """Erase the child (`subject_erased` logged) and drop the sealed labels of its requests.

    No client asked for it: the event's client_id is None, as for other things the service
    does by itself (an expiry, a birthday).
    """
    erase_subject(session, deps, SubjectErasure(tenant, child_ref, None))  # type: ignore[arg-type]
    request_store.forget_labels(session, tenant, child_ref)
