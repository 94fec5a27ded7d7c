"""The service under test connects as a runtime role, as in production (CONTRACT §16): the
schema is migrated by its owner, `agegate db grant`'s code grants a fresh login role, and
the service's URL names that role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from service.store.roles import grant_runtime_role


@contextmanager
def runtime_role(owner_url: str) -> Iterator[str]:
    """Yield `owner_url` with a new role granted by grant_runtime_role as its user; drop it after.

    The URL keeps the owner's query (a search_path option picks the same schema).
    """
    url = make_url(owner_url)
    role = f"agegate_rt_{uuid.uuid4().hex[:12]}"
    # no pool: a connection kept across a test that restarts the server would be dead
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        with admin.connect() as conn, conn.begin():
            grant_runtime_role(conn, role)
        yield url.set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"), {"role": role})
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
