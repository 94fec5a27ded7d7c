"""Which tenant a caller may read (CONTRACT §2, v2): the one rule for every endpoint that
takes `?tenant=` (the consent-log export, the reports).

Regulators read production tenants only: nothing of a sandbox tenant appears in what they
are given (CONTRACT §15), and a sandbox tenant's name answers as an unknown one. A sandbox
tenant's own client still reads its own reports and export: trying them is what it is for.
"""

from __future__ import annotations

from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from service.api.auth import Caller
from service.store import clients as client_store
from service.store import sandbox as sandbox_store

# One wording for a tenant that does not exist and one the caller may not read, so a
# tenant's client cannot probe which other tenants exist.
NO_SUCH_TENANT = "no tenant of that name is readable by this client"


def readable_tenant(session: Session, caller: Caller, requested: str | None) -> str:
    """The tenant whose data `caller` reads when it asks for `requested` (None: not named).

    A tenant's client reads its own tenant only: naming another is NotFound (404). A
    regulator client belongs to no tenant: it must name one (ValidationError, 422 otherwise),
    and a tenant no client was ever registered for, or a sandbox tenant, is NotFound.
    """
    if caller.tenant is not None:
        if requested is not None and requested != caller.tenant:
            raise NotFound(NO_SUCH_TENANT)
        return caller.tenant
    if requested is None:
        raise ValidationError({"tenant": ["a regulator client must name the tenant it reads"]})
    if not client_store.tenant_exists(session, requested) or sandbox_store.is_sandbox(session, requested):
        raise NotFound(NO_SUCH_TENANT)
    return requested


def readable_tenants(session: Session, caller: Caller) -> list[str]:
    """The tenants `caller` may name: every production tenant for a regulator client, its own
    for a tenant's."""
    if caller.tenant is not None:
        return [caller.tenant]
    sandboxes = sandbox_store.sandbox_tenants(session)
    return [tenant for tenant in client_store.tenants(session) if tenant not in sandboxes]
