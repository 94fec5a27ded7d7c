"""Birth month in clear beside the sealed birth date; last token day per subject; log counts

Reports count brackets by `subjects.birth_month` (YYYYMM) in SQL and decrypt only the
subjects born in a boundary month; existing rows are backfilled here by opening their birth
dates with AGEGATE_KEK (a row the key cannot open stops the migration). `subject_activity`
keeps the last local day a token was issued per subject, for monthly active subjects.
`consent_log_counts` counts log entries per tenant, UTC hour and event type, kept by an
AFTER INSERT trigger on consent_log (on PostgreSQL SECURITY DEFINER, so the service's role
needs only SELECT on it) and backfilled from the existing log.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:55:00
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

import service.store.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BACKFILL_BATCH = 10_000


def upgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_month", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_subjects_tenant_birth_month_created_at", ["tenant", "birth_month", "created_at"], unique=False
        )
    op.create_table(
        "subject_activity",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("subject_ref", sa.String(length=128), nullable=False),
        sa.Column("last_issued_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant", "subject_ref"],
            ["subjects.tenant", "subjects.subject_ref"],
            name=op.f("fk_subject_activity_tenant_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant", "subject_ref", name=op.f("pk_subject_activity")),
    )
    with op.batch_alter_table("subject_activity", schema=None) as batch_op:
        batch_op.create_index("ix_subject_activity_tenant_last_issued_on", ["tenant", "last_issued_on"], unique=False)
    _backfill_birth_months()
    op.create_table(
        "consent_log_counts",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("hour", service.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "hour", "event_type", name=op.f("pk_consent_log_counts")),
    )
    _create_log_count_trigger()


# The UTC hour of recorded_at and the event's type, as each dialect spells them.
_HOUR = {
    "postgresql": "date_trunc('hour', {row}recorded_at, 'UTC')",
    # SQLAlchemy stores SQLite timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
    "sqlite": "substr({row}recorded_at, 1, 13) || ':00:00.000000'",
}
_TYPE = {
    "postgresql": "coalesce(({row}event::json) ->> 'type', '')",
    "sqlite": "coalesce(json_extract({row}event, '$.type'), '')",
}


def _create_log_count_trigger() -> None:
    dialect = op.get_bind().dialect.name
    hour, kind = _HOUR[dialect], _TYPE[dialect]
    op.execute(
        "INSERT INTO consent_log_counts (tenant, hour, event_type, events) "
        f"SELECT tenant, {hour.format(row='')}, {kind.format(row='')}, count(*) FROM consent_log GROUP BY 1, 2, 3"
    )
    upsert = (
        "INSERT INTO consent_log_counts (tenant, hour, event_type, events) "
        f"VALUES (NEW.tenant, {hour.format(row='NEW.')}, {kind.format(row='NEW.')}, 1) "
        "ON CONFLICT (tenant, hour, event_type) DO UPDATE SET events = consent_log_counts.events + 1"
    )
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION agegate_count_log_entry() RETURNS trigger LANGUAGE plpgsql "
            f"SECURITY DEFINER SET search_path FROM CURRENT AS $$ BEGIN {upsert}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER consent_log_counted AFTER INSERT ON consent_log "
            "FOR EACH ROW EXECUTE FUNCTION agegate_count_log_entry()"
        )
    else:
        op.execute(f"CREATE TRIGGER consent_log_counted AFTER INSERT ON consent_log BEGIN {upsert}; END")


def _backfill_birth_months() -> None:
    from service.config import Settings
    from service.domain.age_counts import birth_month
    from service.kek import KeyEncryptionKey
    from service.store.subjects import open_birth_date

    connection = op.get_bind()
    subjects = sa.table(
        "subjects",
        sa.column("id", sa.Integer),
        sa.column("tenant", sa.String),
        sa.column("subject_ref", sa.String),
        sa.column("birth_date_enc", sa.LargeBinary),
        sa.column("birth_month", sa.Integer),
    )
    kek = None
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(subjects.c.id, subjects.c.tenant, subjects.c.subject_ref, subjects.c.birth_date_enc)
            .where(subjects.c.id > last_id)
            .order_by(subjects.c.id)
            .limit(_BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        kek = kek or KeyEncryptionKey(Settings.from_env().kek)  # only read when there are rows
        months = []
        for row in rows:
            born: date = open_birth_date(kek, row.tenant, row.subject_ref, row.birth_date_enc)
            months.append({"row_id": row.id, "month": birth_month(born)})
        connection.execute(
            subjects.update().where(subjects.c.id == sa.bindparam("row_id")).values(birth_month=sa.bindparam("month")),
            months,
        )
        last_id = rows[-1].id


def downgrade() -> None:
    op.execute("DROP TRIGGER consent_log_counted" + (" ON consent_log" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION agegate_count_log_entry()")
    op.drop_table("consent_log_counts")
    with op.batch_alter_table("subject_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_subject_activity_tenant_last_issued_on")
    op.drop_table("subject_activity")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index("ix_subjects_tenant_birth_month_created_at")
        batch_op.drop_column("birth_month")
