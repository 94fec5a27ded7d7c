"""Create the agegate schema

Consent rows, their endings and the consent log are append-only: triggers refuse UPDATE and
DELETE on them, so not even the service's own role can rewrite history.

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 02:48:26.477977
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clients',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=500), nullable=False),
    sa.Column('audience', sa.String(length=200), nullable=True),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_clients'))
    )
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clients_tenant'), ['tenant'], unique=False)

    op.create_table('consent_log',
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event', sa.Text(), nullable=False),
    sa.Column('prev', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'seq', name=op.f('pk_consent_log'))
    )
    with op.batch_alter_table('consent_log', schema=None) as batch_op:
        batch_op.create_index('ix_consent_log_tenant_recorded_at', ['tenant', 'recorded_at'], unique=False)

    op.create_table('consent_log_heads',
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', name=op.f('pk_consent_log_heads'))
    )
    op.create_table('consents',
    sa.Column('consent_id', sa.String(length=36), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('child_ref', sa.String(length=128), nullable=False),
    sa.Column('guardian_ref', sa.String(length=128), nullable=False),
    sa.Column('relationship', sa.String(length=20), nullable=False),
    sa.Column('scopes', sa.String(length=500), nullable=False),
    sa.Column('method', sa.String(length=64), nullable=False),
    sa.Column('evidence_ref', sa.String(length=200), nullable=False),
    sa.Column('notice_version', sa.String(length=64), nullable=False),
    sa.Column('policy', sa.String(length=32), nullable=False),
    sa.Column('expires_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('granted_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('consent_id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_guardian_ref'), ['guardian_ref'], unique=False)
        batch_op.create_index('ix_consents_tenant_child_ref', ['tenant', 'child_ref'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.Text(), nullable=False),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_key_enc', sa.LargeBinary(), nullable=False),
    sa.Column('public_jwk', sa.Text(), nullable=False),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('publish_until', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_keys'))
    )
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_keys_created_at'), ['created_at'], unique=False)

    op.create_table('status_slots',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_slots'))
    )
    op.create_table('access_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=500), nullable=False),
    sa.Column('issued_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_access_tokens_client_id_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_access_tokens'))
    )
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_tokens_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_tokens_expires_at'), ['expires_at'], unique=False)

    op.create_table('consent_endings',
    sa.Column('consent_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('ended_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.consent_id'], name=op.f('fk_consent_endings_consent_id_consents')),
    sa.PrimaryKeyConstraint('consent_id', name=op.f('pk_consent_endings'))
    )
    op.create_table('status_revocations',
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('revoked_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['slot'], ['status_slots.id'], name=op.f('fk_status_revocations_slot_status_slots')),
    sa.PrimaryKeyConstraint('slot', name=op.f('pk_status_revocations'))
    )
    op.create_table('subjects',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('subject_ref', sa.String(length=128), nullable=False),
    sa.Column('birth_date_enc', sa.LargeBinary(), nullable=False),
    sa.Column('assurance', sa.String(length=20), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('resident_id_hmac', sa.String(length=64), nullable=True),
    sa.Column('attester', sa.String(length=200), nullable=True),
    sa.Column('verified_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_slot', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['status_slot'], ['status_slots.id'], name=op.f('fk_subjects_status_slot_status_slots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('tenant', 'subject_ref', name=op.f('uq_subjects_tenant'))
    )
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.create_index('ix_subjects_tenant_resident_id_hmac', ['tenant', 'resident_id_hmac'], unique=True)
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_index('ix_subjects_tenant_resident_id_hmac')

    op.drop_table('subjects')
    op.drop_table('status_revocations')
    op.drop_table('consent_endings')
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_tokens_expires_at'))
        batch_op.drop_index(batch_op.f('ix_access_tokens_client_id'))

    op.drop_table('access_tokens')
    op.drop_table('status_slots')
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_keys_created_at'))

    op.drop_table('signing_keys')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))

    op.drop_table('idempotency_keys')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('ix_consents_tenant_child_ref')
        batch_op.drop_index(batch_op.f('ix_consents_guardian_ref'))

    op.drop_table('consents')
    op.drop_table('consent_log_heads')
    with op.batch_alter_table('consent_log', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_log_tenant_recorded_at')

    op.drop_table('consent_log')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clients_tenant'))

    op.drop_table('clients')


APPEND_ONLY_TABLES = ("consents", "consent_endings", "consent_log")


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION agegate_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'agegate: % is append-only', TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION agegate_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION agegate_refuse_change()"
            )
    elif dialect == "sqlite":
        # The embedded default gets the same guarantee, so tests on SQLite prove it too.
        for table in APPEND_ONLY_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'agegate: {table} is append-only'); END"
                )


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION agegate_refuse_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{action}")
