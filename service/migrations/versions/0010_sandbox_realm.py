"""Sandbox realm: signing keys belong to a realm (production or sandbox), and each sandbox tenant records up to which instant of its clock bracket changes are logged

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        # every key so far signed production tokens
        batch.add_column(sa.Column("realm", sa.String(length=16), server_default="production", nullable=False))
    with op.batch_alter_table("sandbox_tenants") as batch:
        batch.add_column(sa.Column("brackets_logged_until", service.store.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_tenants") as batch:
        batch.drop_column("brackets_logged_until")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("realm")
