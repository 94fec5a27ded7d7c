"""Every cell of POLICY.md's decision table, written out here by hand from POLICY.md (not
read from the policy file), plus the assurance rule and the pi_processing prerequisite."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.domain.brackets import Bracket
from service.domain.errors import BannedCategory, NotConsentable
from service.domain.evidence import Assurance
from service.domain.policy import DEFAULT_POLICY_VERSION, FeatureDecision, load_policy

POLICY = load_policy()

U14, MINOR, ADULT, OLDER = Bracket.UNDER_14, Bracket.MINOR, Bracket.ADULT, Bracket.OLDER
SELF, DOC, VER = Assurance.SELF_DECLARED, Assurance.DOCUMENT, Assurance.VERIFIED
ANY = (SELF, DOC, VER)
CATEGORIES = [
    "pi_processing",
    "companion",
    "virtual_intimacy",
    "child_care_education",
    "digital_human",
    "paid_interaction",
]
U14_CONSENTABLE = {"pi_processing", "companion", "child_care_education", "digital_human", "paid_interaction"}
NEEDS = {"decision": "needs_consent"}
MINOR_BAN = {"decision": "deny", "reason": "minor_ban"}
TOO_LOW = {"decision": "deny", "reason": "assurance_too_low"}


def allow(*obligations: str) -> dict[str, Any]:
    return {"decision": "allow", "obligations": list(obligations)}


# (category, bracket, assurance levels, consented to the category?, expected claim).
# For under_14 "consented" also covers pi_processing, so the cell is seen on its own; the
# prerequisite has its own tests below.
CELLS = [
    ("pi_processing", U14, ANY, False, NEEDS),
    ("pi_processing", U14, ANY, True, allow()),
    ("pi_processing", MINOR, ANY, False, allow()),
    ("pi_processing", MINOR, ANY, True, allow()),
    ("pi_processing", ADULT, ANY, False, allow()),
    ("pi_processing", ADULT, ANY, True, allow()),
    ("pi_processing", OLDER, ANY, False, allow()),
    ("pi_processing", OLDER, ANY, True, allow()),
    ("companion", U14, ANY, False, NEEDS),
    ("companion", U14, ANY, True, allow("minor_mode")),
    ("companion", MINOR, ANY, False, allow("minor_mode")),
    ("companion", MINOR, ANY, True, allow("minor_mode")),
    ("companion", ADULT, ANY, False, allow()),
    ("companion", ADULT, ANY, True, allow()),
    ("companion", OLDER, ANY, False, allow("risk_reminder", "anti_dependence")),
    ("companion", OLDER, ANY, True, allow("risk_reminder", "anti_dependence")),
    ("virtual_intimacy", U14, ANY, False, MINOR_BAN),
    ("virtual_intimacy", U14, ANY, True, MINOR_BAN),
    ("virtual_intimacy", MINOR, ANY, False, MINOR_BAN),
    ("virtual_intimacy", MINOR, ANY, True, MINOR_BAN),
    ("virtual_intimacy", ADULT, (SELF,), False, TOO_LOW),
    ("virtual_intimacy", ADULT, (SELF,), True, TOO_LOW),
    ("virtual_intimacy", ADULT, (DOC, VER), False, allow()),
    ("virtual_intimacy", ADULT, (DOC, VER), True, allow()),
    ("virtual_intimacy", OLDER, (SELF,), False, TOO_LOW),
    ("virtual_intimacy", OLDER, (SELF,), True, TOO_LOW),
    ("virtual_intimacy", OLDER, (DOC, VER), False, allow("risk_reminder", "anti_dependence")),
    ("virtual_intimacy", OLDER, (DOC, VER), True, allow("risk_reminder", "anti_dependence")),
    ("child_care_education", U14, ANY, False, NEEDS),
    ("child_care_education", U14, ANY, True, allow("minor_mode")),
    ("child_care_education", MINOR, ANY, False, allow("minor_mode")),
    ("child_care_education", MINOR, ANY, True, allow("minor_mode")),
    ("child_care_education", ADULT, ANY, False, allow()),
    ("child_care_education", ADULT, ANY, True, allow()),
    ("child_care_education", OLDER, ANY, False, allow()),
    ("child_care_education", OLDER, ANY, True, allow()),
    ("digital_human", U14, ANY, False, NEEDS),
    ("digital_human", U14, ANY, True, allow("minor_mode")),
    ("digital_human", MINOR, ANY, False, allow("minor_mode")),
    ("digital_human", MINOR, ANY, True, allow("minor_mode")),
    ("digital_human", ADULT, ANY, False, allow()),
    ("digital_human", ADULT, ANY, True, allow()),
    ("digital_human", OLDER, ANY, False, allow("risk_reminder")),
    ("digital_human", OLDER, ANY, True, allow("risk_reminder")),
    ("paid_interaction", U14, ANY, False, NEEDS),
    ("paid_interaction", U14, ANY, True, allow("spending_limit")),
    ("paid_interaction", MINOR, ANY, False, NEEDS),
    ("paid_interaction", MINOR, ANY, True, allow("spending_limit")),
    ("paid_interaction", ADULT, ANY, False, allow()),
    ("paid_interaction", ADULT, ANY, True, allow()),
    ("paid_interaction", OLDER, ANY, False, allow("consumption_guard")),
    ("paid_interaction", OLDER, ANY, True, allow("consumption_guard")),
]


@pytest.mark.parametrize(
    ("category", "bracket", "assurance", "consented", "expected"),
    [
        pytest.param(c, b, a, k, e, id=f"{c}-{b}-{a}-{'consented' if k else 'no_consent'}")
        for c, b, levels, k, e in CELLS
        for a in levels
    ],
)
def test_each_cell_decides_as_the_policy_table_says(
    category: str, bracket: Bracket, assurance: Assurance, consented: bool, expected: dict[str, Any]
) -> None:
    consents = {category, "pi_processing"} if consented else set()
    assert POLICY.decide(bracket, assurance, consents)[category].as_claim() == expected


def test_the_cell_table_covers_every_category_and_bracket_with_and_without_consent() -> None:
    covered = {(c, b, a, k) for c, b, levels, k, _ in CELLS for a in levels}
    assert covered == {(c, b, a, k) for c in CATEGORIES for b in Bracket for a in ANY for k in (False, True)}


@pytest.mark.parametrize("bracket", list(Bracket))
@pytest.mark.parametrize("assurance", ANY)
def test_every_category_is_decided_in_policy_order(bracket: Bracket, assurance: Assurance) -> None:
    assert list(POLICY.decide(bracket, assurance, frozenset())) == CATEGORIES
    assert POLICY.categories == tuple(CATEGORIES)


def test_an_under_14_without_any_consent_needs_consent_for_all_but_the_ban() -> None:
    decisions = POLICY.decide(U14, VER, frozenset())
    assert {c: d.as_claim() for c, d in decisions.items()} == {
        "pi_processing": NEEDS,
        "companion": NEEDS,
        "virtual_intimacy": MINOR_BAN,
        "child_care_education": NEEDS,
        "digital_human": NEEDS,
        "paid_interaction": NEEDS,
    }


@pytest.mark.parametrize("category", sorted(U14_CONSENTABLE - {"pi_processing"}))
@pytest.mark.parametrize("assurance", ANY)
def test_an_under_14_without_pi_processing_consent_gets_nothing_else(
    category: str, assurance: Assurance
) -> None:
    # Consent to everything but pi_processing: PIPL Art. 31 still gates every category.
    decisions = POLICY.decide(U14, assurance, U14_CONSENTABLE - {"pi_processing"})
    assert decisions[category].as_claim() == NEEDS
    assert decisions["virtual_intimacy"].as_claim() == MINOR_BAN


def test_an_under_14_with_every_consent_gets_every_category_but_the_ban() -> None:
    decisions = POLICY.decide(U14, SELF, U14_CONSENTABLE | {"virtual_intimacy"})
    assert {c: d.as_claim() for c, d in decisions.items()} == {
        "pi_processing": allow(),
        "companion": allow("minor_mode"),
        "virtual_intimacy": MINOR_BAN,
        "child_care_education": allow("minor_mode"),
        "digital_human": allow("minor_mode"),
        "paid_interaction": allow("spending_limit"),
    }


def test_an_under_14_with_only_pi_processing_consent_still_needs_each_category() -> None:
    decisions = POLICY.decide(U14, SELF, {"pi_processing"})
    assert decisions["pi_processing"].as_claim() == allow()
    assert {c: d.decision for c, d in decisions.items() if c != "pi_processing"} == {
        "companion": "needs_consent",
        "virtual_intimacy": "deny",
        "child_care_education": "needs_consent",
        "digital_human": "needs_consent",
        "paid_interaction": "needs_consent",
    }


@pytest.mark.parametrize(
    ("bracket", "consented"),
    [
        (MINOR, {"virtual_intimacy", "companion", "pi_processing"}),
        (ADULT, {"virtual_intimacy", "teleport"}),
        (U14, {"virtual_intimacy", "teleport"}),
    ],
)
def test_consent_to_a_category_not_marked_c_changes_nothing(
    bracket: Bracket, consented: set[str]
) -> None:
    assert POLICY.decide(bracket, SELF, consented) == POLICY.decide(bracket, SELF, frozenset())


def test_decide_accepts_any_iterable_of_consented_categories() -> None:
    expected = POLICY.decide(U14, DOC, frozenset({"pi_processing", "companion"}))
    assert POLICY.decide(U14, DOC, ["companion", "pi_processing", "companion"]) == expected
    assert POLICY.decide(U14, DOC, (c for c in ("pi_processing", "companion"))) == expected


def test_decide_answers_from_a_precomputed_read_only_table() -> None:
    first = POLICY.decide(U14, DOC, {"pi_processing"})
    assert POLICY.decide(U14, DOC, ["pi_processing", "virtual_intimacy"]) is first
    with pytest.raises(TypeError):
        first["companion"] = FeatureDecision("allow")  # type: ignore[index]


@pytest.mark.parametrize(
    ("bracket", "consentable"),
    [(U14, U14_CONSENTABLE), (MINOR, {"paid_interaction"}), (ADULT, set()), (OLDER, set())],
)
def test_consentable_lists_the_categories_marked_c(bracket: Bracket, consentable: set[str]) -> None:
    assert POLICY.consentable(bracket) == frozenset(consentable)


@pytest.mark.parametrize(
    ("bracket", "scopes"),
    [
        (U14, ["pi_processing"]),
        (U14, sorted(U14_CONSENTABLE)),
        (MINOR, ["paid_interaction"]),
    ],
)
def test_scopes_marked_c_can_be_consented_to(bracket: Bracket, scopes: list[str]) -> None:
    POLICY.check_consent_scopes(bracket, scopes)


@pytest.mark.parametrize(
    ("bracket", "scopes"),
    [
        (U14, ["virtual_intimacy"]),
        (MINOR, ["virtual_intimacy"]),
        (U14, ["pi_processing", "virtual_intimacy"]),
        # The ban is reported even after a scope that is merely not consentable.
        (MINOR, ["companion", "virtual_intimacy"]),
        (MINOR, iter(["teleport", "virtual_intimacy"])),
    ],
)
def test_a_banned_category_is_refused_naming_the_rule_and_basis(bracket: Bracket, scopes: Any) -> None:
    with pytest.raises(BannedCategory) as caught:
        POLICY.check_consent_scopes(bracket, scopes)
    error = caught.value
    assert (error.category, error.bracket, error.rule) == ("virtual_intimacy", bracket, "minor_ban")
    assert "Art. 14" in error.basis
    assert "minor_ban" in str(error) and "virtual_intimacy" in str(error)


@pytest.mark.parametrize(
    ("bracket", "scopes", "category"),
    [
        (MINOR, ["companion"], "companion"),
        (MINOR, ["paid_interaction", "pi_processing"], "pi_processing"),
        (ADULT, ["paid_interaction"], "paid_interaction"),
        (OLDER, ["virtual_intimacy"], "virtual_intimacy"),
        (U14, ["teleport"], "teleport"),
        (U14, iter(["companion", "Companion"]), "Companion"),
    ],
)
def test_a_category_not_marked_c_is_not_consentable(
    bracket: Bracket, scopes: Any, category: str
) -> None:
    with pytest.raises(NotConsentable) as caught:
        POLICY.check_consent_scopes(bracket, scopes)
    assert (caught.value.category, caught.value.bracket) == (category, bracket)


@pytest.mark.parametrize(
    ("decision", "claim"),
    [
        (FeatureDecision("allow", ("minor_mode",)), {"decision": "allow", "obligations": ["minor_mode"]}),
        (FeatureDecision("allow"), {"decision": "allow", "obligations": []}),
        (FeatureDecision("deny", reason="minor_ban"), {"decision": "deny", "reason": "minor_ban"}),
        (FeatureDecision("needs_consent"), {"decision": "needs_consent"}),
    ],
)
def test_as_claim_gives_the_token_shape(decision: FeatureDecision, claim: dict[str, Any]) -> None:
    assert decision.as_claim() == claim
    assert decision.as_claim() is not decision.as_claim()


def test_the_packaged_policy_is_the_default_version() -> None:
    assert POLICY.version == DEFAULT_POLICY_VERSION == "2026-07-15.2"


def test_the_policy_document_carries_every_rule_with_its_basis() -> None:
    document = POLICY.document()
    assert json.loads(json.dumps(document)) == document
    assert document["version"] == "2026-07-15.2"
    assert [c["id"] for c in document["categories"]] == CATEGORIES
    assert all(c["description"] for c in document["categories"])
    assert document["requires"]["category"] == "pi_processing"
    assert list(document["rules"]) == ["under_14", "minor", "adult", "older"]
    for rules in document["rules"].values():
        assert list(rules) == CATEGORIES
        assert all(rule["basis"].strip() for rule in rules.values())
    assert document["rules"]["under_14"]["pi_processing"] == {
        "decision": "consent",
        "obligations": [],
        "basis": "PIPL Art. 31",
    }
    assert document["rules"]["minor"]["virtual_intimacy"] == {
        "decision": "deny",
        "obligations": [],
        "reason": "minor_ban",
        "basis": "Interim Measures Art. 14",
    }
    assert document["rules"]["older"]["virtual_intimacy"]["min_assurance"] == "document"
    assert document["rules"]["minor"]["paid_interaction"]["basis"] == "project default"


def test_the_policy_document_lists_the_obligations_of_policy_md() -> None:
    obligations = {o["id"]: o for o in POLICY.document()["obligations"]}
    assert list(obligations) == [
        "minor_mode",
        "risk_reminder",
        "anti_dependence",
        "consumption_guard",
        "spending_limit",
    ]
    assert obligations["spending_limit"]["basis"] == "project default"
    assert "Minor Protection Law" in obligations["minor_mode"]["basis"]
    assert all(o["meaning"] and o["basis"] for o in obligations.values())


def test_the_policy_document_is_fresh_on_every_call() -> None:
    document = POLICY.document()
    document["rules"]["minor"]["virtual_intimacy"]["decision"] = "allow"
    document["categories"].clear()
    assert POLICY.document()["rules"]["minor"]["virtual_intimacy"]["decision"] == "deny"
    assert len(POLICY.document()["categories"]) == 6
