"""Database roles (CONTRACT §16): what the runtime role may do, granted by the schema's owner.

`agegate db upgrade` runs as the owner of the schema; `agegate db grant ROLE` then gives the
role the service runs as exactly this, on every table of the schema the migrations made:

- append-only tables (those the migrations guard with the agegate_refuse_change trigger:
  consents, consent_endings, consent_log, and any later one guarded the same way):
  SELECT and INSERT;
- chain heads (consent_log_heads): SELECT, INSERT and UPDATE -- no DELETE, since a deleted
  head would restart its tenant's chain at seq 0;
- alembic_version: SELECT (the runtime may check the schema's revision, never change it);
- consent_log_counts: SELECT (the log's own trigger keeps it, as the owner);
- every other table: SELECT, INSERT, UPDATE, DELETE; sequences: USAGE and SELECT.

Nothing else: no TRUNCATE, REFERENCES or TRIGGER, no ownership (so no ALTER TABLE and no
DISABLE TRIGGER), no CREATE in the schema. Setting session_replication_role (which would
silence triggers) needs a superuser, so the role must not be one; grant() refuses a
superuser, the owner of any table in the schema, or a member of that owner.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

APPEND_ONLY_TRIGGER_FUNCTION = "agegate_refuse_change"
HEAD_TABLES = frozenset({"consent_log_heads"})
# consent_log_counts is written only by consent_log's SECURITY DEFINER trigger (migration 0007)
READ_ONLY_TABLES = frozenset({"alembic_version", "consent_log_counts"})


class RoleRefused(Exception):
    """The role cannot be made a safe runtime role; the message says why."""


def _quote(connection: Connection, name: str) -> str:
    return str(connection.scalar(text("SELECT quote_ident(:name)"), {"name": name}))


def append_only_tables(connection: Connection, schema: str) -> set[str]:
    """Tables of `schema` whose rows the append-only trigger guards."""
    rows = connection.execute(
        text(
            "SELECT DISTINCT c.relname FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE n.nspname = :schema AND p.proname = :function AND NOT t.tgisinternal"
        ),
        {"schema": schema, "function": APPEND_ONLY_TRIGGER_FUNCTION},
    )
    return {row[0] for row in rows}


def privileges_by_table(connection: Connection, schema: str) -> dict[str, str]:
    """table -> the privileges the runtime role gets on it."""
    tables = connection.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"), {"schema": schema}
    ).all()
    append_only = append_only_tables(connection, schema)
    granted = {}
    for table in tables:
        if table in append_only:
            granted[table] = "SELECT, INSERT"
        elif table in HEAD_TABLES:
            granted[table] = "SELECT, INSERT, UPDATE"
        elif table in READ_ONLY_TABLES:
            granted[table] = "SELECT"
        else:
            granted[table] = "SELECT, INSERT, UPDATE, DELETE"
    return granted


def _refuse_unsafe(connection: Connection, role: str, schema: str) -> None:
    found = connection.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    if found is None:
        raise RoleRefused(f"role {role!r} does not exist (create it first: CREATE ROLE ... LOGIN PASSWORD ...)")
    if found[0] or found[1]:
        raise RoleRefused(f"role {role!r} is a superuser or bypasses row security: no grant can restrict it")
    owners = connection.scalars(
        text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
    ).all()
    for owner in owners:
        if connection.scalar(text("SELECT pg_has_role(:role, :owner, 'MEMBER')"), {"role": role, "owner": owner}):
            raise RoleRefused(f"role {role!r} is (or is a member of) {owner!r}, which owns the tables: it could alter them")


def grant_runtime_role(connection: Connection, role: str) -> list[str]:
    """Grant `role` exactly what the service needs on the current schema; returns the statements.

    Run as the schema's owner, in one transaction. The role also needs CONNECT on the
    database, which PUBLIC has unless the DBA revoked it. Earlier grants to the role on the schema
    are revoked first, so running it again after `agegate db upgrade` leaves exactly this.
    Raises RoleRefused for a role that no grant could restrict.
    """
    if connection.dialect.name != "postgresql":
        raise RoleRefused("database roles need PostgreSQL; the embedded SQLite database has none")
    schema = str(connection.scalar(text("SELECT current_schema()")))
    _refuse_unsafe(connection, role, schema)
    q_role, q_schema = _quote(connection, role), _quote(connection, schema)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {q_schema} FROM {q_role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {q_schema} FROM {q_role}",
        f"REVOKE CREATE ON SCHEMA {q_schema} FROM {q_role}",
        f"GRANT USAGE ON SCHEMA {q_schema} TO {q_role}",
    ]
    for table, privileges in privileges_by_table(connection, schema).items():
        statements.append(f"GRANT {privileges} ON {q_schema}.{_quote(connection, table)} TO {q_role}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q_schema} TO {q_role}")
    for statement in statements:
        connection.execute(text(statement))
    return statements
