"""OAuth 2.0 client credentials (Authlib), token revocation, and the bearer check of /v1/.

Errors follow the RFCs inside problem+json: RFC 6749 §5.2 codes at /oauth/token
(`invalid_client`, `invalid_scope`, ...) and RFC 6750 §3.1 `WWW-Authenticate` challenges on
/v1/ (`invalid_token` with 401, `insufficient_scope` with 403).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import wraps
from typing import Any, TypeVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidScopeError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import Forbidden, Unauthorized

from service.api.bearer_cache import BearerCache
from service.api.problems import problem
from service.api.ratelimits import TOKEN_PER_ADDRESS, TOKEN_PER_CLIENT, RateLimit, by_address, by_client_id, rate_limited
from service.runtime import current_runtime
from service.store import clients as client_store
from service.store.db import transaction
from service.store.models import Client

# Access tokens live on wall-clock time, apart from the service's (test-settable) clock.
ACCESS_TOKEN_LIFETIME = 3600
REALM = "agegate"
# The one answer to a failed client authentication, whether the id is unknown, revoked or
# the secret wrong, so client ids cannot be enumerated (RFC 6749 §5.2 `invalid_client`).
CLIENT_AUTHENTICATION_FAILED = "client authentication failed"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Caller:
    """The authenticated client behind a request; a regulator client has no tenant."""

    client_id: str
    tenant: str | None
    scopes: frozenset[str]
    audience: str | None
    # the tenant is a sandbox tenant (CONTRACT §15): its own issuer, keys and clock
    sandbox: bool = False

    @property
    def is_regulator(self) -> bool:
        return self.tenant is None


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

    def validate_requested_scope(self) -> None:
        """RFC 6749 §5.2: asking for a scope the client does not hold is `invalid_scope`
        (Authlib's default would issue a token with the held subset, possibly empty)."""
        super().validate_requested_scope()
        requested = set((self.request.payload.scope or "").split())
        missing = sorted(requested - set(self.request.client.scopes))
        if missing:
            raise InvalidScopeError(f"this client does not hold the scope(s): {' '.join(missing)}")


@dataclass(frozen=True)
class _StoredToken:
    token: str
    client_id: str

    def check_client(self, client: _OAuthClient) -> bool:
        return client.get_client_id() == self.client_id


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009 for access tokens (there are no refresh tokens in client credentials)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def query_token(self, token_string: str, token_type_hint: str | None) -> _StoredToken | None:
        found = client_store.find_access_token(g.db, token_string)
        return None if found is None else _StoredToken(token_string, found.access.client_id)

    def revoke_token(self, token: _StoredToken, request: Any) -> None:
        client_store.revoke_access_token(g.db, token.token, token.client_id)
        bearer_cache().forget(client_store.digest(token.token))


oauth_blueprint = Blueprint("oauth", __name__)


def init_oauth(app: Flask) -> None:
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": ACCESS_TOKEN_LIFETIME}
    app.config["OAUTH2_SCOPES_SUPPORTED"] = sorted(client_store.SCOPES)

    def query_client(client_id: str) -> _OAuthClient | None:
        client = client_store.get_active_client(g.db, client_id)
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
    server.register_endpoint(_Revocation)
    app.extensions["agegate.oauth"] = server
    app.extensions["agegate.bearer_cache"] = BearerCache(time.monotonic)


def bearer_cache() -> BearerCache:
    return current_app.extensions["agegate.bearer_cache"]  # type: ignore[no-any-return]


def _as_problem(response: Response) -> Response:
    """An Authlib error response as problem+json (CONTRACT §3) that keeps RFC 6749 §5.2's
    `error` and `error_description` members, so OAuth client libraries still read them."""
    oauth_error = response.get_json(silent=True) or {}
    error = str(oauth_error.get("error", "error"))
    if error == "invalid_client":
        # Authlib words an unknown id and a wrong secret differently, with 400 or 401.
        answer = problem(
            401, "oauth-invalid-client", "OAuth 2.0 token request refused", CLIENT_AUTHENTICATION_FAILED,
            error="invalid_client", error_description=CLIENT_AUTHENTICATION_FAILED,
        )
        answer.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        answer.headers["Cache-Control"] = "no-store"
        return answer
    description = str(oauth_error.get("error_description", error))
    answer = problem(
        response.status_code, "oauth-" + error.replace("_", "-"), "OAuth 2.0 token request refused", description,
        error=error, error_description=description,
    )
    for name in ("WWW-Authenticate", "Cache-Control", "Pragma"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


@oauth_blueprint.post("/oauth/token")
@rate_limited(
    RateLimit(TOKEN_PER_CLIENT, by_client_id, "oauth-token-per-client"),
    RateLimit(TOKEN_PER_ADDRESS, by_address, "oauth-token-per-address"),
)
def issue_access_token() -> Any:
    """RFC 6749 §4.4."""
    server: AuthorizationServer = current_app.extensions["agegate.oauth"]
    with transaction(current_runtime().sessions) as session:
        g.db = session
        response = server.create_token_response()
    return response if response.status_code < 400 else _as_problem(response)


@oauth_blueprint.post("/oauth/revoke")
@rate_limited(RateLimit(TOKEN_PER_ADDRESS, by_address, "oauth-token-per-address"))
def revoke_access_token() -> Any:
    """RFC 7009: the client revokes one of its access tokens before it expires."""
    server: AuthorizationServer = current_app.extensions["agegate.oauth"]
    with transaction(current_runtime().sessions) as session:
        g.db = session
        response = server.create_endpoint_response(_Revocation.ENDPOINT_NAME)
    return response if response.status_code < 400 else _as_problem(response)


def _challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
    """An RFC 6750 §3 `WWW-Authenticate` value; no error code when no token was sent (§3.1)."""
    params = [f'realm="{REALM}"']
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    if scope:
        params.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(params)


class _Unauthenticated(Unauthorized):
    def __init__(self, description: str, error: str | None) -> None:
        super().__init__(description)
        self.challenge = _challenge(error, description if error else None)

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", self.challenge)]


class InsufficientScope(Forbidden):
    """403 with RFC 6750's `insufficient_scope` challenge naming the scope needed."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this endpoint needs the scope {scope}")
        self.challenge = _challenge("insufficient_scope", self.description, scope)

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", self.challenge)]


# Longer is no access token of ours: refused before it is hashed.
MAX_ACCESS_TOKEN_CHARS = 512


def cached_caller(cache: BearerCache[Caller], authorization: str) -> Caller | None:
    """The caller of an `Authorization: Bearer` header whose token this process verified
    lately (the bearer cache); None for anything else, which _authenticate then answers."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > MAX_ACCESS_TOKEN_CHARS:
        return None
    return cache.get(client_store.digest(token))


def _authenticate() -> Caller:
    header = request.headers.get("Authorization", "")
    cache = bearer_cache()
    caller = cached_caller(cache, header)
    if caller is not None:
        return caller
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        # no credentials of our scheme at all: a challenge without an error code (§3.1)
        raise _Unauthenticated("a bearer access token from /oauth/token is required", None)
    if not token.strip():
        raise _Unauthenticated("the bearer access token is missing", "invalid_request")
    if len(token) > MAX_ACCESS_TOKEN_CHARS:
        raise _Unauthenticated("the access token is unknown, expired or revoked", "invalid_token")
    with transaction(current_runtime().sessions) as session:
        found = client_store.find_access_token(session, token)
        now = datetime.now(timezone.utc)
        if found is None or found.access.expires_at <= now:
            raise _Unauthenticated("the access token is unknown, expired or revoked", "invalid_token")
        access, client = found.access, found.client
        caller = Caller(
            client.client_id, client.tenant, frozenset(access.scopes.split()), client.audience, sandbox=found.sandbox
        )
        remaining = (access.expires_at - now).total_seconds()
    cache.put(client_store.digest(token), caller, remaining)
    return caller


def require_scope(scope: str) -> Callable[[F], F]:
    """Decorator: 401 without a valid bearer token, 403 without `scope`; sets g.caller."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = _authenticate()
            if scope not in caller.scopes:
                raise InsufficientScope(scope)
            g.caller = caller
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
