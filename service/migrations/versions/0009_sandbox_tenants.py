"""Sandbox tenants: which tenants are in test mode, and how far each one's clock runs ahead

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_tenants",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("clock_offset_seconds", sa.BigInteger(), nullable=False),
        sa.Column("created_at", service.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_sandbox_tenants")),
        sa.CheckConstraint("clock_offset_seconds >= 0", name=op.f("ck_sandbox_tenants_clock_forward")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_tenants")
