"""The API explorer at /docs (Swagger UI, vendored; CSP 'self' only), in headless Debian chromium.

Never `playwright install`: Playwright drives the system's /usr/bin/chromium (.ci/run installs it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.serving import make_server

from service.config import Settings
from service.docs import CSP
from service.store import migrate
from tests.conftest import TEST_KEK

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
OPERATIONS = [
    (method, path, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in {"get", "post", "put", "patch", "delete"}
]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-sync"]


def test_the_explorer_page_its_assets_and_the_spec_come_from_the_service_under_csp_self(http) -> None:  # type: ignore[no-untyped-def]
    page = http.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == CSP
    assert "http" not in page.get_data(as_text=True).replace("http-equiv", "")  # no CDN, no absolute URL
    for asset, mimetype in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("explorer.js", "text/javascript"),
    ):
        served = http.get(f"/docs/assets/{asset}")
        assert served.status_code == 200 and served.mimetype == mimetype, asset
        served.close()
    assert http.get("/docs/assets/swagger-ui.LICENSE").status_code == 404  # only the three files are served
    assert http.get("/docs/assets/..%2Fopenapi.yaml").status_code in (400, 404)
    spec = http.get("/openapi.yaml")
    assert spec.status_code == 200 and spec.get_data() == (ROOT / "openapi.yaml").read_bytes()
    spec.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on a loopback port, on a SQLite file of its own."""
    from service.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('explorer') / 'agegate.db'}"
    migrate.upgrade(url)
    app = create_app(Settings(database_url=url, issuer="http://127.0.0.1:1", kek=TEST_KEK, using_development_kek=False))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["agegate"].engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_chromium_renders_every_operation_and_tries_a_call_against_the_service(served: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda request: elsewhere.append(request.url) if not request.url.startswith((served, "data:")) else None)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{served}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)

    rendered = page.eval_on_selector_all(
        ".opblock",
        "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').innerText.toLowerCase(),"
        " b.querySelector('[data-path]').getAttribute('data-path'),"
        " b.querySelector('.opblock-summary-description').innerText])",
    )
    assert {(method, path, summary) for method, path, summary in rendered} == {
        (method, path, operation["summary"]) for method, path, operation in OPERATIONS
    }

    # "Try it out" on GET /healthz: the call goes to the service that served the page
    healthz = page.locator(".opblock-get").filter(has=page.locator('[data-path="/healthz"]')).first
    healthz.locator(".opblock-summary").click()
    healthz.get_by_role("button", name="Try it out").click()
    healthz.get_by_role("button", name="Execute").click()
    healthz.locator(".live-responses-table tbody .response-col_status").first.wait_for(timeout=10_000)
    assert "200" in healthz.locator(".live-responses-table tbody .response-col_status").first.inner_text()
    assert '"status": "ok"' in healthz.locator(".live-responses-table .microlight").first.inner_text()

    assert elsewhere == [] and errors == []
    context.close()
