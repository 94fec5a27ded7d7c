"""WSGI middleware that lets a request through only if its age token allows a feature.

Framework-agnostic: wraps any WSGI application (Flask's ``app.wsgi_app``, Django's
handler, a bare function)::

    app = require_feature(verifier, "companion")(app)

On allow, ``environ["agegate.decision"]`` holds the ``Decision`` so the application can
apply its ``obligations``. Otherwise the application is not called at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ._verifier import Verifier

__all__ = ["DECISION_KEY", "require_feature"]

#: The environ key under which an allowing ``Decision`` is passed to the application.
DECISION_KEY = "agegate.decision"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def _problem(start_response: StartResponse, status: int, title: str, body: dict[str, Any], headers: list[tuple[str, str]]) -> list[bytes]:
    payload = json.dumps({"type": "about:blank", "title": title, "status": status, **body}).encode()
    start_response(
        f"{status} {title}",
        [("Content-Type", "application/problem+json"), ("Content-Length", str(len(payload))), *headers],
    )
    return [payload]


def _token_from(environ: Environ, header: str) -> str | None:
    value = environ.get("HTTP_" + header.upper().replace("-", "_"))
    if not value:
        return None
    if header.lower() != "authorization":
        return value.strip() or None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def require_feature(verifier: Verifier, feature: str, *, header: str = "Authorization") -> Callable[[WSGIApp], WSGIApp]:
    """Return a decorator that guards a WSGI app with ``verifier.gate(token, feature)``.

    The token is read from ``header``: ``Authorization: Bearer <token>`` by default, or
    the whole value of another header such as ``X-Age-Token``. A missing token answers
    401, a token that does not allow ``feature`` (invalid, denied, needing consent)
    answers 403; both as RFC 9457 ``application/problem+json`` naming the ``reason``.
    """

    def decorate(app: WSGIApp) -> WSGIApp:
        def guarded(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            token = _token_from(environ, header)
            if token is None:
                challenge = [("WWW-Authenticate", "Bearer")] if header.lower() == "authorization" else []
                detail = {"detail": f"an age token is required in {header}", "reason": "missing_token"}
                return _problem(start_response, 401, "Unauthorized", detail, challenge)
            decision = verifier.gate(token, feature)
            if not decision.allowed:
                reason = decision.reason or decision.decision
                detail = {"detail": f"{feature}: {reason}", "feature": feature, "decision": decision.decision, "reason": reason}
                return _problem(start_response, 403, "Forbidden", detail, [])
            environ[DECISION_KEY] = decision
            return app(environ, start_response)

        return guarded

    return decorate
