"""Erasing a child nobody consented for, as `DELETE /v1/subjects/{ref}` would, by the service itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.runtime import Runtime
from service.store import consent_requests as request_store
from service.store import consents as consent_store
from service.store import subjects as subject_store
from service.store.models import Subject


def erase_child(session: Session, runtime: Runtime, child: Subject, now: datetime) -> None:
    """Delete the child's row (birth date, ID hash), end what consents it had and log
    `subject_erased` (client_id None: the service did it), and drop its requests' labels."""
    tenant, ref = child.tenant, child.subject_ref
    subject_store.erase_subject(session, tenant, ref, now)
    consent_store.end_for_erased_subject(session, tenant=tenant, subject_ref=ref, client_id=None, now=now)  # type: ignore[arg-type]
    request_store.forget_labels(session, tenant, ref)
