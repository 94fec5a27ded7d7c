"""The audiences migration gives each audience already in use to one tenant: the earliest client's."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from service.store import migrate

AUDIENCES_REVISION = "0006"


def test_existing_audiences_go_to_the_tenant_that_registered_them_first(fresh_database_url: str) -> None:
    before = ScriptDirectory.from_config(migrate.alembic_config(fresh_database_url)).get_revision(AUDIENCES_REVISION).down_revision
    migrate.upgrade(fresh_database_url, str(before))
    engine = create_engine(fresh_database_url, poolclass=pool.NullPool)
    clients = [
        ("cl_b", "tenant-b", "persona-shared", datetime(2026, 11, 2, tzinfo=timezone.utc)),
        ("cl_a", "tenant-a", "persona-shared", datetime(2026, 11, 1, tzinfo=timezone.utc)),  # first: keeps it
        ("cl_c", "tenant-c", "persona-c", datetime(2026, 11, 3, tzinfo=timezone.utc)),
        ("cl_d", "tenant-d", None, datetime(2026, 11, 3, tzinfo=timezone.utc)),
    ]
    try:
        with engine.begin() as conn:
            for client_id, tenant, audience, created_at in clients:
                conn.execute(
                    text(
                        "INSERT INTO clients (client_id, tenant, name, secret_hash, scopes, audience, created_at) "
                        "VALUES (:c, :t, 'n', 'h', 'tokens:verify', :a, :at)"
                    ),
                    {"c": client_id, "t": tenant, "a": audience, "at": created_at},
                )
        migrate.upgrade(fresh_database_url, AUDIENCES_REVISION)
        with engine.connect() as conn:
            owners = dict(conn.execute(text("SELECT audience, tenant FROM audiences")).all())
    finally:
        engine.dispose()
    assert owners == {"persona-shared": "tenant-a", "persona-c": "tenant-c"}
