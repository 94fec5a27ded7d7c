"""Migration 0007 fills in the clear birth month of subjects registered before it."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, pool, text

from service.kek import KeyEncryptionKey
from service.store import migrate
from service.store.subjects import _BIRTH_DATE, _context
from tests.conftest import TEST_KEK


def test_upgrading_backfills_birth_months_from_the_sealed_dates(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGEGATE_KEK", base64.urlsafe_b64encode(TEST_KEK).decode().rstrip("="))
    migrate.upgrade(fresh_database_url, "0006")
    kek = KeyEncryptionKey(TEST_KEK)
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    engine = create_engine(fresh_database_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            for number, born in enumerate(("2012-03-10", "1984-04-06", "2008-02-29")):
                slot = conn.execute(text("INSERT INTO status_slots DEFAULT VALUES RETURNING id")).scalar_one()
                ref = f"old-{number}"
                conn.execute(
                    text(
                        "INSERT INTO subjects (tenant, subject_ref, birth_date_enc, assurance, method, verified_at, "
                        "created_at, status_slot) VALUES ('t', :ref, :sealed, 'self_declared', 'self_declared', :now, :now, :slot)"
                    ),
                    {"ref": ref, "sealed": kek.seal(_BIRTH_DATE, born.encode(), _context("t", ref)), "now": now, "slot": slot},
                )
        migrate.upgrade(fresh_database_url)
        with engine.connect() as conn:
            months = dict(conn.execute(text("SELECT subject_ref, birth_month FROM subjects")).all())
    finally:
        engine.dispose()
    assert months == {"old-0": 201203, "old-1": 198404, "old-2": 200802}
