"""WSGI middleware that lets a request through only if its age token allows a feature.

Framework-agnostic: wraps any WSGI application (Flask's ``app.wsgi_app``, Django's
handler, a bare function)::

    app.wsgi_app = require_feature(verifier, "companion")(app.wsgi_app)

On allow, ``environ["agegate.decision"]`` holds the ``Decision`` so the application can
apply its ``obligations``. Otherwise the application is not called at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._guard import DECISION_KEY, missing_token, refused, token_from
from ._verifier import Verifier

__all__ = ["DECISION_KEY", "require_feature"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_REASONS = {401: "401 Unauthorized", 403: "403 Forbidden"}


def require_feature(verifier: Verifier, feature: str, *, header: str = "Authorization") -> Callable[[WSGIApp], WSGIApp]:
    """Return a decorator that guards a WSGI app with ``verifier.gate(token, feature)``.

    The token is read from ``header``: ``Authorization: Bearer <token>`` by default, or
    the whole value of another header such as ``X-Age-Token``. A missing token answers
    401, a token that does not allow ``feature`` (invalid, denied, needing consent)
    answers 403; both as RFC 9457 ``application/problem+json`` naming the ``reason``.
    """
    environ_key = "HTTP_" + header.upper().replace("-", "_")

    def decorate(app: WSGIApp) -> WSGIApp:
        def guarded(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            token = token_from(environ.get(environ_key), header)
            if token is None:
                answer = missing_token(header)
            else:
                decision = verifier.gate(token, feature)
                if decision.allowed:
                    environ[DECISION_KEY] = decision
                    return app(environ, start_response)
                answer = refused(feature, decision)
            status, headers, body = answer
            start_response(_REASONS[status], headers)
            return [body]

        return guarded

    return decorate
