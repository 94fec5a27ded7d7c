"""Guardian controls and tenant policy revisions

Both are history: rows are never updated or deleted (triggers refuse it, as for consents),
so a decision can be explained for any past instant.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("guardian_controls", "tenant_policies")


def upgrade() -> None:
    op.create_table(
        "guardian_controls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("child_ref", sa.String(length=128), nullable=False),
        sa.Column("guardian_ref", sa.String(length=128), nullable=False),
        sa.Column("controls", sa.Text(), nullable=False),
        sa.Column("set_at", service.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("log_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guardian_controls")),
    )
    with op.batch_alter_table("guardian_controls", schema=None) as batch_op:
        batch_op.create_index("ix_guardian_controls_tenant_child_ref_id", ["tenant", "child_ref", "id"], unique=False)
    op.create_table(
        "tenant_policies",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("installed_at", service.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "revision", name=op.f("pk_tenant_policies")),
    )
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        # Same guarantee as the consent tables (revision 0001), reusing its trigger function.
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION agegate_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION agegate_refuse_change()"
            )
        elif dialect == "sqlite":
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'agegate: {table} is append-only'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        elif dialect == "sqlite":
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{action}")
    op.drop_table("tenant_policies")
    with op.batch_alter_table("guardian_controls", schema=None) as batch_op:
        batch_op.drop_index("ix_guardian_controls_tenant_child_ref_id")
    op.drop_table("guardian_controls")
