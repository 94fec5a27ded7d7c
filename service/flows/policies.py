"""Tenant policy (CONTRACT §13): install a tenant's overrides, and the policy in force for a
tenant at an instant -- the one every decision for that tenant's subjects is made under."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.domain.policy import Policy
from service.domain.tenant_policy import effective_policy
from service.flows.deps import Deps
from service.store import tenant_policies as tenant_policy_store


@dataclass(frozen=True)
class TenantPolicyInstall:
    tenant: str
    document: dict[str, Any]


@dataclass(frozen=True)
class InstalledPolicy:
    revision: int
    policy: Policy


class _EffectivePolicies:
    """Effective policies by (base version, tenant, revision, document): building one
    precomputes the decision table (a few hundred cells), too much for every token issuance.
    The document is part of the key, so a revision number reused (a restored backup, a
    rolled-back test) can never serve another document's policy; the size bound keeps memory flat."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str, int, str], Policy] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, base: Policy, tenant: str, revision: int, document: str) -> Policy:
        """The policy for the override `document` (JSON text), parsed only when not cached."""
        key = (base.version, tenant, revision, document)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        policy = effective_policy(base, json.loads(document), tenant, revision)
        with self._lock:
            self._entries[key] = policy
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return policy


_EFFECTIVE = _EffectivePolicies()


def policy_for(session: Session, deps: Deps, tenant: str, at: datetime | None = None) -> Policy:
    """The policy in force for ``tenant`` (at ``at``, when given): the base policy made stricter
    by the tenant's latest revision, or the base policy when the tenant has none."""
    installed = tenant_policy_store.in_force(session, tenant, at)
    if installed is None:
        return deps.policy
    return _EFFECTIVE.get(deps.policy, tenant, installed.revision, json.dumps(installed.document, sort_keys=True))


def policy_of_revision(deps: Deps, tenant: str, revision: int | None, document: str | None) -> Policy:
    """What `policy_for` answers now, from the tenant's latest revision and its document (the
    JSON text as stored) read by the caller's own statement; the base policy for no revision."""
    if revision is None or document is None:
        return deps.policy
    return _EFFECTIVE.get(deps.policy, tenant, revision, document)


def install_tenant_policy(session: Session, deps: Deps, install: TenantPolicyInstall) -> InstalledPolicy:
    """Validate the overrides against the base policy and install them as the next revision.

    Raises PolicyInvalid (malformed) or PolicyLoosened (would loosen a rule), naming the member;
    nothing is stored then.
    """
    # Validation runs after the insert, inside the caller's transaction: a refusal rolls the
    # revision back with everything else.
    revision = tenant_policy_store.install(session, install.tenant, install.document, deps.clock())
    return InstalledPolicy(revision, effective_policy(deps.policy, install.document, install.tenant, revision))
