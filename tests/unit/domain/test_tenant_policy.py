"""Tenant policy overrides: every way to tighten is accepted and stamped, every way to loosen
is refused naming the member."""

from __future__ import annotations

from typing import Any

import pytest

from service.domain.brackets import Bracket
from service.domain.errors import PolicyInvalid, PolicyLoosened
from service.domain.evidence import Assurance
from service.domain.policy import load_policy
from service.domain.tenant_policy import effective_policy

BASE = load_policy()


def effective(override: Any) -> Any:
    return effective_policy(BASE, override, "t1", 2)


def test_the_effective_version_names_the_tenant_and_revision() -> None:
    assert effective({}).version == "2026-07-15.2+t1.2"
    assert effective({}).document()["rules"] == BASE.document()["rules"]


def test_a_minor_feature_can_be_put_behind_guardian_consent() -> None:
    policy = effective({"rules": {"minor": {"digital_human": {"decision": "consent", "basis": "our reading"}}}})
    assert "digital_human" in policy.consentable(Bracket.MINOR)
    assert policy.decide(Bracket.MINOR, Assurance.DOCUMENT, ())["digital_human"].decision == "needs_consent"
    assert policy.decide(Bracket.MINOR, Assurance.DOCUMENT, {"digital_human"})["digital_human"].decision == "allow"
    assert "tenant policy: our reading" in policy.rules[Bracket.MINOR]["digital_human"].basis


def test_a_feature_can_be_denied_with_the_tenants_reason() -> None:
    policy = effective({"rules": {"adult": {"paid_interaction": {"decision": "deny", "basis": "no payments"}}}})
    assert policy.decide(Bracket.ADULT, Assurance.DOCUMENT, ())["paid_interaction"].as_claim() == {
        "decision": "deny",
        "reason": "tenant_policy",
    }


def test_obligations_are_added_and_assurance_raised() -> None:
    policy = effective(
        {
            "rules": {
                "older": {"companion": {"obligations": ["consumption_guard"], "basis": "b"}},
                "adult": {"virtual_intimacy": {"min_assurance": "verified", "basis": "b"}},
            }
        }
    )
    older = policy.decide(Bracket.OLDER, Assurance.DOCUMENT, ())["companion"]
    assert older.obligations == ("risk_reminder", "anti_dependence", "consumption_guard")
    adult = policy.decide(Bracket.ADULT, Assurance.DOCUMENT, ())["virtual_intimacy"]
    assert adult.as_claim() == {"decision": "deny", "reason": "assurance_too_low"}


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ({"rules": {"minor": {"virtual_intimacy": {"decision": "allow", "basis": "b"}}}}, "rules.minor.virtual_intimacy.decision"),
        ({"rules": {"under_14": {"virtual_intimacy": {"decision": "consent", "basis": "b"}}}}, "rules.under_14.virtual_intimacy.decision"),
        ({"rules": {"under_14": {"companion": {"decision": "allow", "basis": "b"}}}}, "rules.under_14.companion.decision"),
        ({"rules": {"minor": {"paid_interaction": {"decision": "allow", "basis": "b"}}}}, "rules.minor.paid_interaction.decision"),
        ({"rules": {"adult": {"virtual_intimacy": {"min_assurance": "self_declared", "basis": "b"}}}}, "rules.adult.virtual_intimacy.min_assurance"),
        ({"limits": [{"min_age": 0, "max_age": 17, "daily_minutes": 45}]}, "limits[0].daily_minutes"),
        ({"limits": [{"min_age": 16, "max_age": 17, "monthly_payment_max_cny": 401}]}, "limits[0].monthly_payment_max_cny"),
        ({"limits": [{"min_age": 0, "max_age": 3, "curfew": {"start": "23:00", "end": "06:00"}}]}, "limits[0].curfew"),
        ({"retention": {"deletion_due_days": 16}}, "retention.deletion_due_days"),
        ({"retention": {"unconsented_child_days": 31}}, "retention.unconsented_child_days"),
    ],
)
def test_every_loosening_is_refused_naming_it(override: Any, where: str) -> None:
    with pytest.raises(PolicyLoosened) as refused:
        effective(override)
    assert refused.value.where == where


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ([], "override: expected an object"),
        ({"decisions": {}}, "unknown member 'decisions'"),
        ({"rules": {"teen": {}}}, "rules: unknown member 'teen'"),
        ({"rules": {"minor": {"gambling": {"basis": "b"}}}}, "unknown member 'gambling'"),
        ({"rules": {"minor": {"companion": {"decision": "deny"}}}}, "must say why"),
        ({"rules": {"adult": {"companion": {"decision": "consent", "basis": "b"}}}}, "only for under_14 and minor"),
        ({"rules": {"adult": {"companion": {"decision": "maybe", "basis": "b"}}}}, "unknown decision"),
        ({"rules": {"adult": {"companion": {"obligations": ["pray"], "basis": "b"}}}}, "obligations"),
        ({"rules": {"adult": {"companion": {"reason": "x", "basis": "b"}}}}, "only a deny has a reason"),
        ({"rules": {"adult": {"companion": {"min_assurance": "psychic", "basis": "b"}}}}, "unknown assurance"),
        ({"limits": {"daily_minutes": 10}}, "expected a list"),
        ({"limits": [{"min_age": 5, "max_age": 4, "daily_minutes": 10}]}, "min_age <= max_age"),
        ({"limits": [{"min_age": 0, "max_age": 18, "daily_minutes": 10}]}, "max_age <= 17"),
        ({"limits": [{"min_age": 0, "max_age": 7, "daily_minutes": -1}]}, "zero or more"),
        ({"limits": [{"min_age": 0, "max_age": 7, "daily_minutes": True}]}, "zero or more"),
        ({"limits": [{"min_age": 0, "max_age": 7, "curfew": {"start": "22:00"}}]}, "curfew"),
        ({"limits": [{"min_age": 0, "max_age": 7, "bedtime": "21:00"}]}, "unknown member 'bedtime'"),
        ({"retention": {"deletion_due_days": 0}}, "positive whole number"),
    ],
)
def test_a_malformed_override_is_refused_naming_the_member(override: Any, message: str) -> None:
    with pytest.raises(PolicyInvalid, match=message):
        effective(override)


def test_tenant_limits_split_a_band_and_are_stamped_with_their_source() -> None:
    policy = effective({"limits": [{"min_age": 0, "max_age": 5, "daily_minutes": 20}, {"min_age": 16, "max_age": 17, "daily_minutes": 90}]})
    bands = [(b.min_age, b.max_age, b.daily_minutes.value, b.daily_minutes.source) for b in policy.limit_bands]
    assert [b[:3] for b in bands] == [(0, 5, 20), (6, 7, 40), (8, 15, 60), (16, 17, 90)]
    assert bands[0][3] == "tenant policy t1.2" and bands[1][3] == BASE.limit_bands[0].daily_minutes.source
    assert policy.limits_for_age(5).daily_minutes.value == 20  # type: ignore[union-attr]
    assert policy.limits_for_age(6).daily_minutes.value == 40  # type: ignore[union-attr]


def test_retention_can_only_shorten() -> None:
    policy = effective({"retention": {"deletion_due_days": 7}})
    assert policy.retention.deletion_due_days.days == 7  # type: ignore[union-attr]
    assert policy.retention.unconsented_child_days == BASE.retention.unconsented_child_days  # type: ignore[union-attr]
