"""OAuth 2.0 errors by the RFCs, client revocation and secret rotation, early token revocation."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from service.api.bearer_cache import CACHE_SECONDS, BearerCache
from service.store import clients as client_store
from service.store.db import transaction


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token_request(http: Any, client_id: str, secret: str, **form: str) -> Any:
    return http.post("/oauth/token", data={"grant_type": "client_credentials", **form}, headers=basic(client_id, secret))


class ManualSeconds:
    """A monotonic clock the test moves, for the bearer cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache_clock(app: Any) -> ManualSeconds:
    clock = ManualSeconds()
    app.extensions["agegate.bearer_cache"] = BearerCache(clock)
    return clock


# ------------------------------------------------------------------ RFC 6749 §5.2 at /oauth/token


def test_asking_for_a_scope_the_client_lacks_is_invalid_scope(http: Any, api: Any) -> None:
    new = api.client("subjects:read")
    response = token_request(http, new.client_id, new.client_secret, scope="subjects:read audit:export")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_scope" and "audit:export" in body["error_description"]
    assert response.mimetype == "application/problem+json"


def test_asking_for_a_held_subset_of_scopes_gets_exactly_that_subset(http: Any, api: Any) -> None:
    new = api.client("subjects:read", "subjects:write")
    response = token_request(http, new.client_id, new.client_secret, scope="subjects:read")
    assert response.status_code == 200 and response.get_json()["scope"] == "subjects:read"


def _answer(response: Any) -> tuple[int, Any, str | None]:
    return response.status_code, response.get_json(), response.headers.get("WWW-Authenticate")


def test_a_wrong_secret_and_an_unknown_client_get_the_identical_answer(http: Any, api: Any) -> None:
    new = api.client("subjects:read")
    wrong_secret = _answer(token_request(http, new.client_id, "not-the-secret"))
    unknown_client = _answer(token_request(http, "cl_never_issued", "whatever"))
    assert wrong_secret == unknown_client
    assert wrong_secret[0] == 401 and wrong_secret[1]["error"] == "invalid_client"
    assert wrong_secret[2] == 'Basic realm="agegate"'
    form = {"grant_type": "client_credentials"}
    posted_wrong = http.post("/oauth/token", data={**form, "client_id": new.client_id, "client_secret": "nope"})
    posted_unknown = http.post("/oauth/token", data={**form, "client_id": "cl_never_issued", "client_secret": "nope"})
    assert _answer(posted_wrong) == _answer(posted_unknown) == wrong_secret


# ------------------------------------------------------------------ RFC 6750 §3 on /v1/


def test_no_token_gets_a_bearer_challenge_without_an_error_code(http: Any) -> None:
    response = http.get("/v1/subjects/u-1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="agegate"'


def test_an_unknown_token_gets_invalid_token(http: Any) -> None:
    response = http.get("/v1/subjects/u-1", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="agegate", error="invalid_token", error_description=')
    assert "not-a-token" not in challenge


def test_a_token_without_the_scope_gets_insufficient_scope_naming_it(http: Any, api: Any) -> None:
    response = http.get("/v1/subjects/u-1", headers=api.bearer("consent:read"))
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="subjects:read"' in challenge


# ------------------------------------------------------------------ lifecycle


def _revoke_client_elsewhere(api: Any, client_id: str) -> None:
    """What `agegate clients revoke` does, in its own transaction outside the app."""
    with transaction(api.runtime.sessions) as session:
        client_store.revoke_client(session, client_id, api.runtime.clock())


def test_a_revoked_client_cannot_get_tokens_and_its_tokens_stop_within_the_cache_lifetime(
    http: Any, api: Any, cache_clock: ManualSeconds
) -> None:
    new = api.client("subjects:read")
    bearer = api.bearer_of(new)
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 404  # verified and cached
    _revoke_client_elsewhere(api, new.client_id)
    assert _answer(token_request(http, new.client_id, new.client_secret))[0] == 401
    cache_clock.now += CACHE_SECONDS - 1
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 404  # the cache's bound, documented
    cache_clock.now += 1
    response = http.get("/v1/subjects/nobody", headers=bearer)
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_never_cached_stops_at_once_when_its_client_is_revoked(http: Any, api: Any) -> None:
    new = api.client("subjects:read")
    bearer = api.bearer_of(new)
    _revoke_client_elsewhere(api, new.client_id)
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 401


def test_rotating_the_secret_retires_the_old_secret_and_its_tokens(http: Any, api: Any, cache_clock: ManualSeconds) -> None:
    old = api.client("subjects:read")
    bearer = api.bearer_of(old)
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 404
    with transaction(api.runtime.sessions) as session:
        rotated = client_store.rotate_secret(session, old.client_id, api.runtime.clock())
    assert rotated.client_id == old.client_id and rotated.client_secret != old.client_secret
    assert token_request(http, old.client_id, old.client_secret).status_code == 401
    assert token_request(http, rotated.client_id, rotated.client_secret).status_code == 200
    cache_clock.now += CACHE_SECONDS
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 401


def test_a_client_revokes_its_own_access_token_early_and_this_instance_refuses_it_at_once(http: Any, api: Any) -> None:
    new = api.client("subjects:read")
    bearer = api.bearer_of(new)
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 404  # cached
    token = bearer["Authorization"].split()[1]
    revoked = http.post("/oauth/revoke", data={"token": token}, headers=basic(new.client_id, new.client_secret))
    assert revoked.status_code == 200 and revoked.get_json() == {}
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 401
    again = http.post("/oauth/revoke", data={"token": token}, headers=basic(new.client_id, new.client_secret))
    assert again.status_code == 200  # RFC 7009 §2.2: an invalid token is not an error


def test_a_client_cannot_revoke_another_clients_token(http: Any, api: Any) -> None:
    owner, other = api.client("subjects:read"), api.client("subjects:read")
    bearer = api.bearer_of(owner)
    token = bearer["Authorization"].split()[1]
    refused = http.post("/oauth/revoke", data={"token": token}, headers=basic(other.client_id, other.client_secret))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 404


def test_revocation_needs_client_authentication(http: Any, api: Any) -> None:
    bearer = api.bearer("subjects:read")
    token = bearer["Authorization"].split()[1]
    response = http.post("/oauth/revoke", data={"token": token}, headers=basic("cl_never_issued", "x"))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert http.get("/v1/subjects/nobody", headers=bearer).status_code == 404


def test_rotating_or_revoking_an_unknown_client_is_not_found(api: Any) -> None:
    from service.store.errors import NotFound

    with transaction(api.runtime.sessions) as session, pytest.raises(NotFound):
        client_store.revoke_client(session, "cl_never_issued", api.runtime.clock())
    with transaction(api.runtime.sessions) as session, pytest.raises(NotFound):
        client_store.rotate_secret(session, "cl_never_issued", api.runtime.clock())


def test_a_revoked_client_cannot_have_its_secret_rotated(api: Any) -> None:
    new = api.client("subjects:read")
    _revoke_client_elsewhere(api, new.client_id)
    with transaction(api.runtime.sessions) as session, pytest.raises(ValueError, match="revoked"):
        client_store.rotate_secret(session, new.client_id, api.runtime.clock())
