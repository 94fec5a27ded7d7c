"""`agegate tenants page`: how a tenant appears on the guardian pages."""

from __future__ import annotations

from pathlib import Path

from service.store import consent_requests as request_store
from service.store import migrate
from service.store.db import make_engine, make_sessionmaker, transaction
from tests.integration.test_cli import ok, run


def test_tenants_page_sets_the_display_name_and_frame_origins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agegate.db'}"
    migrate.upgrade(url)
    out = ok(run(url, "tenants", "page", "--tenant", "t", "--display-name", "星伴 AI", "--frame-origin", "https://app.example/"))
    assert "星伴 AI" in out
    refused = run(url, "tenants", "page", "--tenant", "t", "--display-name", "x", "--frame-origin", "https://app.example/path")
    assert refused.returncode == 2 and "--frame-origin" in refused.stderr
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            page = request_store.tenant_page(session, "t")
            assert page is not None
            assert (page.display_name, page.frame_origins) == ("星伴 AI", "https://app.example")
    finally:
        engine.dispose()


def test_guardian_sweep_reports_what_it_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agegate.db'}"
    migrate.upgrade(url)
    out = ok(run(url, "guardian", "sweep"))
    assert "0 consent request(s) expired, 0 unconsented child(ren) erased" in out
