"""Client lifecycle: regulator clients without a tenant, secret rotation and revocation times

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column("tenant", existing_type=sa.String(length=128), nullable=True)
        batch_op.add_column(sa.Column("secret_rotated_at", service.store.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", service.store.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Regulator clients cannot exist without a tenant column value: drop them (and, through
    # the foreign key's cascade, their access tokens) before restoring NOT NULL.
    op.execute("DELETE FROM access_tokens WHERE client_id IN (SELECT client_id FROM clients WHERE tenant IS NULL)")
    op.execute("DELETE FROM clients WHERE tenant IS NULL")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("secret_rotated_at")
        batch_op.alter_column("tenant", existing_type=sa.String(length=128), nullable=False)
