"""The summary report (CONTRACT §8, §14): subjects by bracket, consents, activity, thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.domain import age_counts
from service.domain.brackets import Bracket
from service.domain.policy import Policy
from service.kek import KeyEncryptionKey
from service.store import deletions as deletion_store
from service.store import reports
from service.store.subjects import open_birth_date

# "Monthly": a token issued on any of the 30 local days up to and including today. The
# window covers the last 30 x 24 hours and up to one day more (days are whole).
ACTIVE_DAYS = 30


def brackets_now(session: Session, kek: KeyEncryptionKey, tenant: str, on: datetime) -> dict[str, int]:
    """Subjects by bracket on the local date `on` (aware, in the service's zone).

    Counted by birth month in SQL (one pass over an index); only subjects born in one of the
    three boundary months (or with no month recorded) have their birth dates decrypted.
    """
    today = on.date()
    boundaries = age_counts.boundary_months(today)
    by_month = reports.birth_month_counts(session, tenant)
    settled = {month: count for month, count in by_month.items() if month is not None and month not in boundaries}
    unsettled = (
        open_birth_date(kek, tenant, subject_ref, sealed)
        for subject_ref, sealed in reports.sealed_birth_dates(session, tenant, sorted(boundaries))
    )
    counts = age_counts.brackets_from_months(settled, today, unsettled)
    return {bracket.value: counts.get(bracket, 0) for bracket in Bracket}


def monthly_active_subjects(session: Session, tenant: str, on: datetime) -> int:
    return reports.active_subjects_since(session, tenant, on.date() - timedelta(days=ACTIVE_DAYS - 1))


def threshold_rows(policy: Policy, figures: dict[str, int]) -> list[dict[str, Any]]:
    """Each policy threshold with the tenant's figure and whether it is reached (>=: "以上")."""
    return [
        {
            **threshold.as_document(),
            "value": figures[threshold.metric],
            "crossed": threshold.crossed_by(figures[threshold.metric]),
        }
        for threshold in policy.thresholds
    ]


def summary(session: Session, kek: KeyEncryptionKey, policy: Policy, tenant: str, now: datetime, local_now: datetime) -> dict[str, Any]:
    """The summary document; `local_now` is `now` in AGEGATE_TIMEZONE."""
    by_bracket = brackets_now(session, kek, tenant, local_now)
    total = sum(by_bracket.values())  # the same pass, so total and brackets always agree
    active = monthly_active_subjects(session, tenant, local_now)
    consents = reports.consent_counts(session, tenant, now)
    deletions = deletion_store.counts(session, tenant, now)
    thresholds = threshold_rows(policy, {"subjects_total": total, "monthly_active_subjects": active})
    return {
        "tenant": tenant,
        "subjects_total": total,
        "by_bracket": by_bracket,
        "monthly_active_subjects": active,
        "consents_active": consents["active"],
        "consents_withdrawn": consents["withdrawn"],
        "deletions": deletions,
        "security_assessment_required": any(
            row["crossed"] for row in thresholds if row["metric"] == "subjects_total"
        ),
        "thresholds": thresholds,
    }
