"""The sections policy 2026-07-15.2 adds: guardian texts, limits by age band, thresholds,
retention and the annual report -- every edge, and every fault the loader refuses."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import service.domain
from service.domain.errors import PolicyInvalid
from service.domain.policy import load_policy, parse_policy
from service.domain.policy_sections import LOCALES

PACKAGED = Path(service.domain.__file__).parent / "policies" / "2026-07-15.2.json"
VALID: dict[str, Any] = json.loads(PACKAGED.read_text(encoding="utf-8"))
POLICY = load_policy()


def edited(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    edit(document)
    return document


def band(document: dict[str, Any], index: int) -> dict[str, Any]:
    return document["limits"]["bands"][index]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("age", "minutes", "single", "monthly", "minutes_draft"),
    [
        (0, 40, 50, 200, True),
        (7, 40, 50, 200, True),
        (8, 60, 50, 200, False),
        (13, 60, 50, 200, False),
        (15, 60, 50, 200, False),
        (16, 120, 100, 400, False),
        (17, 120, 100, 400, False),
    ],
)
def test_each_minor_age_gets_its_bands_limits(age: int, minutes: int, single: int, monthly: int, minutes_draft: bool) -> None:
    limits = POLICY.limits_for_age(age)
    assert limits is not None
    assert limits.as_claim() == {
        "daily_minutes": minutes,
        "curfew": {"start": "22:00", "end": "06:00"},
        "single_payment_max_cny": single,
        "monthly_payment_max_cny": monthly,
    }
    assert limits.daily_minutes.draft is minutes_draft
    assert limits.curfew.draft is True  # 22:00-06:00 is the 2023 draft's figure
    assert limits.daily_minutes.source and limits.single_payment_max_cny.source


@pytest.mark.parametrize("age", [18, 59, 60, 130])
def test_no_limits_from_the_18th_birthday_on(age: int) -> None:
    assert POLICY.limits_for_age(age) is None


def test_the_older_policy_version_still_loads_without_the_new_sections() -> None:
    older = load_policy(version="2026-07-15.1")
    assert older.version == "2026-07-15.1"
    assert older.limits_for_age(10) is None and older.thresholds == () and older.retention is None
    assert "limits" not in older.document() and "texts" not in older.document()["categories"][0]
    with pytest.raises(KeyError):
        older.category_text("companion", "en")


@pytest.mark.parametrize("category", POLICY.categories)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_category_has_plain_words_in_both_locales(category: str, locale: str) -> None:
    text = POLICY.category_text(category, locale)
    assert text.title.strip() and text.explanation.strip()


def test_an_unknown_locale_falls_back_to_chinese() -> None:
    assert POLICY.category_text("companion", "fr") == POLICY.category_text("companion", "zh-CN")


def test_the_chinese_and_english_texts_differ() -> None:
    assert POLICY.category_text("companion", "zh-CN") != POLICY.category_text("companion", "en")


@pytest.mark.parametrize(
    ("metric", "value", "crossed"),
    [
        ("subjects_total", 999_999, False),
        ("subjects_total", 1_000_000, True),  # 以上 includes the number
        ("subjects_total", 1_000_001, True),
        ("monthly_active_subjects", 99_999, False),
        ("monthly_active_subjects", 100_000, True),
    ],
)
def test_thresholds_are_crossed_at_their_number_inclusive(metric: str, value: int, crossed: bool) -> None:
    (threshold,) = [t for t in POLICY.thresholds if t.metric == metric]
    assert threshold.crossed_by(value) is crossed


def test_the_monthly_active_threshold_is_marked_as_a_draft_figure() -> None:
    drafts = {t.id: t.draft for t in POLICY.thresholds}
    assert drafts == {"registered_users": False, "monthly_active_users": True}


def test_retention_defaults_and_the_annual_report_come_with_their_basis() -> None:
    assert POLICY.retention is not None and POLICY.annual_report is not None
    assert POLICY.retention.deletion_due_days.days == 15
    assert POLICY.retention.unconsented_child_days.days == 30
    assert "Art. 20" in POLICY.retention.deletion_due_days.basis
    assert POLICY.annual_report.round_to == 10_000 and POLICY.annual_report.due_month_day == "01-31"
    assert "Art. 37" in POLICY.annual_report.basis


def test_the_served_document_carries_every_section() -> None:
    document = POLICY.document()
    assert json.loads(json.dumps(document)) == document
    assert [b["daily_minutes"]["value"] for b in document["limits"]["bands"]] == [40, 60, 120]
    assert document["limits"]["bands"][0]["curfew"]["value"] == {"start": "22:00", "end": "06:00"}
    assert [t["at_least"] for t in document["thresholds"]] == [1_000_000, 100_000]
    assert document["retention"]["deletion_due_days"]["days"] == 15
    assert document["annual_report"] == {"round_to": 10_000, "due": "01-31", "basis": POLICY.annual_report.basis}  # type: ignore[union-attr]
    assert document["categories"][0]["texts"]["en"]["title"]


def test_the_packaged_file_round_trips_through_the_parser() -> None:
    assert parse_policy(copy.deepcopy(VALID)).document() == POLICY.document()


FAULTS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("texts_on_one_category_only", lambda d: d["categories"][1].pop("texts"), r"categories.companion: missing 'texts'"),
    ("texts_locale_missing", lambda d: d["categories"][0]["texts"].pop("en"), r"texts: missing 'en'"),
    ("texts_unknown_locale", lambda d: d["categories"][0]["texts"].update(fr={}), r"texts: unknown member 'fr'"),
    ("texts_title_empty", lambda d: d["categories"][0]["texts"]["en"].update(title=" "), r"texts.en.title: expected a non-empty string"),
    ("unknown_section", lambda d: d.update(limitz={}), r"policy: unknown member 'limitz'"),
    ("limits_basis_missing", lambda d: d["limits"].pop("basis"), r"limits: missing 'basis'"),
    ("bands_empty", lambda d: d["limits"].update(bands=[]), r"limits.bands: expected a non-empty list"),
    ("band_gap", lambda d: band(d, 1).update(min_age=9), r"limits.bands\[1\].min_age: expected 8"),
    ("band_overlap", lambda d: band(d, 1).update(min_age=7), r"limits.bands\[1\].min_age: expected 8"),
    ("band_past_17", lambda d: band(d, 2).update(max_age=18), r"limits.bands\[2\].max_age: expected 16 to 17"),
    ("bands_stop_short", lambda d: band(d, 2).update(max_age=16), r"limits.bands: must cover ages 0 to 17"),
    ("band_bool_age", lambda d: band(d, 0).update(min_age=False), r"min_age: expected 0"),
    ("minutes_zero", lambda d: band(d, 0)["daily_minutes"].update(value=0), r"daily_minutes.value: expected a positive integer"),
    ("minutes_over_a_day", lambda d: band(d, 0)["daily_minutes"].update(value=1441), r"more minutes than a day has"),
    ("minutes_bool", lambda d: band(d, 0)["daily_minutes"].update(value=True), r"expected a positive integer"),
    ("draft_not_bool", lambda d: band(d, 0)["daily_minutes"].update(draft="no"), r"daily_minutes.draft: expected true or false"),
    ("source_missing", lambda d: band(d, 0)["daily_minutes"].pop("source"), r"daily_minutes: missing 'source'"),
    ("curfew_bad_time", lambda d: band(d, 0)["curfew"].update(value={"start": "24:00", "end": "06:00"}), r"curfew.value.start: expected HH:MM"),
    ("curfew_extra_member", lambda d: band(d, 0)["curfew"].update(value={"start": "22:00", "end": "06:00", "x": 1}), r"curfew.value: expected an object"),
    ("payment_negative", lambda d: band(d, 2)["single_payment_max_cny"].update(value=-1), r"single_payment_max_cny.value: expected a positive integer"),
    ("thresholds_empty", lambda d: d.update(thresholds=[]), r"thresholds: expected a non-empty list"),
    ("threshold_repeated", lambda d: d["thresholds"].append(copy.deepcopy(d["thresholds"][0])), r"thresholds\[2\]: repeated id"),
    ("threshold_float", lambda d: d["thresholds"][0].update(at_least=1e6), r"thresholds\[0\].at_least: expected a positive integer"),
    ("threshold_draft_missing", lambda d: d["thresholds"][0].pop("draft"), r"thresholds\[0\]: missing 'draft'"),
    ("retention_days_zero", lambda d: d["retention"]["deletion_due_days"].update(days=0), r"retention.deletion_due_days.days"),
    ("retention_missing_period", lambda d: d["retention"].pop("unconsented_child_days"), r"retention: missing 'unconsented_child_days'"),
    ("annual_due_malformed", lambda d: d["annual_report"].update(due="31-01"), r"annual_report.due: expected MM-DD"),
    ("annual_round_to_zero", lambda d: d["annual_report"].update(round_to=0), r"annual_report.round_to"),
]


@pytest.mark.parametrize(("edit", "message"), [pytest.param(e, m, id=n) for n, e, m in FAULTS])
def test_the_loader_refuses_each_fault_naming_where(edit: Callable[[dict[str, Any]], object], message: str) -> None:
    with pytest.raises(PolicyInvalid, match=message):
        parse_policy(edited(edit))
