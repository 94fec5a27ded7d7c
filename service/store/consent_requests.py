"""Consent requests, guardian management links and tenant page settings (CONTRACT §12).

Query functions only: they take a Session, flush when they need to, never commit. Tokens
and codes arrive here already hashed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from service.store.errors import NotFound
from service.store.sandbox import in_production
from service.store.models import ConsentRequest, ManageLink, Subject, SweepMark, TenantPage

PENDING, COMPLETED, LOCKED, EXPIRED = "pending", "completed", "locked", "expired"


def state_at(request: ConsentRequest, now: datetime) -> str:
    """The request's state at `now`: a pending request past its expiry reads as expired."""
    if request.state == PENDING and request.expires_at <= now:
        return EXPIRED
    return request.state


def add(session: Session, request: ConsentRequest) -> ConsentRequest:
    session.add(request)
    session.flush()
    return request


def get(session: Session, tenant: str, request_id: str, *, for_update: bool = False) -> ConsentRequest:
    """The tenant's request; raises NotFound."""
    query = select(ConsentRequest).where(ConsentRequest.tenant == tenant, ConsentRequest.request_id == request_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    request = session.scalar(query)
    if request is None:
        raise NotFound("consent request", request_id)
    return request


def by_link(session: Session, link_hash: str, *, for_update: bool = False) -> ConsentRequest | None:
    """The request whose page link hashes to `link_hash`, or None."""
    query = select(ConsentRequest).where(ConsentRequest.link_hash == link_hash)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def due_to_expire(session: Session, now: datetime, *, tenant: str | None = None, limit: int = 500) -> list[ConsentRequest]:
    """Pending requests past their expiry, oldest first, locked for the sweep: of production
    tenants (`now` the real clock's), or of the sandbox `tenant` (`now` its clock's)."""
    of_tenant = in_production(ConsentRequest.tenant) if tenant is None else ConsentRequest.tenant == tenant
    return list(
        session.scalars(
            select(ConsentRequest)
            .where(ConsentRequest.state == PENDING, ConsentRequest.expires_at <= now, of_tenant)
            .order_by(ConsentRequest.expires_at, ConsentRequest.request_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def lock_requests_of_child(session: Session, tenant: str, child_ref: str, now: datetime) -> int:
    """Lock every request of the child (they come before the child in the lock order: an
    answer locks its request, then the subjects); returns how many are open at `now`."""
    requests = session.scalars(
        select(ConsentRequest)
        .where(ConsentRequest.tenant == tenant, ConsentRequest.child_ref == child_ref)
        .order_by(ConsentRequest.request_id)
        .with_for_update()
    ).all()
    return sum(1 for request in requests if state_at(request, now) == PENDING)


def ever_asked_for(session: Session, tenant: str, child_refs: Iterable[str]) -> set[str]:
    """Those of `child_refs` for whom at least one request was ever made."""
    refs = list(child_refs)
    if not refs:
        return set()
    return set(
        session.scalars(
            select(ConsentRequest.child_ref).where(ConsentRequest.tenant == tenant, ConsentRequest.child_ref.in_(refs)).distinct()
        )
    )


def forget_labels(session: Session, tenant: str, child_ref: str) -> None:
    """Drop the sealed child labels of an erased child's requests (the rest is refs and metadata)."""
    for request in session.scalars(
        select(ConsentRequest).where(ConsentRequest.tenant == tenant, ConsentRequest.child_ref == child_ref)
    ):
        request.child_label_enc = b""
    session.flush()


# ---------------------------------------------------------------- management links


def add_manage_link(session: Session, link: ManageLink) -> ManageLink:
    session.add(link)
    session.flush()
    return link


def manage_link(session: Session, link_hash: str, now: datetime) -> ManageLink | None:
    """The unexpired management link hashing to `link_hash`, or None."""
    return session.scalar(select(ManageLink).where(ManageLink.link_hash == link_hash, ManageLink.expires_at > now))


# ---------------------------------------------------------------- tenant page settings


def tenant_page(session: Session, tenant: str) -> TenantPage | None:
    return session.get(TenantPage, tenant)


def set_tenant_page(session: Session, tenant: str, *, display_name: str, frame_origins: Iterable[str]) -> TenantPage:
    """Create or replace how `tenant` appears on the guardian pages."""
    page = session.get(TenantPage, tenant, with_for_update=True)
    if page is None:
        page = TenantPage(tenant=tenant)
        session.add(page)
    page.display_name = display_name
    page.frame_origins = " ".join(dict.fromkeys(frame_origins))
    session.flush()
    return page


# ---------------------------------------------------------------- keep little before consent


@dataclass(frozen=True)
class RegistrationsPage:
    never_asked: list[tuple[str, str]]  # (tenant, subject_ref) of subjects no request was made for
    next_after: tuple[datetime, int] | None  # the key to read on from, None at the end


def registrations_page(session: Session, after: tuple[datetime, int] | None, upto: datetime, limit: int) -> RegistrationsPage:
    """Subjects registered after the (created_at, id) key `after` and at or before `upto`, in
    that key's order (keyset pagination, ties included), without those a request was made for."""
    query = select(Subject.tenant, Subject.subject_ref, Subject.created_at, Subject.id).where(Subject.created_at <= upto)
    if after is not None:
        at, last_id = after
        query = query.where(or_(Subject.created_at > at, and_(Subject.created_at == at, Subject.id > last_id)))
    rows = session.execute(query.order_by(Subject.created_at, Subject.id).limit(limit)).all()
    asked: set[tuple[str, str]] = set()
    for tenant in {row.tenant for row in rows}:
        refs = [row.subject_ref for row in rows if row.tenant == tenant]
        asked |= {(tenant, ref) for ref in ever_asked_for(session, tenant, refs)}
    never_asked = [(row.tenant, row.subject_ref) for row in rows if (row.tenant, row.subject_ref) not in asked]
    next_after = (rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
    return RegistrationsPage(never_asked, next_after)


def sweep_mark(session: Session, name: str) -> datetime | None:
    """How far the sweep `name` has got (None: it never ran)."""
    mark = session.get(SweepMark, name)
    return None if mark is None else mark.upto


def advance_sweep_mark(session: Session, name: str, upto: datetime) -> None:
    mark = session.get(SweepMark, name, with_for_update=True)
    if mark is None:
        session.add(SweepMark(name=name, upto=upto))
    else:
        mark.upto = max(mark.upto, upto)
    session.flush()
