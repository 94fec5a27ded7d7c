"""The feature policy: which categories each bracket may use, on what terms, and why.

The policy is data (``policies/<version>.json``), loaded and validated once by
``load_policy``. ``Policy.decide`` is on the token-issuing hot path, so the constructor
precomputes every answer it can give and ``decide`` is a dictionary lookup.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from service.domain.brackets import Bracket
from service.domain.errors import BannedCategory, NotConsentable, PolicyInvalid
from service.domain.evidence import Assurance
from service.domain.policy_sections import (
    DEFAULT_LOCALE,
    EMPTY,
    SECTION_NAMES,
    AnnualReport,
    CategoryText,
    LimitBand,
    Retention,
    Sections,
    Threshold,
    parse_sections,
    parse_texts,
)

DEFAULT_POLICY_VERSION = "2026-07-15.2"

Decision = Literal["allow", "deny", "needs_consent"]
DecisionTable = Mapping[tuple[Bracket, Assurance, frozenset[str]], Mapping[str, "FeatureDecision"]]


@dataclass(frozen=True)
class FeatureDecision:
    """What a token says about one feature category."""

    decision: Decision
    obligations: tuple[str, ...] = ()
    reason: str | None = None

    def as_claim(self) -> dict[str, Any]:
        """Return this decision's shape in a token's ``features`` claim, as a fresh dict."""
        if self.decision == "allow":
            return {"decision": "allow", "obligations": list(self.obligations)}
        if self.decision == "deny":
            return {"decision": "deny", "reason": self.reason}
        return {"decision": self.decision}


@dataclass(frozen=True)
class Rule:
    """One cell of the policy table: the rule for a category in a bracket, and its legal basis.

    ``decision`` is ``allow``, ``deny`` (absolute, with ``reason``) or ``consent`` (allowed
    only with an active guardian consent covering the category). ``min_assurance``, when set,
    denies with reason ``assurance_too_low`` to a subject whose assurance is weaker.
    """

    decision: Literal["allow", "deny", "consent"]
    basis: str
    obligations: tuple[str, ...] = ()
    reason: str | None = None
    min_assurance: Assurance | None = None

    def evaluate(self, assurance: Assurance, consented: bool) -> FeatureDecision:
        """Return this cell's decision, before the prerequisite category is considered."""
        if self.decision == "deny":
            return FeatureDecision("deny", reason=self.reason)
        if self.min_assurance is not None and assurance.rank < self.min_assurance.rank:
            return FeatureDecision("deny", reason="assurance_too_low")
        if self.decision == "consent" and not consented:
            return FeatureDecision("needs_consent")
        return FeatureDecision("allow", self.obligations)

    def as_document(self) -> dict[str, Any]:
        """Return the rule as served at GET /v1/policy; optional members only when set."""
        document = {
            "decision": self.decision,
            "obligations": list(self.obligations),
            "reason": self.reason,
            "min_assurance": self.min_assurance and str(self.min_assurance),
            "basis": self.basis,
        }
        return {name: value for name, value in document.items() if value is not None}


@dataclass(frozen=True)
class Obligation:
    """A duty the persona service must apply while serving a feature."""

    id: str
    meaning: str
    basis: str


@dataclass(frozen=True)
class Prerequisite:
    """The category that must be allowed before any other category can be."""

    category: str
    meaning: str
    basis: str


@dataclass(frozen=True, eq=False)
class Policy:
    """A validated, immutable policy; build it with ``load_policy`` or ``parse_policy``.

    ``requires`` names the category (``pi_processing``) that must be allowed before any
    other can be: while it is not, every other category that is not ``deny`` takes the
    prerequisite's own decision (``needs_consent``, or ``deny`` with its reason).
    """

    version: str
    categories: tuple[str, ...]
    descriptions: Mapping[str, str]
    obligations: tuple[Obligation, ...]
    requires: Prerequisite
    rules: Mapping[Bracket, Mapping[str, Rule]]
    sections: Sections = EMPTY
    _consentable: Mapping[Bracket, frozenset[str]] = field(init=False, repr=False)
    _decisions: DecisionTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        consentable = {
            bracket: frozenset(c for c, r in self.rules[bracket].items() if r.decision == "consent")
            for bracket in Bracket
        }
        # Only consents to categories marked C change an answer, so the table holds one entry
        # per subset of those: 2**5 for under_14, 36 per assurance level in all.
        decisions = {
            (bracket, assurance, frozenset(subset)): self._evaluate(bracket, assurance, subset)
            for bracket in Bracket
            for assurance in Assurance
            for size in range(len(consentable[bracket]) + 1)
            for subset in itertools.combinations(sorted(consentable[bracket]), size)
        }
        object.__setattr__(self, "_consentable", MappingProxyType(consentable))
        object.__setattr__(self, "_decisions", MappingProxyType(decisions))

    def _evaluate(
        self, bracket: Bracket, assurance: Assurance, consented: Iterable[str]
    ) -> Mapping[str, FeatureDecision]:
        cells, consented = self.rules[bracket], frozenset(consented)
        decisions = {c: cells[c].evaluate(assurance, c in consented) for c in self.categories}
        gate = decisions[self.requires.category]
        if gate.decision != "allow":
            for category, decision in decisions.items():
                if category != self.requires.category and decision.decision != "deny":
                    decisions[category] = FeatureDecision(gate.decision, reason=gate.reason)
        return MappingProxyType(decisions)

    def decide(
        self, bracket: Bracket, assurance: Assurance, consented: Iterable[str]
    ) -> Mapping[str, FeatureDecision]:
        """Return the decision for every category, in category order.

        ``consented`` holds the categories of the subject's active guardian consents; those
        not marked C for ``bracket`` are ignored. The result is a shared read-only mapping:
        copy it before changing it. Pure; raises KeyError for an unknown bracket or assurance.
        """
        key = self._consentable[bracket].intersection(consented)
        return self._decisions[(bracket, assurance, key)]

    def consentable(self, bracket: Bracket) -> frozenset[str]:
        """Return the categories a guardian may consent to for ``bracket`` (those marked C)."""
        return self._consentable[bracket]

    def check_consent_scopes(self, bracket: Bracket, scopes: Iterable[str]) -> None:
        """Refuse consent scopes a guardian cannot grant for a child in ``bracket``.

        Raises BannedCategory, naming the rule and its basis, if any scope is denied outright
        (checked across all scopes first, so the ban is what the caller hears about); else
        NotConsentable for the first scope not marked C or not in the policy at all.
        """
        scopes = list(scopes)
        for scope in scopes:
            rule = self.rules[bracket].get(scope)
            if rule is not None and rule.decision == "deny":
                raise BannedCategory(scope, bracket, rule=str(rule.reason), basis=rule.basis)
        for scope in scopes:
            if scope not in self._consentable[bracket]:
                raise NotConsentable(scope, bracket)

    def category_text(self, category: str, locale: str) -> CategoryText:
        """Return ``category`` in plain words for a guardian in ``locale`` (zh-CN when unknown).

        Raises KeyError for an unknown category, or when this policy version has no texts.
        """
        texts = self.sections.texts[category]
        return texts.get(locale) or texts[DEFAULT_LOCALE]

    @property
    def limit_bands(self) -> tuple[LimitBand, ...]:
        return self.sections.limit_bands

    def limits_for_age(self, age: int) -> LimitBand | None:
        """Return the minor-mode limit band for ``age`` in completed years; None from 18 on
        (or when this policy version sets no limits)."""
        for band in self.sections.limit_bands:
            if band.min_age <= age <= band.max_age:
                return band
        return None

    @property
    def thresholds(self) -> tuple[Threshold, ...]:
        return self.sections.thresholds

    @property
    def retention(self) -> Retention | None:
        return self.sections.retention

    @property
    def annual_report(self) -> AnnualReport | None:
        return self.sections.annual_report

    def document(self) -> dict[str, Any]:
        """Return the policy as served at GET /v1/policy, as a fresh JSON-able dict."""
        categories = []
        for c in self.categories:
            item: dict[str, Any] = {"id": c, "description": self.descriptions[c]}
            if c in self.sections.texts:
                item["texts"] = {locale: asdict(text) for locale, text in self.sections.texts[c].items()}
            categories.append(item)
        document: dict[str, Any] = {
            "version": self.version,
            "categories": categories,
            "requires": asdict(self.requires),
            "obligations": [asdict(o) for o in self.obligations],
            "rules": {
                str(bracket): {c: rule.as_document() for c, rule in self.rules[bracket].items()}
                for bracket in Bracket
            },
        }
        sections = self.sections
        if sections.limit_bands:
            document["limits"] = {"basis": sections.limits_basis, "bands": [b.as_document() for b in sections.limit_bands]}
        if sections.thresholds:
            document["thresholds"] = [t.as_document() for t in sections.thresholds]
        if sections.retention is not None:
            document["retention"] = sections.retention.as_document()
        if sections.annual_report is not None:
            report = sections.annual_report
            document["annual_report"] = {"round_to": report.round_to, "due": report.due_month_day, "basis": report.basis}
        return document


def load_policy(path: Path | None = None, *, version: str = DEFAULT_POLICY_VERSION) -> Policy:
    """Load and validate a policy file; by default the packaged ``version`` (older versions
    stay packaged so that past decisions can be replayed under the policy that made them).

    Raises PolicyInvalid if the file cannot be read, is not JSON, repeats a member name
    (a repeated cell would otherwise silently replace the first) or fails ``parse_policy``.
    """
    packaged = resources.files("service.domain") / "policies" / f"{version}.json"
    source = path or packaged
    try:
        text = source.read_text(encoding="utf-8")
        document = json.loads(text, object_pairs_hook=_object_without_repeats)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise PolicyInvalid(f"cannot load the policy file: {exc}") from exc
    return parse_policy(document)


def parse_policy(document: object) -> Policy:
    """Build a Policy from a decoded policy document, checking every member and cell.

    Raises PolicyInvalid naming where the first fault is (``rules.minor.companion.basis``).
    """
    top = _members(
        document, "policy", {"version", "categories", "requires", "obligations", "rules"}, SECTION_NAMES
    )
    categories = _categories(top["categories"])
    obligations = _described(top["obligations"], "obligations", "meaning", "basis")
    requires = _members(top["requires"], "requires", {"category", "meaning", "basis"})
    requires = {name: _text(value, f"requires.{name}") for name, value in requires.items()}
    if requires["category"] not in categories:
        raise PolicyInvalid(f"requires.category: unknown category {requires['category']!r}")
    rules_by_bracket = _members(top["rules"], "rules", {str(b) for b in Bracket})
    rules: dict[Bracket, Mapping[str, Rule]] = {}
    for bracket in Bracket:
        cells = _members(rules_by_bracket[bracket], f"rules.{bracket}", set(categories))
        rules[bracket] = MappingProxyType(
            {c: _rule(cells[c], f"rules.{bracket}.{c}", tuple(obligations)) for c in categories}
        )
    return Policy(
        version=_text(top["version"], "version"),
        categories=tuple(categories),
        descriptions=MappingProxyType({c: item["description"] for c, item in categories.items()}),
        obligations=tuple(Obligation(**item) for item in obligations.values()),
        requires=Prerequisite(**requires),
        rules=MappingProxyType(rules),
        sections=replace(
            parse_sections(top, _members, _text), texts=parse_texts(categories, _members, _text)
        ),
    )


def _categories(value: object) -> dict[str, dict[str, Any]]:
    """The categories by id, each with its description and (from 2026-07-15.2) guardian texts."""
    if not isinstance(value, list) or not value:
        raise PolicyInvalid("categories: expected a non-empty list")
    items: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(value):
        members = _members(item, f"categories[{index}]", {"id", "description"}, frozenset({"texts"}))
        category = _text(members["id"], f"categories[{index}].id")
        if category in items:
            raise PolicyInvalid(f"categories[{index}]: repeated id {category!r}")
        items[category] = {**members, "description": _text(members["description"], f"categories[{index}].description")}
    return items


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name, value in pairs:
        if name in document:
            raise PolicyInvalid(f"repeated member name {name!r}")
        document[name] = value
    return document


def _members(
    value: object, where: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Return ``value`` if it is an object with every ``required`` member and no unknown one."""
    if not isinstance(value, dict):
        raise PolicyInvalid(f"{where}: expected an object")
    missing = sorted(required - value.keys())
    if missing:
        raise PolicyInvalid(f"{where}: missing {missing[0]!r}")
    # Unknown members are refused, not ignored: a misspelt "min_assurence" would loosen a rule.
    unknown = sorted(value.keys() - required - optional)
    if unknown:
        raise PolicyInvalid(f"{where}: unknown member {unknown[0]!r}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyInvalid(f"{where}: expected a non-empty string")
    return value


def _described(value: object, where: str, *names: str) -> dict[str, dict[str, str]]:
    """Return a non-empty list of ``{"id", *names}`` texts as a dict by id, in list order."""
    if not isinstance(value, list) or not value:
        raise PolicyInvalid(f"{where}: expected a non-empty list")
    items: dict[str, dict[str, str]] = {}
    for index, item in enumerate(value):
        members = _members(item, f"{where}[{index}]", {"id", *names})
        texts = {name: _text(members[name], f"{where}[{index}].{name}") for name in members}
        if texts["id"] in items:
            raise PolicyInvalid(f"{where}[{index}]: repeated id {texts['id']!r}")
        items[texts["id"]] = texts
    return items


def _rule(value: object, where: str, known_obligations: tuple[str, ...]) -> Rule:
    cell = _members(
        value, where, {"decision", "basis"}, frozenset({"obligations", "reason", "min_assurance"})
    )
    if cell["decision"] not in ("allow", "deny", "consent"):
        raise PolicyInvalid(f"{where}.decision: unknown decision {cell['decision']!r}")
    obligations = cell.get("obligations", [])
    if not isinstance(obligations, list):
        raise PolicyInvalid(f"{where}.obligations: expected a list")
    # Membership in tuples compares with ==, so a nested list is refused instead of raising.
    for obligation in obligations:
        if obligation not in known_obligations:
            raise PolicyInvalid(f"{where}.obligations: unknown obligation {obligation!r}")
    min_assurance = cell.get("min_assurance")
    if min_assurance is not None and min_assurance not in tuple(str(a) for a in Assurance):
        raise PolicyInvalid(f"{where}.min_assurance: unknown assurance {min_assurance!r}")
    reason = None
    if cell["decision"] == "deny":
        if obligations or min_assurance is not None:
            raise PolicyInvalid(f"{where}: a deny takes neither obligations nor min_assurance")
        reason = _text(cell.get("reason"), f"{where}.reason")
    elif "reason" in cell:
        raise PolicyInvalid(f"{where}.reason: only a deny has a reason")
    return Rule(
        decision=cell["decision"],
        basis=_text(cell["basis"], f"{where}.basis"),
        obligations=tuple(obligations),
        reason=reason,
        min_assurance=None if min_assurance is None else Assurance(min_assurance),
    )
