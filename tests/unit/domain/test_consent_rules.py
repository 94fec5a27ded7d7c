"""Guardian consent: who may consent for whom to what, status over time, what still counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.domain.brackets import Bracket
from service.domain.consent import (
    ConsentStatus,
    Relationship,
    check_consent_request,
    consent_status,
    earliest_expiry,
    effective_scopes,
)
from service.domain.errors import BannedCategory, ConsentNotAllowed, NotConsentable
from service.domain.evidence import Assurance
from service.domain.policy import load_policy

POLICY = load_policy()
SHANGHAI = ZoneInfo("Asia/Shanghai")
U14_CONSENTABLE = {"pi_processing", "companion", "child_care_education", "digital_human", "paid_interaction"}


def request(**changes: Any) -> None:
    """Check a consent request that is valid unless ``changes`` break it."""
    arguments: dict[str, Any] = {
        "policy": POLICY,
        "child_bracket": Bracket.UNDER_14,
        "guardian_bracket": Bracket.ADULT,
        "guardian_assurance": Assurance.DOCUMENT,
        "child_ref": "u-123",
        "guardian_ref": "u-900",
        "scopes": ["pi_processing", "companion"],
    }
    check_consent_request(**(arguments | changes))


def test_the_contracts_example_request_is_allowed() -> None:
    request()


@pytest.mark.parametrize(
    "changes",
    [
        {"guardian_bracket": Bracket.OLDER},
        {"guardian_assurance": Assurance.VERIFIED},
        {"scopes": sorted(U14_CONSENTABLE)},
        {"scopes": ("paid_interaction",)},
        {"child_bracket": Bracket.MINOR, "scopes": ["paid_interaction"]},
    ],
)
def test_a_request_within_the_rules_is_allowed(changes: dict[str, Any]) -> None:
    request(**changes)


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"child_bracket": Bracket.ADULT}, "child_not_minor"),
        ({"child_bracket": Bracket.OLDER}, "child_not_minor"),
        ({"guardian_ref": "u-123"}, "guardian_is_child"),
        ({"guardian_bracket": Bracket.UNDER_14}, "guardian_not_adult"),
        ({"guardian_bracket": Bracket.MINOR}, "guardian_not_adult"),
        ({"guardian_assurance": Assurance.SELF_DECLARED}, "guardian_assurance_too_low"),
        ({"scopes": []}, "no_scopes"),
        ({"scopes": ()}, "no_scopes"),
    ],
)
def test_a_request_breaking_a_rule_is_refused_naming_it(changes: dict[str, Any], rule: str) -> None:
    with pytest.raises(ConsentNotAllowed) as caught:
        request(**changes)
    assert caught.value.rule == rule
    assert caught.value.detail
    assert rule in str(caught.value)


@pytest.mark.parametrize("child_bracket", [Bracket.UNDER_14, Bracket.MINOR])
def test_consent_to_a_banned_category_is_refused_naming_the_rule(child_bracket: Bracket) -> None:
    with pytest.raises(BannedCategory) as caught:
        request(child_bracket=child_bracket, scopes=["paid_interaction", "virtual_intimacy"])
    assert (caught.value.category, caught.value.rule) == ("virtual_intimacy", "minor_ban")
    assert caught.value.basis == "Interim Measures Art. 14"


@pytest.mark.parametrize(
    ("child_bracket", "scopes"),
    [
        (Bracket.MINOR, ["companion"]),
        (Bracket.MINOR, ["paid_interaction", "pi_processing"]),
        (Bracket.UNDER_14, ["pi_processing", "teleport"]),
    ],
)
def test_consent_to_a_category_not_marked_c_is_refused(
    child_bracket: Bracket, scopes: Sequence[str]
) -> None:
    with pytest.raises(NotConsentable):
        request(child_bracket=child_bracket, scopes=scopes)


def test_relationships_and_statuses_are_the_contracts() -> None:
    assert [str(r) for r in Relationship] == ["parent", "legal_guardian", "other_guardian"]
    assert [str(s) for s in ConsentStatus] == ["active", "withdrawn", "expired"]


NOON = datetime(2026, 11, 27, 12, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("expires_at", "ended_kind", "at", "status"),
    [
        (None, None, NOON, ConsentStatus.ACTIVE),
        (NOON + timedelta(seconds=1), None, NOON, ConsentStatus.ACTIVE),
        # Expired from expires_at on, inclusive; the same instant in another zone counts.
        (NOON, None, NOON, ConsentStatus.EXPIRED),
        (NOON, None, NOON.astimezone(timezone.utc), ConsentStatus.EXPIRED),
        (NOON - timedelta(days=1), None, NOON, ConsentStatus.EXPIRED),
        # A recorded ending decides, whatever expires_at says.
        (None, "withdrawn", NOON, ConsentStatus.WITHDRAWN),
        (NOON + timedelta(days=1), "withdrawn", NOON, ConsentStatus.WITHDRAWN),
        (NOON - timedelta(days=1), "withdrawn", NOON, ConsentStatus.WITHDRAWN),
        (None, "expired", NOON, ConsentStatus.EXPIRED),
        (NOON + timedelta(days=1), "expired", NOON, ConsentStatus.EXPIRED),
    ],
)
def test_consent_status_follows_the_recorded_ending_then_the_expiry(
    expires_at: datetime | None, ended_kind: str | None, at: datetime, status: ConsentStatus
) -> None:
    assert consent_status(expires_at=expires_at, ended_kind=ended_kind, at=at) is status


@pytest.mark.parametrize("ended_kind", ["active", "revoked", ""])
def test_an_unknown_ending_is_refused(ended_kind: str) -> None:
    with pytest.raises(ValueError):
        consent_status(expires_at=None, ended_kind=ended_kind, at=NOON)


@pytest.mark.parametrize(
    ("expires_at", "at", "name"),
    [
        (None, datetime(2026, 11, 27, 12), "at"),
        (datetime(2026, 11, 28), NOON, "expires_at"),
    ],
)
def test_consent_status_refuses_a_naive_datetime(
    expires_at: datetime | None, at: datetime, name: str
) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a timezone-aware datetime"):
        consent_status(expires_at=expires_at, ended_kind=None, at=at)


@pytest.mark.parametrize(
    ("child_bracket", "active_scopes", "effective"),
    [
        (Bracket.UNDER_14, U14_CONSENTABLE, U14_CONSENTABLE),
        (Bracket.UNDER_14, {"companion", "virtual_intimacy", "teleport"}, {"companion"}),
        # At 14 only the categories the minor column still marks C keep counting ...
        (Bracket.MINOR, U14_CONSENTABLE, {"paid_interaction"}),
        (Bracket.MINOR, {"companion", "pi_processing"}, set()),
        # ... and from 18 none does.
        (Bracket.ADULT, U14_CONSENTABLE, set()),
        (Bracket.OLDER, U14_CONSENTABLE, set()),
        (Bracket.UNDER_14, [], set()),
    ],
)
def test_effective_scopes_keep_what_still_counts_in_the_childs_bracket(
    child_bracket: Bracket, active_scopes: set[str], effective: set[str]
) -> None:
    assert effective_scopes(POLICY, child_bracket, iter(active_scopes)) == frozenset(effective)


@pytest.mark.parametrize(
    ("expiries", "earliest"),
    [
        ([], None),
        ([None, None], None),
        ([NOON + timedelta(days=2), None, NOON + timedelta(days=1)], NOON + timedelta(days=1)),
        ([NOON, NOON.astimezone(timezone.utc) - timedelta(seconds=1)], NOON - timedelta(seconds=1)),
    ],
)
def test_earliest_expiry_ignores_consents_without_one(
    expiries: list[datetime | None], earliest: datetime | None
) -> None:
    assert earliest_expiry(iter(expiries)) == earliest
