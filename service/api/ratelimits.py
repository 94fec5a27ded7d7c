"""Rate limits (Flask-Limiter): declared on views with `rate_limited`, applied by `init_rate_limits`.

Counters live in AGEGATE_RATE_LIMIT_STORAGE: `memory://` (the default) counts per process,
right for one instance; `redis://host:6379/0` shares the counters between every worker and
instance, which is what makes a limit mean the same with N instances. A breach is a 429
problem+json with `Retry-After` (problems.py keeps the header).

Any blueprint marks its own views, e.g. a page that takes a guardian's code:

    @blueprint.post("/consent/<request_id>/code")
    @rate_limited(RateLimit("10/minute", by_address, "guardian-code"))
    def enter_code(request_id): ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from flask import Flask, Response, request
from flask_limiter import Limiter

log = logging.getLogger("agegate.ratelimits")

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "_agegate_rate_limits"

# POST /oauth/token. A client needs one access token an hour per process (tokens live
# 3600 s), so 60 a minute per client id leaves room for a fleet restarting at once while
# capping secret guessing and the database work each attempt costs. Per address the
# budget is larger, since many backends may share one NAT address.
TOKEN_PER_CLIENT = "60/minute"
TOKEN_PER_ADDRESS = "300/minute"
# A guardian's one-time code (6 digits): each request locks after 5 wrong codes; this caps how
# many requests one address can probe per minute, across requests, on top of that lock.
GUARDIAN_CODE_PER_ADDRESS = "10/minute"


def by_address() -> str:
    """The peer address (behind a proxy, whatever the WSGI server puts in REMOTE_ADDR)."""
    return "address:" + (request.remote_addr or "unknown")


def by_client_id() -> str:
    """The client id a token request authenticates as (HTTP Basic or form), else the address."""
    authorization = request.authorization
    client_id = authorization.username if authorization is not None and authorization.username else None
    client_id = client_id or request.form.get("client_id")
    if not client_id:
        return by_address()
    return "client:" + client_id[:128]


@dataclass(frozen=True)
class RateLimit:
    """One budget: `rule` in Flask-Limiter's notation ("60/minute"), counted per `key()`;
    views naming the same `scope` share it."""

    rule: str
    key: Callable[[], str]
    scope: str


def rate_limited(*limits: RateLimit) -> Callable[[F], F]:
    """Mark a view with its limits; `init_rate_limits` applies them when the app is built."""

    def mark(view: F) -> F:
        setattr(view, _MARK, (*getattr(view, _MARK, ()), *limits))
        return view

    return mark


def init_rate_limits(app: Flask, storage_uri: str) -> Limiter:
    """Build this app's limiter and wrap every view marked with `rate_limited`.

    Call after every blueprint is registered. Each app gets its own limiter, so two apps in
    one process (tests) never share counters unless they share a Redis.
    """
    @app.after_request
    def _retry_after_only_when_refused(response: Response) -> Response:
        # Flask-Limiter sends Retry-After on every limited answer; it means something only on
        # a refusal. (Registered before the limiter, so it runs after the limiter's hook.)
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter = Limiter(
        key_func=by_address,
        app=app,
        storage_uri=storage_uri,
        # exact counts over the last window: a sliding-window *counter* estimates from the
        # previous window and lets a burst straddling a window edge through (seen in CI)
        strategy="moving-window",
        headers_enabled=True,
        key_prefix="agegate",
        # With Redis unreachable, count in process memory rather than refuse every request.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limited_blueprints: set[str | None] = set()
    for endpoint, view in list(app.view_functions.items()):
        for limit in getattr(view, _MARK, ()):
            view = limiter.shared_limit(limit.rule, scope=limit.scope, key_func=limit.key)(view)
            limited_blueprints.add(endpoint.rpartition(".")[0] or None)
        app.view_functions[endpoint] = view
    _hooks_only_on(app, limiter, limited_blueprints)
    app.extensions["agegate.limiter"] = limiter
    return limiter


def _hooks_only_on(app: Flask, limiter: Limiter, blueprints: set[str | None]) -> None:
    """Run the limiter's request hooks (before, after, teardown) only for the blueprints holding a limited view (None:
    the app's own views).

    There are no default limits, so on any other view the hooks find nothing to count and
    add no header, yet they cost every /v1 request a limit resolution (a sixth of the
    in-process request cycle of POST /v1/tokens/verify). Flask runs blueprint before_request
    hooks after the app's, where the limiter's ran (it is installed last), and the header
    hook still runs before `_retry_after_only_when_refused`, an app hook.
    """
    check = limiter._check_request_limit
    (inject_headers,) = [hook for hook in app.after_request_funcs[None] if isinstance(hook, partial) and hook.args == (limiter,)]
    (release_context,) = [hook for hook in app.teardown_request_funcs[None] if getattr(hook, "__self__", None) is limiter]
    app.before_request_funcs[None].remove(check)
    app.after_request_funcs[None].remove(inject_headers)
    app.teardown_request_funcs[None].remove(release_context)
    for blueprint in sorted(blueprints, key=str):
        app.before_request_funcs.setdefault(blueprint, []).append(check)
        app.after_request_funcs.setdefault(blueprint, []).append(inject_headers)
        app.teardown_request_funcs.setdefault(blueprint, []).append(release_context)
