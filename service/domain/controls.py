"""Guardian controls (CONTRACT §13): limits a guardian sets for their child, and categories
the guardian turns off. A guardian may tighten any limit; loosening past the default in force
(the policy's band, as the tenant tightened it) is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from service.domain.errors import PolicyInvalid
from service.domain.limits import Limits, LimitSettings, check_tightening, limit_settings, strictest
from service.domain.policy import FeatureDecision, Policy

GUARDIAN_BLOCKED = "guardian_blocked"


@dataclass(frozen=True)
class GuardianControls:
    limits: LimitSettings = field(default_factory=LimitSettings)
    blocked_categories: frozenset[str] = frozenset()

    def as_document(self) -> dict[str, Any]:
        return {**self.limits.as_document(), "blocked_categories": sorted(self.blocked_categories)}


NO_CONTROLS = GuardianControls()


def check_controls(policy: Policy, age: int, controls: GuardianControls) -> None:
    """Refuse controls that loosen a limit for a child of ``age`` or block an unknown category.

    Raises LimitLoosened (naming the limit) or PolicyInvalid (naming the category). Limits
    exist only for minors; from 18 on, nothing is left for a guardian to set.
    """
    _check_categories(controls.blocked_categories, policy.categories)
    band = policy.limits_for_age(age)
    if band is not None:
        check_tightening(Limits.of_band(band), controls.limits, "guardian")


def limits_for(policy: Policy, age: int, controls: GuardianControls) -> Limits | None:
    """The ``limits`` claim for a subject of ``age``: the (tenant-tightened) policy band made
    stricter by the guardian's controls; None for adults."""
    band = policy.limits_for_age(age)
    if band is None:
        return None
    return strictest(Limits.of_band(band), controls.limits)


def apply_blocked(
    decisions: Mapping[str, FeatureDecision], blocked: frozenset[str]
) -> Mapping[str, FeatureDecision]:
    """``decisions`` with each category the guardian blocked turned into ``deny``
    (``guardian_blocked``); a deny the law already imposes keeps its own reason."""
    if not blocked:
        return decisions
    return MappingProxyType(
        {
            category: FeatureDecision("deny", reason=GUARDIAN_BLOCKED)
            if category in blocked and decision.decision != "deny"
            else decision
            for category, decision in decisions.items()
        }
    )


def controls_from_document(document: Mapping[str, Any], categories: tuple[str, ...]) -> GuardianControls:
    """Controls from their document shape (as stored and as the API takes them).

    Raises PolicyInvalid naming a malformed member or an unknown category.
    """
    limits = limit_settings({k: v for k, v in document.items() if k != "blocked_categories"}, "controls")
    blocked = document.get("blocked_categories", [])
    if not isinstance(blocked, list) or not all(isinstance(c, str) for c in blocked):
        raise PolicyInvalid("controls.blocked_categories: expected a list of categories")
    _check_categories(blocked, categories)
    return GuardianControls(limits, frozenset(blocked))


def _check_categories(blocked: Iterable[str], categories: tuple[str, ...]) -> None:
    for category in blocked:
        if category not in categories:
            raise PolicyInvalid(f"controls.blocked_categories: unknown category {category!r}")
