"""The runtime an authenticated caller's steps run on (CONTRACT §15).

A sandbox tenant's client gets its tenant's runtime (its own clock); every other caller the
service's own. Views that run a business step for the caller's tenant take `caller_runtime()`
instead of `current_runtime()`.
"""

from __future__ import annotations

from flask import g

from service.domain.errors import SandboxOnly
from service.runtime import Runtime, current_runtime


def caller_runtime() -> Runtime:
    """The runtime of `g.caller`'s tenant, looked up once per request (after `require_scope`)."""
    runtime: Runtime | None = g.get("caller_runtime")
    if runtime is None:
        runtime = g.caller_runtime = current_runtime().for_caller(g.caller.tenant, sandbox=g.caller.sandbox)
    return runtime


def require_sandbox() -> None:
    """Raise SandboxOnly (403 `sandbox-only`) unless `g.caller` is a sandbox tenant's client."""
    if not g.caller.sandbox:
        raise SandboxOnly(g.caller.tenant or "")
