"""Tenant policy: a tenant's overrides that make the policy stricter for its own users, never
looser (POLICY.md: "A tenant may make a rule stricter for its own users, never looser than
the law"; CONTRACT §13).

An override document looks like::

    {"rules": {"minor": {"digital_human": {"decision": "consent", "basis": "our own reading"}},
               "adult": {"virtual_intimacy": {"min_assurance": "verified", "basis": "..."}},
               "older": {"companion": {"obligations": ["consumption_guard"], "basis": "..."}}},
     "limits": [{"min_age": 0, "max_age": 17, "daily_minutes": 45}],
     "retention": {"deletion_due_days": 7}}

Stricter means: a decision moves from ``allow`` towards ``consent`` or ``deny`` (``consent``
only where a guardian can consent: under_14 and minor); obligations are only added; a
minimum assurance only rises; limits only fall (curfews only widen); retention periods only
shorten. Anything else is refused with PolicyLoosened naming the member, or PolicyInvalid
when the document is malformed. The effective policy's version is ``<base>+<tenant>.<n>``.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from service.domain.brackets import Bracket
from service.domain.errors import LimitLoosened, PolicyInvalid, PolicyLoosened
from service.domain.evidence import Assurance
from service.domain.limits import NUMERIC_LIMITS, Limits, LimitSettings, check_tightening, limit_settings, strictest
from service.domain.policy import Policy, Rule
from service.domain.policy_sections import LimitBand, LimitValue, Period, Retention

_DECISION_RANK = {"allow": 0, "consent": 1, "deny": 2}
_GUARDIAN_BRACKETS = (Bracket.UNDER_14, Bracket.MINOR)
TENANT_DENY_REASON = "tenant_policy"


def effective_policy(base: Policy, override: object, tenant: str, revision: int) -> Policy:
    """Return ``base`` made stricter by the tenant's ``override`` document.

    Raises PolicyInvalid for a malformed document and PolicyLoosened for any member that would
    loosen ``base``; both name the member.
    """
    top = _object(override, "override", optional={"rules", "limits", "retention"})
    stamp = f"{tenant}.{revision}"
    rules = dict(base.rules)
    for bracket_name, cells in _object(top.get("rules", {}), "rules", optional={str(b) for b in Bracket}).items():
        bracket = Bracket(bracket_name)
        where = f"rules.{bracket}"
        changed = dict(rules[bracket])
        for category, cell in _object(cells, where, optional=set(base.categories)).items():
            changed[category] = _stricter_rule(base, bracket, category, cell, f"{where}.{category}")
        rules[bracket] = MappingProxyType(changed)
    sections = base.sections
    if "limits" in top:
        sections = replace(sections, limit_bands=_stricter_bands(base.limit_bands, top["limits"], stamp))
    if "retention" in top:
        sections = replace(sections, retention=_shorter_retention(base.retention, top["retention"], stamp))
    return Policy(
        version=f"{base.version}+{stamp}",
        categories=base.categories,
        descriptions=base.descriptions,
        obligations=base.obligations,
        requires=base.requires,
        rules=MappingProxyType(rules),
        sections=sections,
    )


def _object(value: object, where: str, *, optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyInvalid(f"{where}: expected an object")
    unknown = sorted(set(value) - optional)
    if unknown:
        raise PolicyInvalid(f"{where}: unknown member {unknown[0]!r}")
    return value


def _stricter_rule(base: Policy, bracket: Bracket, category: str, cell: object, where: str) -> Rule:
    members = _object(cell, where, optional={"decision", "reason", "obligations", "min_assurance", "basis"})
    if not isinstance(members.get("basis"), str) or not members["basis"].strip():
        raise PolicyInvalid(f"{where}.basis: a tenant must say why it tightens a rule")
    rule = base.rules[bracket][category]
    decision = members.get("decision", rule.decision)
    if decision not in _DECISION_RANK:
        raise PolicyInvalid(f"{where}.decision: unknown decision {decision!r}")
    if _DECISION_RANK[decision] < _DECISION_RANK[rule.decision]:
        raise PolicyLoosened(f"{where}.decision", f"{rule.decision} cannot become {decision}")
    if decision == "consent" and bracket not in _GUARDIAN_BRACKETS:
        raise PolicyInvalid(f"{where}.decision: guardian consent exists only for under_14 and minor")
    basis = f"{rule.basis}; tenant policy: {members['basis']}"
    if decision == "deny":
        reason = rule.reason if rule.decision == "deny" else members.get("reason", TENANT_DENY_REASON)
        if not isinstance(reason, str) or not reason.strip():
            raise PolicyInvalid(f"{where}.reason: expected a non-empty string")
        return Rule(decision="deny", basis=basis, reason=reason)
    if "reason" in members:
        raise PolicyInvalid(f"{where}.reason: only a deny has a reason")
    extra = members.get("obligations", [])
    known = [o.id for o in base.obligations]
    if not isinstance(extra, list) or any(o not in known for o in extra):
        raise PolicyInvalid(f"{where}.obligations: expected a list of obligations of the policy")
    obligations = rule.obligations + tuple(o for o in dict.fromkeys(extra) if o not in rule.obligations)
    min_assurance = rule.min_assurance
    if "min_assurance" in members:
        try:
            wanted = Assurance(members["min_assurance"])
        except ValueError:
            raise PolicyInvalid(f"{where}.min_assurance: unknown assurance {members['min_assurance']!r}") from None
        if min_assurance is not None and wanted.rank < min_assurance.rank:
            raise PolicyLoosened(f"{where}.min_assurance", f"{min_assurance} cannot become {wanted}")
        min_assurance = wanted
    return Rule(decision=decision, basis=basis, obligations=obligations, min_assurance=min_assurance)


def _stricter_bands(bands: tuple[LimitBand, ...], value: object, stamp: str) -> tuple[LimitBand, ...]:
    """The policy's bands with the tenant's limits applied, split where a tenant range splits a band."""
    if not isinstance(value, list):
        raise PolicyInvalid("limits: expected a list of age ranges")
    ranges: list[tuple[int, int, LimitSettings]] = []
    for index, item in enumerate(value):
        where = f"limits[{index}]"
        if not isinstance(item, dict):
            raise PolicyInvalid(f"{where}: expected an object")
        ages = {name: item.get(name) for name in ("min_age", "max_age")}
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in ages.values()) or not (
            0 <= ages["min_age"] <= ages["max_age"] <= 17  # type: ignore[operator]
        ):
            raise PolicyInvalid(f"{where}: expected 0 <= min_age <= max_age <= 17")
        settings = limit_settings({k: v for k, v in item.items() if k not in ages}, where)
        for band in bands:
            if band.max_age >= ages["min_age"] and band.min_age <= ages["max_age"]:  # type: ignore[operator]
                try:
                    check_tightening(Limits.of_band(band), settings, "tenant")
                except LimitLoosened as error:
                    raise PolicyLoosened(
                        f"{where}.{error.limit}", f"ages {band.min_age}-{band.max_age} allow at most {error.allowed}"
                    ) from None
        ranges.append((ages["min_age"], ages["max_age"], settings))  # type: ignore[arg-type]
    per_age: list[LimitBand] = []
    for band in bands:
        for age in range(band.min_age, band.max_age + 1):
            chosen = [s for low, high, s in ranges if low <= age <= high]
            per_age.append(_tightened(band, age, strictest(Limits.of_band(band), *chosen), stamp))
    merged: list[LimitBand] = []
    for band in per_age:
        if merged and _same_limits(merged[-1], band):
            merged[-1] = replace(merged[-1], max_age=band.max_age)
        else:
            merged.append(band)
    return tuple(merged)


def _tightened(band: LimitBand, age: int, limits: Limits, stamp: str) -> LimitBand:
    def value(name: str, new: Any) -> LimitValue:
        old: LimitValue = getattr(band, name)
        return old if old.value == new else LimitValue(new, f"tenant policy {stamp}", draft=False)

    return LimitBand(
        min_age=age,
        max_age=age,
        **{name: value(name, getattr(limits, name)) for name in (*NUMERIC_LIMITS, "curfew")},
    )


def _same_limits(a: LimitBand, b: LimitBand) -> bool:
    return all(getattr(a, n) == getattr(b, n) for n in (*NUMERIC_LIMITS, "curfew"))


def _shorter_retention(retention: Retention | None, value: object, stamp: str) -> Retention:
    if retention is None:
        raise PolicyInvalid("retention: the base policy sets no retention periods")
    members = _object(value, "retention", optional={"deletion_due_days", "unconsented_child_days"})
    periods: dict[str, Period] = {}
    for name in ("deletion_due_days", "unconsented_child_days"):
        period: Period = getattr(retention, name)
        if name not in members:
            periods[name] = period
            continue
        days = members[name]
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise PolicyInvalid(f"retention.{name}: expected a positive whole number of days")
        if days > period.days:
            raise PolicyLoosened(f"retention.{name}", f"at most {period.days} days")
        periods[name] = Period(days, f"tenant policy {stamp}; {period.basis}")
    return Retention(**periods)

