"""ASGI middleware that lets a request through only if its age token allows a feature.

Wraps any ASGI 3 application (Starlette, FastAPI, Quart, a bare coroutine)::

    app = require_feature(verifier, "companion")(app)     # verifier: an AsyncVerifier

HTTP requests and WebSocket handshakes are gated; lifespan events pass through. On allow,
``scope["agegate.decision"]`` holds the ``Decision``. Otherwise the application is not
called: HTTP gets 401/403 ``application/problem+json`` as with the WSGI guard, a WebSocket
is closed with code 1008 (policy violation) before it is accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._async import AsyncVerifier
from ._guard import DECISION_KEY, missing_token, refused, token_from

__all__ = ["DECISION_KEY", "require_feature"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def require_feature(verifier: AsyncVerifier, feature: str, *, header: str = "Authorization") -> Callable[[ASGIApp], ASGIApp]:
    """Return a decorator that guards an ASGI app with ``await verifier.gate(token, feature)``.

    ``header`` as in ``agegate_verifier.wsgi.require_feature``.
    """
    name = header.lower().encode("latin-1")

    def decorate(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] not in ("http", "websocket"):
                await app(scope, receive, send)
                return
            token = token_from(_header(scope, name), header)
            if token is None:
                answer = missing_token(header)
            else:
                decision = await verifier.gate(token, feature)
                if decision.allowed:
                    scope[DECISION_KEY] = decision
                    await app(scope, receive, send)
                    return
                answer = refused(feature, decision)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            status, headers, body = answer
            raw = [(key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in headers]
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": body})

        return guarded

    return decorate
