"""Audiences belong to a tenant

Each audience (persona service id) is owned by the tenant that registered it first
(CONTRACT §16). Existing clients' audiences are carried over; an audience that clients of
several tenants had registered (what D8 allowed) goes to the tenant of the earliest such
client, and the other tenants' clients of it then get `wrong_tenant` for every token.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audiences',
    sa.Column('audience', sa.String(length=200), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('created_at', service.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('audience', name=op.f('pk_audiences'))
    )
    op.execute(
        """
        INSERT INTO audiences (audience, tenant, created_at)
        SELECT c.audience, c.tenant, c.created_at FROM clients c
        WHERE c.audience IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM clients e WHERE e.audience = c.audience
            AND (e.created_at < c.created_at OR (e.created_at = c.created_at AND e.client_id < c.client_id))
        )
        """
    )


def downgrade() -> None:
    op.drop_table('audiences')
