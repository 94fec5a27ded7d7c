"""OAuth 2.0 client credentials (Authlib) and the bearer-token check every /v1/ view uses."""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import wraps
from typing import Any, TypeVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from flask import Blueprint, Flask, current_app, g, request
from werkzeug.exceptions import Forbidden, Unauthorized

from service.api.problems import problem
from service.runtime import current_runtime
from service.store import clients as client_store
from service.store.db import transaction
from service.store.models import Client

ACCESS_TOKEN_LIFETIME = 3600
# Bearer checks are on every request; a verified token is remembered this long so that the
# hot paths cost no query. Access tokens cannot be revoked early, so nothing goes stale.
_CACHE_SECONDS = 60.0
_CACHE_SIZE = 10_000

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Caller:
    """The authenticated client behind a request."""

    client_id: str
    tenant: str
    scopes: frozenset[str]
    audience: str | None


class _OAuthClient(ClientMixin):  # type: ignore[misc]
    """Authlib's view of a stored client: confidential, client_credentials only."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.scopes = client.scopes.split()

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_store.digest(client_secret), self.client.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


oauth_blueprint = Blueprint("oauth", __name__)


def init_oauth(app: Flask) -> None:
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": ACCESS_TOKEN_LIFETIME}
    app.config["OAUTH2_SCOPES_SUPPORTED"] = sorted(client_store.SCOPES)

    def query_client(client_id: str) -> _OAuthClient | None:
        client = client_store.get_client(g.db, client_id)
        return None if client is None else _OAuthClient(client)

    def save_token(token: dict[str, Any], oauth_request: Any) -> None:
        client_store.save_access_token(
            g.db,
            token=token["access_token"],
            client_id=oauth_request.client.get_client_id(),
            scopes=token.get("scope", ""),
            now=datetime.now(timezone.utc),
            expires_in=int(token["expires_in"]),
        )

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(_ClientCredentials)
    app.extensions["agegate.oauth"] = server
    app.extensions["agegate.bearer_cache"] = _BearerCache()


@oauth_blueprint.post("/oauth/token")
def issue_access_token() -> Any:
    """RFC 6749 §4.4. Errors are problem+json (CONTRACT §3) that keep RFC 6749 §5.2's
    `error` and `error_description` members, so OAuth client libraries still read them."""
    server: AuthorizationServer = current_app.extensions["agegate.oauth"]
    with transaction(current_runtime().sessions) as session:
        g.db = session
        response = server.create_token_response()
    if response.status_code < 400:
        return response
    oauth_error = response.get_json(silent=True) or {}
    answer = problem(
        response.status_code,
        "oauth-" + str(oauth_error.get("error", "error")).replace("_", "-"),
        "OAuth 2.0 token request refused",
        str(oauth_error.get("error_description", oauth_error.get("error", ""))),
        **{k: v for k, v in oauth_error.items() if k in ("error", "error_description")},
    )
    for name in ("WWW-Authenticate", "Cache-Control", "Pragma"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


class _BearerCache:
    """A small LRU of digest(token) -> (Caller, valid-until monotonic time)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Caller | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, caller: Caller, seconds: float) -> None:
        with self._lock:
            self._entries[key] = (caller, time.monotonic() + seconds)
            self._entries.move_to_end(key)
            while len(self._entries) > _CACHE_SIZE:
                self._entries.popitem(last=False)


def _authenticate() -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        raise Unauthorized("a bearer access token from /oauth/token is required")
    cache: _BearerCache = current_app.extensions["agegate.bearer_cache"]
    key = client_store.digest(token)
    caller = cache.get(key)
    if caller is not None:
        return caller
    with transaction(current_runtime().sessions) as session:
        found = client_store.find_access_token(session, token)
        now = datetime.now(timezone.utc)
        if found is None or found[0].expires_at <= now:
            raise Unauthorized("the access token is unknown or expired")
        access, client = found
        caller = Caller(client.client_id, client.tenant, frozenset(access.scopes.split()), client.audience)
        remaining = (access.expires_at - now).total_seconds()
    cache.put(key, caller, min(_CACHE_SECONDS, remaining))
    return caller


def require_scope(scope: str) -> Callable[[F], F]:
    """Decorator: 401 without a valid bearer token, 403 without `scope`; sets g.caller."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = _authenticate()
            if scope not in caller.scopes:
                raise Forbidden(f"this endpoint needs the scope {scope}")
            g.caller = caller
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
