"""Consent requests, guardian management links, tenant page settings and sweep marks (CONTRACT §12)

The hosted guardian pages keep their state here; link tokens and guardian codes are stored
only as keyed hashes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:42:16.428318
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_requests',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('child_ref', sa.String(length=128), nullable=False),
    sa.Column('guardian_ref', sa.String(length=128), nullable=False),
    sa.Column('relationship', sa.String(length=20), nullable=False),
    sa.Column('scopes', sa.String(length=500), nullable=False),
    sa.Column('notice_version', sa.String(length=64), nullable=False),
    sa.Column('notice_url', sa.String(length=500), nullable=False),
    sa.Column('child_label_enc', sa.LargeBinary(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('link_hash', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('idp_subject_hash', sa.String(length=64), nullable=True),
    sa.Column('wrong_codes', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', service.store.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consent_id', sa.String(length=36), nullable=True),
    sa.Column('granted', sa.String(length=500), nullable=True),
    sa.Column('declined', sa.String(length=500), nullable=True),
    sa.Column('receipt', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_consent_requests')),
    sa.UniqueConstraint('link_hash', name=op.f('uq_consent_requests_link_hash'))
    )
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_requests_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_requests_state'), ['state'], unique=False)
        batch_op.create_index('ix_consent_requests_tenant_child_ref', ['tenant', 'child_ref'], unique=False)

    op.create_table('sweep_marks',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('upto', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sweep_marks'))
    )
    op.create_table('tenant_pages',
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('frame_origins', sa.String(length=2000), nullable=False),
    sa.PrimaryKeyConstraint('tenant', name=op.f('pk_tenant_pages'))
    )
    op.create_table('guardian_manage_links',
    sa.Column('link_hash', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('child_ref', sa.String(length=128), nullable=False),
    sa.Column('guardian_ref', sa.String(length=128), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['consent_requests.request_id'], name=op.f('fk_guardian_manage_links_request_id_consent_requests')),
    sa.PrimaryKeyConstraint('link_hash', name=op.f('pk_guardian_manage_links'))
    )
    with op.batch_alter_table('guardian_manage_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardian_manage_links_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardian_manage_links_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('guardian_manage_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_manage_links_request_id'))
        batch_op.drop_index(batch_op.f('ix_guardian_manage_links_expires_at'))

    op.drop_table('guardian_manage_links')
    op.drop_table('tenant_pages')
    op.drop_table('sweep_marks')
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_requests_tenant_child_ref')
        batch_op.drop_index(batch_op.f('ix_consent_requests_state'))
        batch_op.drop_index(batch_op.f('ix_consent_requests_expires_at'))

    op.drop_table('consent_requests')
