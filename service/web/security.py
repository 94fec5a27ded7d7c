"""Page security: the session cookie, CSRF tokens and the response headers of every page.

The session is Flask's signed cookie, keyed by a KEK-derived secret so every instance
accepts it; it holds no personal data, only which request this browser proved itself for.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, Request, Response, g, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import BadRequest

from service.runtime import Runtime

SESSION_LIFETIME = timedelta(minutes=30)
COOKIE_NAME = "agegate_guardian"


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with nothing built or read for a request that carries
    no session cookie and a session nobody touched: every API call (bearer tokens, cookie
    path /guardian) is one, and building the cookie signer for each cost about 2% of a
    POST /v1/tokens/verify. Flask answers such requests with the same empty session and
    no cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and ("HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:  # type: ignore[override]
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


def init_session(app: Flask, runtime: Runtime) -> None:
    """Cookie settings for the guardian pages: HttpOnly, SameSite=Lax, Secure behind https.

    Lax, not Strict: the guardian arrives by following a link from a message, and Strict
    would drop the cookie on that first navigation.
    """
    app.secret_key = runtime.kek.keyed_hash("guardian-session", b"flask-session-secret")
    app.session_interface = CookieSessions()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=runtime.settings.issuer.startswith("https://"),
        SESSION_COOKIE_PATH="/guardian",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )


def csrf_token() -> str:
    """The session's CSRF token (made on first use); every form carries it in a hidden field."""
    token = session.get("csrf")
    if token is None:
        token = session["csrf"] = secrets.token_urlsafe(32)
        session.permanent = True
    return token  # type: ignore[no-any-return]


class CsrfFailed(BadRequest):
    description = "the form is missing its token or it does not match; reload the page"


def check_csrf(submitted: str | None) -> None:
    expected = session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise CsrfFailed()


def page_headers(response: Response) -> Response:
    """No caching, a strict CSP, framing only by the tenant's listed origins, no referrer
    (the page URL carries the request token)."""
    origins = getattr(g, "frame_origins", ())
    frame_ancestors = " ".join(origins) if origins else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )
    if not origins:
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
