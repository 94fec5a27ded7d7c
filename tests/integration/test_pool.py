"""Pooled connections that died while idle are replaced before use, not handed to a request."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.store import db
from tests.integration.conftest import POSTGRES_URL


@pytest.mark.skipif(not POSTGRES_URL, reason="AGEGATE_TEST_DATABASE_URL is not set")
@pytest.mark.parametrize("ping_after, survives", [(0.0, True), (3600.0, False)], ids=["idle-is-pinged", "recent-is-not"])
def test_a_connection_killed_while_idle_is_replaced_on_checkout(
    monkeypatch: pytest.MonkeyPatch, ping_after: float, survives: bool
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", ping_after)
    engine = db.make_engine(POSTGRES_URL, pool_size=1)
    killer = db.make_engine(POSTGRES_URL, pool_size=1)
    try:
        with engine.connect() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
        with killer.connect() as conn:  # a Postgres restart, as seen by one pooled connection
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
        if survives:
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT 1")) == 1
        else:
            # without the ping the dead connection reaches the caller (a 503), and is discarded
            with pytest.raises(OperationalError), engine.connect() as conn:
                conn.scalar(text("SELECT 1"))
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()
        killer.dispose()
