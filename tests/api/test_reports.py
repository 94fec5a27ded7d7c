"""Regulators' reports (CONTRACT §8, §14): the summary and the annual minors' figures."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import text

from service.domain.brackets import bracket_at
from service.reports.annual import rounded
from service.reports.summary import threshold_rows
from service.store.db import transaction
from tests.conftest import ALL_SCOPES

GUARDIAN_ID = "11010219840406970X"  # born 1984-04-06: adult, document assurance


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


@pytest.fixture
def regulator(api):  # type: ignore[no-untyped-def]
    return api.regulator_bearer()  # a regulator client (CONTRACT §2, v2) names the tenant it reads


def register(http, auth, ref, born):  # type: ignore[no-untyped-def]
    response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": {"method": "self_declared", "birth_date": born}},
                         headers=auth)
    assert response.status_code in (200, 201), response.get_json()


def token(http, auth, ref):  # type: ignore[no-untyped-def]
    response = http.post("/v1/tokens", json={"subject_ref": ref, "audience": "persona-chat"}, headers=auth)
    assert response.status_code == 201, response.get_json()


def summary(http, regulator):  # type: ignore[no-untyped-def]
    response = http.get("/v1/reports/summary", query_string={"tenant": "tenant-a"}, headers=regulator)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_brackets_are_exact_on_both_sides_of_every_boundary_day(http, auth, regulator, clock, runtime) -> None:  # type: ignore[no-untyped-def]
    today = clock.now.astimezone(runtime.settings.timezone).date()  # 2026-11-27 in Shanghai
    births = [date(today.year - age, today.month, today.day + shift) for age in (14, 18, 60) for shift in (-1, 0, 1)]
    births += [date(2016, 3, 1), date(1990, 5, 5), date(1950, 1, 1)]
    for number, born in enumerate(births):
        register(http, auth, f"s{number}", born.isoformat())
    with transaction(runtime.sessions) as session:  # a row from before birth months were recorded
        session.execute(text("UPDATE subjects SET birth_month = NULL WHERE subject_ref = 's0'"))
    expected = {"under_14": 0, "minor": 0, "adult": 0, "older": 0}
    for born in births:
        expected[bracket_at(born, clock.now, runtime.settings.timezone).value] += 1
    report = summary(http, regulator)
    assert report["by_bracket"] == expected
    assert report["subjects_total"] == len(births)


def test_monthly_active_subjects_count_tokens_of_the_last_30_local_days(http, auth, regulator, clock) -> None:  # type: ignore[no-untyped-def]
    for ref in ("old", "recent", "twice", "never"):
        register(http, auth, ref, "1990-01-01")
    clock.now = datetime(2026, 10, 28, 15, 59, tzinfo=timezone.utc)  # 2026-10-28 23:59 in Shanghai: day 31 back
    token(http, auth, "old")
    clock.now = datetime(2026, 10, 28, 16, 0, tzinfo=timezone.utc)  # 2026-10-29 00:00: day 30 back
    token(http, auth, "recent")
    token(http, auth, "twice")
    clock.now = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
    token(http, auth, "twice")
    assert summary(http, regulator)["monthly_active_subjects"] == 2


def test_an_erased_subject_leaves_the_active_count(http, auth, regulator) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "gone", "1990-01-01")
    token(http, auth, "gone")
    assert summary(http, regulator)["monthly_active_subjects"] == 1
    assert http.delete("/v1/subjects/gone", headers=auth).status_code in (200, 204)
    assert summary(http, regulator)["monthly_active_subjects"] == 0


def test_the_summary_lists_the_policy_thresholds_with_their_basis(http, auth, regulator, runtime) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "one", "1990-01-01")
    report = summary(http, regulator)
    assert report["security_assessment_required"] is False
    metrics = {row["metric"]: row for row in report["thresholds"]}
    assert metrics["subjects_total"]["at_least"] == 1_000_000 and metrics["subjects_total"]["value"] == 1
    assert metrics["monthly_active_subjects"]["draft"] is True
    assert all(row["basis"] and row["rule"] and row["crossed"] is False for row in report["thresholds"])


def test_a_threshold_is_crossed_at_exactly_its_figure(runtime) -> None:  # type: ignore[no-untyped-def]
    def crossed(total: int) -> bool:
        rows = threshold_rows(runtime.policy, {"subjects_total": total, "monthly_active_subjects": 0})
        return next(row["crossed"] for row in rows if row["metric"] == "subjects_total")

    assert crossed(1_000_000) is True  # "100万以上" includes the number
    assert crossed(999_999) is False


def test_figures_round_to_the_nearest_ten_thousand_halves_up() -> None:
    assert [rounded(n, 10_000) for n in (0, 4_999, 5_000, 14_999, 15_000, 1_234_567)] == [0, 0, 10_000, 10_000, 20_000, 1_230_000]


# The hand-computed fixture of the annual figures (Asia/Shanghai; ages from the day after a birthday):
#   registered 2025-06-01: a 2012-03-10 (13 on 2026-01-01, 14 from 2026-03-11), b 2008-07-20 (17, 18
#   from 2026-07-21), c 2008-01-01 (18th birthday on 1 January: still 17), d 2007-12-31 (18 on
#   1 January), e 2012-01-01 (14th birthday on 1 January: still 13), i 1990-05-05;
#   registered 2026-01-01 01:00 local (2025-12-31 17:00 UTC): l 2008-01-01 (still 17);
#   registered 2026-09-05: f 2008-08-15 (already 18), g 2008-09-10 (17), h 2008-09-03 (18 since 09-04).
# 2026: persons a b c d e i l f g h = 10; under 18 a b c e l g = 6; under 14 a e = 2.
# 2025: persons a b c d e i = 6 (ages on 2025-06-01: all but i under 18); under 14 a e = 2.
ANNUAL_FIXTURE = [
    (datetime(2025, 6, 1, 2, 0, tzinfo=timezone.utc), {"a": "2012-03-10", "b": "2008-07-20", "c": "2008-01-01",
                                                        "d": "2007-12-31", "e": "2012-01-01", "i": "1990-05-05"}),
    (datetime(2025, 12, 31, 17, 0, tzinfo=timezone.utc), {"l": "2008-01-01"}),
    (datetime(2026, 9, 5, 2, 0, tzinfo=timezone.utc), {"f": "2008-08-15", "g": "2008-09-10", "h": "2008-09-03"}),
]


@pytest.fixture
def annual_history(http, auth, clock):  # type: ignore[no-untyped-def]
    for at, subjects in ANNUAL_FIXTURE:
        clock.now = at
        for ref, born in subjects.items():
            register(http, auth, ref, born)
    http.post(
        "/v1/subjects", json={"subject_ref": "mum", "evidence": {"method": "resident_id", "resident_id": GUARDIAN_ID}},
        headers=auth)
    body = {"guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"], "method": "in_app",
            "evidence_ref": "e", "notice_version": "v3"}
    clock.now = datetime(2025, 12, 31, 18, 0, tzinfo=timezone.utc)  # after mum registered; 2026-01-01 local
    granted = http.post("/v1/consents", json={"child_ref": "e", **body}, headers=auth)
    assert granted.status_code == 201, granted.get_json()
    clock.now = datetime(2026, 2, 10, 2, 0, tzinfo=timezone.utc)
    granted = http.post("/v1/consents", json={"child_ref": "a", **body}, headers=auth)
    assert granted.status_code == 201, granted.get_json()
    clock.now = datetime(2026, 4, 3, 2, 0, tzinfo=timezone.utc)
    withdrawn = http.post(f"/v1/consents/{granted.get_json()['consent_id']}/withdraw", json={"reason": "r"}, headers=auth)
    assert withdrawn.status_code in (200, 201), withdrawn.get_json()
    clock.now = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)


def minors(http, regulator, year):  # type: ignore[no-untyped-def]
    response = http.get("/v1/reports/minors-pi", query_string={"tenant": "tenant-a", "year": year}, headers=regulator)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_annual_figures_match_the_hand_computed_fixture(http, regulator, annual_history) -> None:  # type: ignore[no-untyped-def]
    report = minors(http, regulator, 2026)
    # mum (adult, registered 2026-01-01 local, after l) is a person processed in 2026 too
    assert report["persons_processed"] == {"exact": 11, "rounded": 0}
    assert report["under_18"] == {"exact": 6, "rounded": 0}
    assert report["under_14"] == {"exact": 2, "rounded": 0}
    assert report["from"] == "2026-01-01T00:00:00+08:00" and report["until"] == "2027-01-01T00:00:00+08:00"
    assert report["due"] == "2027-01-31" and "Art. 37" in report["basis"]
    assert report["consents"] == {"granted": 2, "declined": 0, "withdrawn": 1}
    # a's withdrawal of pi_processing on 2026-04-03 required a deletion due 15 days later, never acknowledged
    assert report["deletions"] == {"required": 1, "done": 0, "overdue": 1}
    months = {row["month"]: row for row in report["by_month"]}
    assert (months["2026-01"]["granted"], months["2026-02"]["granted"], months["2026-04"]["withdrawn"]) == (1, 1, 1)
    assert months["2026-04"]["deletion_required"] == 1
    assert sum(row["granted"] + row["withdrawn"] for row in report["by_month"]) == 3

    earlier = minors(http, regulator, 2025)
    assert (earlier["persons_processed"]["exact"], earlier["under_18"]["exact"], earlier["under_14"]["exact"]) == (6, 5, 2)
    assert earlier["consents"] == {"granted": 0, "declined": 0, "withdrawn": 0}


@pytest.mark.parametrize("params", [{}, {"year": "next"}, {"year": "2027"}, {"year": "1999"}, {"year": "2026", "bogus": "1"}])
def test_bad_annual_parameters_are_422(http, regulator, params) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/v1/reports/minors-pi", query_string=params, headers=regulator).status_code == 422


def test_reports_need_audit_export(http, api) -> None:  # type: ignore[no-untyped-def]
    headers = api.bearer("subjects:read")
    assert http.get("/v1/reports/summary", headers=headers).status_code == 403
    assert http.get("/v1/reports/minors-pi?year=2026", headers=headers).status_code == 403


def test_months_of_a_zone_off_the_utc_hour_are_counted_from_the_events_themselves(runtime, annual_history) -> None:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from service.reports.annual import events_by_month

    # 2025-12-31 18:00 UTC is 1 January in Shanghai but still 31 December in Kolkata (+05:30)
    with transaction(runtime.sessions) as session:
        kolkata = events_by_month(session, "tenant-a", 2026, ZoneInfo("Asia/Kolkata"))
        shanghai = events_by_month(session, "tenant-a", 2026, ZoneInfo("Asia/Shanghai"))
    assert [(m["month"], m["granted"], m["withdrawn"]) for m in kolkata if m["granted"] or m["withdrawn"]] == [
        ("2026-02", 1, 0), ("2026-04", 0, 1)]
    assert [(m["month"], m["granted"], m["withdrawn"]) for m in shanghai if m["granted"] or m["withdrawn"]] == [
        ("2026-01", 1, 0), ("2026-02", 1, 0), ("2026-04", 0, 1)]


def test_the_runtime_role_reads_the_log_counts_but_cannot_forge_them(runtime, annual_history) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import DBAPIError

    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("database roles are PostgreSQL's")
    with pytest.raises(DBAPIError, match="permission denied"):
        with transaction(runtime.sessions) as session:
            session.execute(text("UPDATE consent_log_counts SET events = events + 1"))


def test_the_summary_counts_deletions_owed_and_overdue_now(http, regulator, annual_history) -> None:  # type: ignore[no-untyped-def]
    assert summary(http, regulator)["deletions"] == {"required": 1, "done": 0, "overdue": 1}
