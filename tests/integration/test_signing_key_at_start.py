"""The first signing key is made by an explicit write at start-up (and by `agegate db upgrade`),
never by a read: a fresh service publishes exactly one key, however often it starts."""

from __future__ import annotations

from sqlalchemy import inspect

from service.app import create_app
from service.store import migrate
from service.store.db import make_engine
from tests.integration.conftest import settings_for


def published_kids(url: str) -> list[str]:
    app = create_app(settings_for(url))
    try:
        return [key["kid"] for key in app.test_client().get("/.well-known/jwks.json").get_json()["keys"]]
    finally:
        app.extensions["agegate"].engine.dispose()


def test_a_fresh_migrated_database_gets_one_signing_key_at_start_up(fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url)
    first = published_kids(fresh_database_url)
    assert len(first) == 1
    assert published_kids(fresh_database_url) == first


def test_start_up_on_an_unmigrated_database_creates_nothing(fresh_database_url: str) -> None:
    app = create_app(settings_for(fresh_database_url))
    app.extensions["agegate"].engine.dispose()
    engine = make_engine(fresh_database_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
