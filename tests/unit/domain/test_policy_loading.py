"""Loading and validating policy files: every fault load_policy and parse_policy refuse."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import service.domain
from service.domain.brackets import Bracket
from service.domain.errors import DomainError, PolicyInvalid
from service.domain.evidence import Assurance
from service.domain.policy import load_policy, parse_policy

PACKAGED = Path(service.domain.__file__).parent / "policies" / "2026-07-15.1.json"
VALID: dict[str, Any] = json.loads(PACKAGED.read_text(encoding="utf-8"))


def edited(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    edit(document)
    return document


def cell(document: dict[str, Any], bracket: str, category: str) -> dict[str, Any]:
    return document["rules"][bracket][category]  # type: ignore[no-any-return]


FAULTS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("version_missing", lambda d: d.pop("version"), r"policy: missing 'version'"),
    ("categories_missing", lambda d: d.pop("categories"), r"policy: missing 'categories'"),
    ("requires_missing", lambda d: d.pop("requires"), r"policy: missing 'requires'"),
    ("obligations_missing", lambda d: d.pop("obligations"), r"policy: missing 'obligations'"),
    ("rules_missing", lambda d: d.pop("rules"), r"policy: missing 'rules'"),
    ("unknown_top_member", lambda d: d.update(tenant="t1"), r"policy: unknown member 'tenant'"),
    ("version_empty", lambda d: d.update(version=" "), r"version: expected a non-empty string"),
    ("version_not_text", lambda d: d.update(version=2026), r"version: expected a non-empty string"),
    ("categories_not_list", lambda d: d.update(categories={}), r"categories: expected a non-empty list"),
    ("categories_empty", lambda d: d.update(categories=[]), r"categories: expected a non-empty list"),
    ("category_not_object", lambda d: d["categories"].append("x"), r"categories\[6\]: expected an object"),
    (
        "category_without_description",
        lambda d: d["categories"][1].pop("description"),
        r"categories\[1\]: missing 'description'",
    ),
    (
        "category_unknown_member",
        lambda d: d["categories"][0].update(basis="x"),
        r"categories\[0\]: unknown member 'basis'",
    ),
    (
        "category_description_empty",
        lambda d: d["categories"][2].update(description=""),
        r"categories\[2\]\.description: expected a non-empty string",
    ),
    (
        "category_repeated",
        lambda d: d["categories"].append(dict(d["categories"][0])),
        r"categories\[6\]: repeated id 'pi_processing'",
    ),
    (
        "obligation_without_basis",
        lambda d: d["obligations"][4].pop("basis"),
        r"obligations\[4\]: missing 'basis'",
    ),
    (
        "obligation_meaning_empty",
        lambda d: d["obligations"][0].update(meaning=""),
        r"obligations\[0\]\.meaning: expected a non-empty string",
    ),
    (
        "obligation_repeated",
        lambda d: d["obligations"].append(dict(d["obligations"][1])),
        r"obligations\[5\]: repeated id 'risk_reminder'",
    ),
    ("obligations_empty", lambda d: d.update(obligations=[]), r"obligations: expected a non-empty list"),
    ("requires_not_object", lambda d: d.update(requires="pi_processing"), r"requires: expected an object"),
    (
        "requires_unknown_category",
        lambda d: d["requires"].update(category="pii"),
        r"requires\.category: unknown category 'pii'",
    ),
    (
        "requires_category_not_text",
        lambda d: d["requires"].update(category=["pi_processing"]),
        r"requires\.category: expected a non-empty string",
    ),
    ("requires_without_basis", lambda d: d["requires"].pop("basis"), r"requires: missing 'basis'"),
    (
        "requires_basis_empty",
        lambda d: d["requires"].update(basis=""),
        r"requires\.basis: expected a non-empty string",
    ),
    (
        "requires_meaning_empty",
        lambda d: d["requires"].update(meaning=""),
        r"requires\.meaning: expected a non-empty string",
    ),
    ("rules_not_object", lambda d: d.update(rules=[]), r"rules: expected an object"),
    ("bracket_missing", lambda d: d["rules"].pop("older"), r"rules: missing 'older'"),
    (
        "bracket_unknown",
        lambda d: d["rules"].update(teen=d["rules"]["minor"]),
        r"rules: unknown member 'teen'",
    ),
    ("bracket_not_object", lambda d: d["rules"].update(adult=[]), r"rules\.adult: expected an object"),
    (
        "cell_missing",
        lambda d: d["rules"]["minor"].pop("paid_interaction"),
        r"rules\.minor: missing 'paid_interaction'",
    ),
    (
        "cell_for_unknown_category",
        lambda d: d["rules"]["adult"].update(teleport=cell(d, "adult", "companion")),
        r"rules\.adult: unknown member 'teleport'",
    ),
    (
        "cell_not_object",
        lambda d: d["rules"]["adult"].update(companion="allow"),
        r"rules\.adult\.companion: expected an object",
    ),
    (
        "cell_without_decision",
        lambda d: cell(d, "adult", "companion").pop("decision"),
        r"rules\.adult\.companion: missing 'decision'",
    ),
    (
        "cell_without_basis",
        lambda d: cell(d, "older", "digital_human").pop("basis"),
        r"rules\.older\.digital_human: missing 'basis'",
    ),
    (
        "cell_basis_empty",
        lambda d: cell(d, "older", "digital_human").update(basis="  "),
        r"rules\.older\.digital_human\.basis: expected a non-empty string",
    ),
    (
        "cell_basis_not_text",
        lambda d: cell(d, "older", "digital_human").update(basis=None),
        r"rules\.older\.digital_human\.basis: expected a non-empty string",
    ),
    (
        "cell_decision_unknown",
        lambda d: cell(d, "minor", "companion").update(decision="needs_consent"),
        r"rules\.minor\.companion\.decision: unknown decision 'needs_consent'",
    ),
    (
        "cell_member_misspelt",
        lambda d: cell(d, "adult", "virtual_intimacy").update(min_assurence="verified"),
        r"rules\.adult\.virtual_intimacy: unknown member 'min_assurence'",
    ),
    (
        "cell_obligations_not_list",
        lambda d: cell(d, "minor", "companion").update(obligations="minor_mode"),
        r"rules\.minor\.companion\.obligations: expected a list",
    ),
    (
        "cell_obligation_unknown",
        lambda d: cell(d, "older", "companion").update(obligations=["risk_reminder", "nap_time"]),
        r"rules\.older\.companion\.obligations: unknown obligation 'nap_time'",
    ),
    (
        "cell_obligation_not_text",
        lambda d: cell(d, "minor", "companion").update(obligations=[["minor_mode"]]),
        r"rules\.minor\.companion\.obligations: unknown obligation \['minor_mode'\]",
    ),
    (
        "cell_decision_not_text",
        lambda d: cell(d, "minor", "companion").update(decision=["allow"]),
        r"rules\.minor\.companion\.decision: unknown decision \['allow'\]",
    ),
    (
        "cell_min_assurance_not_text",
        lambda d: cell(d, "adult", "virtual_intimacy").update(min_assurance={"level": 1}),
        r"rules\.adult\.virtual_intimacy\.min_assurance: unknown assurance",
    ),
    (
        "cell_min_assurance_unknown",
        lambda d: cell(d, "adult", "virtual_intimacy").update(min_assurance="passport"),
        r"rules\.adult\.virtual_intimacy\.min_assurance: unknown assurance 'passport'",
    ),
    (
        "deny_without_reason",
        lambda d: cell(d, "minor", "virtual_intimacy").pop("reason"),
        r"rules\.minor\.virtual_intimacy\.reason: expected a non-empty string",
    ),
    (
        "deny_reason_empty",
        lambda d: cell(d, "minor", "virtual_intimacy").update(reason=""),
        r"rules\.minor\.virtual_intimacy\.reason: expected a non-empty string",
    ),
    (
        "deny_with_obligations",
        lambda d: cell(d, "minor", "virtual_intimacy").update(obligations=["minor_mode"]),
        r"rules\.minor\.virtual_intimacy: a deny takes neither obligations nor min_assurance",
    ),
    (
        "deny_with_min_assurance",
        lambda d: cell(d, "under_14", "virtual_intimacy").update(min_assurance="verified"),
        r"rules\.under_14\.virtual_intimacy: a deny takes neither",
    ),
    (
        "reason_on_allow",
        lambda d: cell(d, "adult", "companion").update(reason="minor_ban"),
        r"rules\.adult\.companion\.reason: only a deny has a reason",
    ),
    (
        "reason_on_consent",
        lambda d: cell(d, "under_14", "companion").update(reason="minor_ban"),
        r"rules\.under_14\.companion\.reason: only a deny has a reason",
    ),
]


@pytest.mark.parametrize(
    ("edit", "message"), [pytest.param(e, m, id=name) for name, e, m in FAULTS]
)
def test_a_faulty_policy_document_is_refused_naming_the_fault(
    edit: Callable[[dict[str, Any]], object], message: str
) -> None:
    with pytest.raises(PolicyInvalid, match=message) as caught:
        parse_policy(edited(edit))
    assert isinstance(caught.value, DomainError)
    assert str(caught.value) == f"invalid policy: {caught.value.detail}"


@pytest.mark.parametrize("document", [[], "policy", None, 1])
def test_a_policy_document_that_is_not_an_object_is_refused(document: object) -> None:
    with pytest.raises(PolicyInvalid, match="policy: expected an object"):
        parse_policy(document)


def test_the_valid_document_parses_and_the_fault_table_starts_from_it() -> None:
    assert parse_policy(copy.deepcopy(VALID)).version == "2026-07-15.1"


def test_a_policy_file_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    assert load_policy(path).document() == load_policy(version="2026-07-15.1").document()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{", "cannot load the policy file"),
        (b"", "cannot load the policy file"),
        (b"\xff\xfe{}", "cannot load the policy file"),
        (b'{"version": "a", "version": "b"}', "repeated member name 'version'"),
    ],
    ids=["truncated", "empty", "not_utf8", "repeated_member"],
)
def test_a_policy_file_that_is_not_clean_json_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "policy.json"
    path.write_bytes(content)
    with pytest.raises(PolicyInvalid, match=message):
        load_policy(path)


def test_a_repeated_cell_is_refused_not_silently_replaced(tmp_path: Path) -> None:
    text = PACKAGED.read_text(encoding="utf-8")
    deny = '"virtual_intimacy": {"decision": "deny", "reason": "minor_ban", "basis": "Interim Measures Art. 14"},'
    assert text.count(deny) == 2
    loosened = text.replace(deny, deny + '\n"virtual_intimacy": {"decision": "allow", "basis": "x"},', 1)
    path = tmp_path / "policy.json"
    path.write_text(loosened, encoding="utf-8")
    with pytest.raises(PolicyInvalid, match="repeated member name 'virtual_intimacy'"):
        load_policy(path)


def test_a_missing_policy_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyInvalid, match="cannot load the policy file"):
        load_policy(tmp_path / "absent.json")


def test_a_denied_prerequisite_denies_every_other_category_with_its_reason() -> None:
    # A stricter (e.g. tenant) policy that refuses to process an under-14's data at all.
    policy = parse_policy(
        edited(
            lambda d: d["rules"]["under_14"].update(
                pi_processing={"decision": "deny", "reason": "tenant_ban", "basis": "tenant terms"}
            )
        )
    )
    decisions = policy.decide(Bracket.UNDER_14, Assurance.VERIFIED, policy.consentable(Bracket.UNDER_14))
    assert {c: d.as_claim() for c, d in decisions.items()} == {
        "pi_processing": {"decision": "deny", "reason": "tenant_ban"},
        "companion": {"decision": "deny", "reason": "tenant_ban"},
        "virtual_intimacy": {"decision": "deny", "reason": "minor_ban"},
        "child_care_education": {"decision": "deny", "reason": "tenant_ban"},
        "digital_human": {"decision": "deny", "reason": "tenant_ban"},
        "paid_interaction": {"decision": "deny", "reason": "tenant_ban"},
    }


def test_min_assurance_applies_to_consent_cells_and_to_the_prerequisite() -> None:
    def stricter(d: dict[str, Any]) -> None:
        cell(d, "adult", "pi_processing")["min_assurance"] = "verified"
        cell(d, "minor", "paid_interaction")["min_assurance"] = "document"

    policy = parse_policy(edited(stricter))
    adult = policy.decide(Bracket.ADULT, Assurance.DOCUMENT, frozenset())
    assert {d.as_claim()["reason"] for d in adult.values()} == {"assurance_too_low"}
    assert policy.decide(Bracket.ADULT, Assurance.VERIFIED, frozenset())["companion"].decision == "allow"
    minor = policy.decide(Bracket.MINOR, Assurance.SELF_DECLARED, {"paid_interaction"})
    assert minor["paid_interaction"].as_claim() == {"decision": "deny", "reason": "assurance_too_low"}
    minor = policy.decide(Bracket.MINOR, Assurance.DOCUMENT, {"paid_interaction"})
    assert minor["paid_interaction"].as_claim() == {"decision": "allow", "obligations": ["spending_limit"]}
