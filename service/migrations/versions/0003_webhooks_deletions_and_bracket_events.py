"""Webhooks, deletions and bracket events

Subscriptions (secret encrypted under the KEK), deliveries and their attempts; the deletions
apps owe after a child's consent ends; and the two tables that make scheduled bracket events
exactly-once (a keyed-hash marker per change, the civil days already scanned).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.String(length=1000), nullable=False),
    sa.Column('secret_enc', sa.LargeBinary(), nullable=False),
    sa.Column('cursor_seq', sa.Integer(), nullable=False),
    sa.Column('replay_until_seq', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('failing_since', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions'))
    )
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_subscriptions_tenant'), ['tenant'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_attempt_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'], name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_state_next_attempt_at', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_subscription_id_id', ['subscription_id', 'id'], unique=False)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('attempted_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('response_prefix', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_attempts_delivery_id'), ['delivery_id'], unique=False)

    op.create_table('deletions',
    sa.Column('deletion_id', sa.String(length=36), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('child_ref', sa.String(length=128), nullable=False),
    sa.Column('cause', sa.String(length=20), nullable=False),
    sa.Column('consent_id', sa.String(length=36), nullable=True),
    sa.Column('required_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_by', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('deletion_id', name=op.f('pk_deletions'))
    )
    with op.batch_alter_table('deletions', schema=None) as batch_op:
        batch_op.create_index('ix_deletions_tenant_due_by', ['tenant', 'due_by'], unique=False)

    op.create_table('bracket_changes_emitted',
    sa.Column('marker', sa.String(length=64), nullable=False),
    sa.Column('emitted_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('marker', name=op.f('pk_bracket_changes_emitted'))
    )
    op.create_table('bracket_scan_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('finished_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_bracket_scan_days'))
    )


def downgrade() -> None:
    op.drop_table('bracket_scan_days')
    op.drop_table('bracket_changes_emitted')
    with op.batch_alter_table('deletions', schema=None) as batch_op:
        batch_op.drop_index('ix_deletions_tenant_due_by')
    op.drop_table('deletions')
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_attempts_delivery_id'))
    op.drop_table('webhook_attempts')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_subscription_id_id')
        batch_op.drop_index('ix_webhook_deliveries_state_next_attempt_at')
    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscriptions_tenant'))
    op.drop_table('webhook_subscriptions')
