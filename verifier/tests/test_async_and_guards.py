"""AsyncVerifier never blocks the event loop; the WSGI guard on a real Flask app; the ASGI
guard on a bare ASGI app."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import flask
import pytest

from agegate_verifier import AsyncVerifier, Decision, InvalidToken
from agegate_verifier import asgi as asgi_guard
from agegate_verifier import wsgi as wsgi_guard
from agegate_verifier.testing import Clock, MemoryFetch, TestIssuer


class SlowFetch:
    """The issuer's documents, served slowly, recording which thread asked."""

    def __init__(self, inner: MemoryFetch, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.threads: list[threading.Thread] = []

    def __call__(self, url: str) -> bytes:
        self.threads.append(threading.current_thread())
        time.sleep(self.delay)
        return self.inner(url)


def test_a_fetch_runs_in_a_worker_thread_while_the_loop_keeps_running(issuer: TestIssuer, clock: Clock) -> None:
    uri = issuer.status_uri()
    fetch = SlowFetch(issuer.fetch(lists={uri: issuer.status_list_token(uri, [0] * 16)}), delay=0.2)
    verifier = AsyncVerifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    token = issuer.token()

    async def scenario() -> tuple[Decision, int, threading.Thread]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        running = asyncio.create_task(ticker())
        decision = await verifier.gate(token, "companion")
        running.cancel()
        return decision, ticks, threading.current_thread()

    decision, ticks, loop_thread = asyncio.run(scenario())
    assert decision.allowed
    assert ticks >= 10  # two 0.2 s fetches: the loop ticked all along
    assert len(fetch.threads) == 2 and loop_thread not in fetch.threads


def test_a_cached_token_is_checked_on_the_loop_without_a_thread(issuer: TestIssuer, clock: Clock) -> None:
    verifier = issuer.async_verifier()

    async def scenario() -> list[Decision]:
        return [await verifier.gate(issuer.token(), "companion") for _ in range(3)]

    original = asyncio.to_thread
    try:
        asyncio.to_thread = None  # type: ignore[assignment]  # any use would raise TypeError
        assert all(decision.allowed for decision in asyncio.run(scenario()))
    finally:
        asyncio.to_thread = original


def test_async_verify_returns_claims_and_raises_the_same_errors(issuer: TestIssuer) -> None:
    verifier = issuer.async_verifier()
    token = issuer.token()
    assert asyncio.run(verifier.verify(token))["sub"] == "u-123"
    issuer.revoke(token)
    with pytest.raises(InvalidToken) as caught:
        asyncio.run(verifier.verify(token))
    assert caught.value.reason == "revoked"


# WSGI: a real Flask application ------------------------------------------------------


@pytest.fixture
def flask_app(issuer: TestIssuer) -> flask.Flask:
    app = flask.Flask("persona")

    @app.get("/chat")
    def chat() -> dict[str, Any]:
        decision = flask.request.environ[wsgi_guard.DECISION_KEY]
        return {"obligations": list(decision.obligations)}

    app.wsgi_app = wsgi_guard.require_feature(issuer.verifier(), "companion")(app.wsgi_app)  # type: ignore[method-assign]
    return app


def test_flask_serves_an_allowed_request_with_its_obligations(flask_app: flask.Flask, issuer: TestIssuer) -> None:
    response = flask_app.test_client().get("/chat", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert response.status_code == 200 and response.get_json() == {"obligations": ["minor_mode"]}


def test_flask_never_sees_a_request_without_a_token_or_with_a_refused_one(
    flask_app: flask.Flask, issuer: TestIssuer
) -> None:
    client = flask_app.test_client()
    missing = client.get("/chat")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.mimetype == "application/problem+json" and missing.get_json()["reason"] == "missing_token"
    denied = client.get("/chat", headers={"Authorization": f"Bearer {issuer.token(aud='someone-else')}"})
    assert denied.status_code == 403 and denied.get_json()["reason"] == "wrong_audience"


# ASGI: a bare ASGI application -------------------------------------------------------


async def persona_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await send({"type": "lifespan.startup.complete"})
        return
    if scope["type"] == "websocket":
        await send({"type": "websocket.accept"})
        return
    body = json.dumps({"obligations": list(scope[asgi_guard.DECISION_KEY].obligations)}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def call_asgi(app: Any, kind: str = "http", **headers: str) -> list[dict[str, Any]]:
    scope = {"type": kind, "path": "/chat", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


@pytest.fixture
def asgi_app(issuer: TestIssuer) -> Any:
    return asgi_guard.require_feature(issuer.async_verifier(), "companion")(persona_app)


def test_asgi_serves_an_allowed_request_with_its_obligations(asgi_app: Any, issuer: TestIssuer) -> None:
    start, body = call_asgi(asgi_app, authorization=f"Bearer {issuer.token()}")
    assert start["status"] == 200 and json.loads(body["body"]) == {"obligations": ["minor_mode"]}


def test_asgi_refuses_without_calling_the_app(asgi_app: Any, issuer: TestIssuer) -> None:
    start, body = call_asgi(asgi_app)
    assert start["status"] == 401 and (b"www-authenticate", b"Bearer") in start["headers"]
    assert json.loads(body["body"])["reason"] == "missing_token"
    start, body = call_asgi(asgi_app, **{"x-other": "1", "authorization": f"Bearer {issuer.token(exp=1)}"})
    assert start["status"] == 403 and (b"content-type", b"application/problem+json") in start["headers"]
    assert json.loads(body["body"])["reason"] == "expired"


def test_asgi_closes_a_refused_websocket_and_passes_lifespan(asgi_app: Any, issuer: TestIssuer) -> None:
    assert call_asgi(asgi_app, "websocket") == [{"type": "websocket.close", "code": 1008}]
    token = issuer.token()
    assert call_asgi(asgi_app, "websocket", authorization=f"Bearer {token}") == [{"type": "websocket.accept"}]
    assert call_asgi(asgi_app, "lifespan") == [{"type": "lifespan.startup.complete"}]
