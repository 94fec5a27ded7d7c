"""The consent tables are append-only in the database itself (migration 0001's triggers):
not even the schema's owner can rewrite or remove history without first disabling them.
The runtime role the service connects as is refused earlier, by its grants
(tests/integration/test_db_roles.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Table, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from service.auditlog.chain import GENESIS, canonical, link_hash
from service.store.models import Consent, ConsentEnding, ConsentLogEntry

AT = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
TABLES = {"consents": Consent.__table__, "consent_endings": ConsentEnding.__table__, "consent_log": ConsentLogEntry.__table__}


def seed(connection: Connection) -> dict[str, Any]:
    """One consent, its ending and its log entry, inserted with Core; returns their keys."""
    consent_id = str(uuid.uuid4())
    tenant = f"append-only-{uuid.uuid4().hex[:8]}"
    connection.execute(
        insert(Consent.__table__).values(
            consent_id=consent_id,
            tenant=tenant,
            child_ref="child",
            guardian_ref="parent",
            relationship="parent",
            scopes="pi_processing companion",
            method="in_app_parent_account",
            evidence_ref="ev-1",
            notice_version="privacy-notice-v3",
            policy="2026-07-15.1",
            expires_at=None,
            granted_at=AT,
            client_id="cl_test",
        )
    )
    connection.execute(
        insert(ConsentEnding.__table__).values(consent_id=consent_id, kind="withdrawn", reason="moved", ended_at=AT, client_id="cl_test")
    )
    event = {"type": "granted", "consent_id": consent_id, "tenant": tenant}
    connection.execute(
        insert(ConsentLogEntry.__table__).values(
            tenant=tenant, seq=1, event=canonical(event).decode(), prev=GENESIS, hash=link_hash(GENESIS, event), recorded_at=AT
        )
    )
    return {"consent_id": consent_id, "tenant": tenant}


def where(table: Table, keys: dict[str, Any]) -> Any:
    if table.name == "consent_log":
        return (table.c.tenant == keys["tenant"]) & (table.c.seq == 1)
    return table.c.consent_id == keys["consent_id"]


def changes(table: Table) -> dict[str, dict[str, Any]]:
    return {
        "consents": {"scopes": "pi_processing companion virtual_intimacy", "evidence_ref": "forged"},
        "consent_endings": {"kind": "expired", "reason": None},
        "consent_log": {"hash": "f" * 64},
    }[table.name]


def snapshot(connection: Connection, table: Table, keys: dict[str, Any]) -> list[Any]:
    return [tuple(row) for row in connection.execute(select(table).where(where(table, keys)))]


def assert_refused(connection: Connection, statement: Any, params: dict[str, Any] | None = None) -> None:
    with pytest.raises(DBAPIError) as raised:
        with connection.begin_nested():
            connection.execute(statement, params or {})
    assert "append-only" in str(raised.value.orig)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_an_update_of_a_row_is_refused(owner_connection: Connection, name: str) -> None:
    table = TABLES[name]
    keys = seed(owner_connection)
    before = snapshot(owner_connection, table, keys)
    assert len(before) == 1
    assert_refused(owner_connection, update(table).where(where(table, keys)).values(**changes(table)))
    assert snapshot(owner_connection, table, keys) == before


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_delete_of_a_row_is_refused(owner_connection: Connection, name: str) -> None:
    table = TABLES[name]
    keys = seed(owner_connection)
    before = snapshot(owner_connection, table, keys)
    assert_refused(owner_connection, delete(table).where(where(table, keys)))
    assert snapshot(owner_connection, table, keys) == before


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_delete_of_the_whole_table_is_refused(owner_connection: Connection, name: str) -> None:
    table = TABLES[name]
    seed(owner_connection)
    count = owner_connection.scalar(select(func.count()).select_from(table))
    assert_refused(owner_connection, delete(table))
    assert owner_connection.scalar(select(func.count()).select_from(table)) == count


@pytest.mark.parametrize("name", sorted(TABLES))
def test_an_update_through_raw_sql_is_refused(owner_connection: Connection, name: str) -> None:
    table = TABLES[name]
    keys = seed(owner_connection)
    column = next(iter(changes(table)))
    key_sql = "tenant = :tenant AND seq = 1" if name == "consent_log" else "consent_id = :consent_id"
    params = {"tenant": keys["tenant"]} if name == "consent_log" else {"consent_id": keys["consent_id"]}
    assert_refused(owner_connection, text(f"UPDATE {name} SET {column} = {column} WHERE {key_sql}"), params)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_truncate_is_refused_on_postgres(owner_connection: Connection, name: str) -> None:
    if owner_connection.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; DELETE without WHERE is covered above")
    seed(owner_connection)
    assert_refused(owner_connection, text(f"TRUNCATE {name} CASCADE"))


def test_appending_is_still_allowed(owner_connection: Connection) -> None:
    keys = seed(owner_connection)
    tenant = keys["tenant"]
    first = owner_connection.execute(select(ConsentLogEntry.__table__.c.hash).where(ConsentLogEntry.__table__.c.tenant == tenant)).scalar_one()
    event = {"type": "withdrawn", "consent_id": keys["consent_id"], "tenant": tenant}
    owner_connection.execute(
        insert(ConsentLogEntry.__table__).values(
            tenant=tenant, seq=2, event=canonical(event).decode(), prev=first, hash=link_hash(first, event), recorded_at=AT
        )
    )
    seqs = owner_connection.scalars(
        select(ConsentLogEntry.__table__.c.seq).where(ConsentLogEntry.__table__.c.tenant == tenant).order_by(ConsentLogEntry.__table__.c.seq)
    ).all()
    assert seqs == [1, 2]


def test_the_log_head_is_not_append_only_because_it_moves(owner_connection: Connection) -> None:
    """consent_log_heads is the one mutable row per tenant; the chain itself stays immutable."""
    from service.store.models import LogHead

    heads = LogHead.__table__
    tenant = f"append-only-{uuid.uuid4().hex[:8]}"
    owner_connection.execute(insert(heads).values(tenant=tenant, seq=0, hash=GENESIS, recorded_at=None))
    owner_connection.execute(update(heads).where(heads.c.tenant == tenant).values(seq=1, hash="a" * 64, recorded_at=AT))
    assert owner_connection.execute(select(heads.c.seq).where(heads.c.tenant == tenant)).scalar_one() == 1
