"""Database roles (CONTRACT §16, issue 16 D4): `agegate db grant ROLE` leaves the runtime role
unable to rewrite consent history by any route a database user has.

The schema here is owned by a plain login role (as in production), migrated as that owner,
and granted to a second role with the real `agegate db grant` command.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service.auditlog.chain import GENESIS, canonical, link_hash
from service.store import migrate
from tests.integration.conftest import PostgresDatabases, needs_postgres
from tests.integration.test_cli import ok, run

pytestmark = needs_postgres

AT = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
APPEND_ONLY = ("consents", "consent_endings", "consent_log")
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class Roles:
    owner_url: str
    runtime_url: str
    runtime_role: str
    owner: Engine
    runtime: Engine


@pytest.fixture(scope="module")
def roles(postgres_databases: PostgresDatabases) -> Iterator[Roles]:
    owner_url = postgres_databases.create("agegate_it_roles", role="agegate_owner")
    migrate.upgrade(owner_url)
    runtime_role = f"agegate_runtime_{uuid.uuid4().hex[:12]}"
    postgres_databases.execute(f'CREATE ROLE "{runtime_role}" LOGIN')
    postgres_databases.roles.append(runtime_role)
    printed = ok(run(owner_url, "db", "grant", runtime_role))
    assert "GRANT SELECT, INSERT ON" in printed
    runtime_url = make_url(owner_url).set(username=runtime_role).render_as_string(hide_password=False)
    owner, runtime = create_engine(owner_url), create_engine(runtime_url)
    with owner.begin() as conn:
        seed(conn)
    try:
        yield Roles(owner_url, runtime_url, runtime_role, owner, runtime)
    finally:
        owner.dispose()
        runtime.dispose()


def seed(conn: Connection) -> None:
    """One consent, its ending, a log entry and the tenant's head, as the owner."""
    conn.execute(
        text(
            "INSERT INTO consents (consent_id, tenant, child_ref, guardian_ref, relationship, scopes, method, "
            "evidence_ref, notice_version, policy, granted_at, client_id) VALUES ('c-1', 't', 'child', 'parent', "
            "'parent', 'pi_processing', 'm', 'ev', 'n', '2026-07-15.1', :at, 'cl')"
        ),
        {"at": AT},
    )
    conn.execute(text("INSERT INTO consent_endings (consent_id, kind, ended_at) VALUES ('c-1', 'withdrawn', :at)"), {"at": AT})
    event = {"type": "granted", "consent_id": "c-1", "tenant": "t"}
    digest = link_hash(GENESIS, event)
    conn.execute(
        text("INSERT INTO consent_log (tenant, seq, event, prev, hash, recorded_at) VALUES ('t', 1, :event, :prev, :hash, :at)"),
        {"event": canonical(event).decode(), "prev": GENESIS, "hash": digest, "at": AT},
    )
    conn.execute(text("INSERT INTO consent_log_heads (tenant, seq, hash, recorded_at) VALUES ('t', 1, :hash, :at)"), {"hash": digest, "at": AT})


def refused(engine: Engine, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised, engine.begin() as conn:
        conn.execute(text(statement))
    return raised.value


def forbidden(table: str) -> list[str]:
    column = {"consents": "evidence_ref", "consent_endings": "kind", "consent_log": "hash"}[table]
    return [
        f"UPDATE {table} SET {column} = {column}",
        f"DELETE FROM {table}",
        f"TRUNCATE {table} CASCADE",
        f"ALTER TABLE {table} DISABLE TRIGGER ALL",
        f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only",
        f"ALTER TABLE {table} ADD COLUMN forged text",
        f"DROP TRIGGER {table}_append_only ON {table}",
        f"DROP TABLE {table} CASCADE",
    ]


@pytest.mark.parametrize(
    "statement",
    [pytest.param(s, id=s) for table in APPEND_ONLY for s in forbidden(table)]
    + [
        pytest.param("DELETE FROM consent_log_heads", id="delete a chain head"),
        pytest.param("TRUNCATE consent_log_heads", id="truncate the chain heads"),
        pytest.param("SET session_replication_role = replica", id="silence triggers by replication role"),
        pytest.param("CREATE OR REPLACE FUNCTION agegate_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$", id="defuse the trigger function"),
        pytest.param("UPDATE alembic_version SET version_num = version_num", id="fake the schema revision"),
        pytest.param("CREATE TABLE smuggled (x int)", id="create in the schema"),
    ],
)
def test_the_runtime_role_is_refused(roles: Roles, statement: str) -> None:
    error = refused(roles.runtime, statement)
    assert getattr(error.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, error.orig
    with roles.owner.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM consent_log_heads WHERE tenant = 't'")) == 1
        assert conn.scalar(text("SELECT hash FROM consent_log WHERE tenant = 't' AND seq = 1")) != "f" * 64
        assert conn.scalar(text("SELECT count(*) FROM consent_endings")) == 1


def test_the_runtime_role_may_do_what_the_service_does(roles: Roles) -> None:
    with roles.runtime.connect() as conn, conn.begin() as transaction:
        assert conn.scalar(text("SELECT count(*) FROM consent_log")) == 1
        event = {"type": "withdrawn", "consent_id": "c-1", "tenant": "t"}
        prev = conn.scalar(text("SELECT hash FROM consent_log_heads WHERE tenant = 't' FOR UPDATE"))
        conn.execute(
            text("INSERT INTO consent_log (tenant, seq, event, prev, hash, recorded_at) VALUES ('t', 2, :e, :p, :h, :at)"),
            {"e": canonical(event).decode(), "p": prev, "h": link_hash(prev, event), "at": AT},
        )
        conn.execute(text("UPDATE consent_log_heads SET seq = 2, hash = :h WHERE tenant = 't'"), {"h": link_hash(prev, event)})
        conn.execute(text("INSERT INTO status_slots DEFAULT VALUES"))
        conn.execute(text("DELETE FROM idempotency_keys WHERE created_at < :at"), {"at": AT})
        transaction.rollback()


def test_the_owner_could_disable_the_triggers_so_the_service_must_not_run_as_the_owner(roles: Roles) -> None:
    """What D4 found: whoever owns the tables can switch their guard off. Only grants stop that."""
    with roles.owner.connect() as conn, conn.begin() as transaction:
        conn.execute(text("ALTER TABLE consent_log DISABLE TRIGGER consent_log_append_only"))
        conn.execute(text("UPDATE consent_log SET hash = :forged WHERE tenant = 't'"), {"forged": "f" * 64})
        assert conn.scalar(text("SELECT hash FROM consent_log WHERE tenant = 't'")) == "f" * 64
        transaction.rollback()


def test_grant_refuses_roles_no_grant_can_restrict(roles: Roles, postgres_databases: PostgresDatabases) -> None:
    owner_role = make_url(roles.owner_url).username
    superuser = make_url(postgres_databases.admin.url).username
    for role, why in [(owner_role, "owns the tables"), (superuser, "superuser"), ("agegate_no_such_role", "does not exist")]:
        result = run(roles.owner_url, "db", "grant", str(role))
        assert result.returncode == 2, result
        assert why in result.stderr or "member of" in result.stderr, result.stderr


def test_granting_again_after_an_upgrade_leaves_exactly_the_grants(roles: Roles) -> None:
    ok(run(roles.owner_url, "db", "grant", roles.runtime_role))
    with roles.owner.connect() as conn:
        granted = {
            (row[0], row[1])
            for row in conn.execute(
                text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = :role AND table_schema = current_schema()"
                ),
                {"role": roles.runtime_role},
            )
        }
    for table in APPEND_ONLY:
        assert {p for t, p in granted if t == table} == {"SELECT", "INSERT"}
    assert {p for t, p in granted if t == "consent_log_heads"} == {"SELECT", "INSERT", "UPDATE"}
    assert {p for t, p in granted if t == "subjects"} == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert not {p for _, p in granted} & {"TRUNCATE", "TRIGGER", "REFERENCES"}


def test_grant_on_sqlite_says_roles_need_postgres(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run(f"sqlite:///{tmp_path / 'a.db'}", "db", "grant", "anyone")
    assert result.returncode == 2
    assert "need PostgreSQL" in result.stderr
