"""Real-browser tests: Debian's /usr/bin/chromium driven by Playwright for Python, against
the service served by a real HTTP server on loopback.

Never `playwright install` (it downloads a browser build, which this machine cannot fetch);
`.ci/run` installs Debian's chromium when it is missing. The served app has its own SQLite
file: the server thread commits for real, which the rolled-back per-test connection of the
other tests cannot give it.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from service.config import Settings
from service.store import clients as client_store
from service.store import consent_requests as consent_request_store
from service.store import migrate
from service.store.db import transaction
from tests.browser.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider
from tests.conftest import ALL_SCOPES, TEST_KEK

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}  # the narrowest common phone screen


class _Late:
    """A WSGI app set after the server knows its port (the issuer URL names the port)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


def serve(app_for: Any) -> tuple[BaseWSGIServer, str, Any]:
    late = _Late()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    late.app = app_for(base)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base, late.app


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    provider = Provider()
    server, base, _ = serve(lambda base: provider.app)
    provider.issuer = base
    yield provider
    server.shutdown()


@dataclass
class Live:
    """The service on loopback, and a test client of the same app for the app backend's calls."""

    base: str
    app: Flask
    http: Any
    auth: dict[str, str]

    def register(self, ref: str, **evidence: str) -> None:
        response = self.http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=self.auth)
        assert response.status_code in (200, 201), response.get_json()

    def family(self, number: int) -> tuple[str, str]:
        """A child (under 14) and a parent (adult, document assurance) of their own."""
        child, parent = f"child-{number}", f"parent-{number}"
        self.register(child, method="self_declared", birth_date="2016-03-01")
        self.register(parent, method="resident_id", resident_id=_resident_id(number))
        return child, parent

    def ask(self, child: str, parent: str, **overrides: Any) -> dict[str, Any]:
        body = {
            "child_ref": child,
            "guardian_ref": parent,
            "relationship": "parent",
            "scopes": ["pi_processing", "companion", "paid_interaction"],
            "notice": {"version": "privacy-notice-v3", "url": f"{self.base}/guardian/static/guardian.css"},
            "child_label": "小明",
            "locale": "zh-CN",
            **overrides,
        }
        response = self.http.post("/v1/consent-requests", json=body, headers=self.auth)
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]


def _resident_id(number: int) -> str:
    """A checksum-valid resident ID (GB 11643) of an adult born 1984-04-06, one per number."""
    body = f"11010219840406{number:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return body + check


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[Live]:
    from datetime import datetime, timezone

    from service.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'agegate.db'}"
    migrate.upgrade(url)

    def build(base: str) -> Flask:
        oidc = {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        return create_app(Settings(database_url=url, issuer=base, kek=TEST_KEK, using_development_kek=False, guardian_oidc=oidc))

    server, base, app = serve(build)
    http = app.test_client()
    runtime = app.extensions["agegate"]
    with transaction(runtime.sessions) as session:
        consent_request_store.set_tenant_page(session, "browser-tenant", display_name="星伴 AI", frame_origins=[])
        new = client_store.create_client(
            session, tenant="browser-tenant", name="test", scopes=ALL_SCOPES, audience="persona-chat", now=datetime.now(timezone.utc)
        )
    basic = base64.b64encode(f"{new.client_id}:{new.client_secret}".encode()).decode()
    token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    yield Live(base, app, http, {"Authorization": f"Bearer {token.get_json()['access_token']}"})
    server.shutdown()
    runtime.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=[False, True], ids=["no-js", "js"])
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    """A phone-sized page, with JavaScript off (the pages must not need it) and on."""
    context = browser.new_context(viewport=PHONE, java_script_enabled=request.param, accept_downloads=True, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def no_js_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def fresh_rate_limits(request: pytest.FixtureRequest) -> None:
    """Each browser test starts with the code-entry budget of a fresh address: the live server
    is shared by the module, and its tests together enter more codes than one address may in
    a minute (tests/guardian/test_code_rate_limit.py proves the limit itself)."""
    if "live" in request.fixturenames:
        request.getfixturevalue("live").app.extensions["agegate.limiter"].reset()
