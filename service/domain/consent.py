"""Guardian consent rules (PIPL Art. 31, Interim Measures Art. 14): who may consent, for
whom, to what, and what a recorded consent still counts for.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from service.domain.brackets import Bracket
from service.domain.errors import ConsentNotAllowed
from service.domain.evidence import Assurance
from service.domain.policy import Policy

_CHILD_BRACKETS = frozenset({Bracket.UNDER_14, Bracket.MINOR})
_GUARDIAN_BRACKETS = frozenset({Bracket.ADULT, Bracket.OLDER})
_GUARDIAN_MIN_ASSURANCE = Assurance.DOCUMENT


class Relationship(enum.StrEnum):
    """How the consenting guardian is related to the child."""

    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"
    OTHER_GUARDIAN = "other_guardian"


@dataclass(frozen=True)
class ConsentTerms:
    """What a guardian is asked for a child, and answers: the one spelling of a consent's shape.

    A grant records these terms; a refusal logs them with the refused scopes. Refs are the
    tenant's opaque ids; no field holds personal data.
    """

    child_ref: str
    guardian_ref: str
    relationship: Relationship
    scopes: tuple[str, ...]
    method: str
    evidence_ref: str
    notice_version: str
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        # Entry points hand over what they parsed: "parent" and a list are accepted and kept
        # as Relationship and tuple, so equal terms compare and hash equal. An unknown
        # relationship raises ValueError; a naive expiry too (it would be read in UTC by one
        # database and in local time by another).
        object.__setattr__(self, "relationship", Relationship(self.relationship))
        object.__setattr__(self, "scopes", tuple(self.scopes))
        if self.expires_at is not None and self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be a timezone-aware datetime")

    def described(self) -> dict[str, object]:
        """The terms as JSON shows them, but for `expires_at` (an instant, which each caller spells)."""
        values = {field.name: getattr(self, field.name) for field in fields(self) if field.name != "expires_at"}
        return {**values, "relationship": self.relationship.value, "scopes": list(self.scopes)}


class ConsentStatus(enum.StrEnum):
    """The status of a recorded consent at an instant."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


def check_consent_request(
    *,
    policy: Policy,
    child_bracket: Bracket,
    guardian_bracket: Bracket,
    guardian_assurance: Assurance,
    child_ref: str,
    guardian_ref: str,
    scopes: Sequence[str],
) -> None:
    """Refuse a guardian consent request that POLICY.md "Guardian consent" does not allow.

    Raises ConsentNotAllowed with the first broken rule, in this order: ``child_not_minor``,
    ``guardian_is_child``, ``guardian_not_adult``, ``guardian_assurance_too_low``,
    ``no_scopes``; then, from ``policy.check_consent_scopes``, BannedCategory for a category
    denied outright or NotConsentable for one not marked C for the child's bracket.
    """
    check_guardian(
        child_bracket=child_bracket,
        guardian_bracket=guardian_bracket,
        guardian_assurance=guardian_assurance,
        child_ref=child_ref,
        guardian_ref=guardian_ref,
    )
    if not scopes:
        raise ConsentNotAllowed("no_scopes", "a consent must cover at least one category")
    policy.check_consent_scopes(child_bracket, scopes)


def check_guardian(
    *,
    child_bracket: Bracket,
    guardian_bracket: Bracket,
    guardian_assurance: Assurance,
    child_ref: str,
    guardian_ref: str,
) -> None:
    """Refuse a guardian who may not act for the child: the who-may-consent rules of POLICY.md,
    which also decide who may set the child's guardian controls.

    Raises ConsentNotAllowed with the first broken rule: ``child_not_minor``,
    ``guardian_is_child``, ``guardian_not_adult``, ``guardian_assurance_too_low``.
    """
    if child_bracket not in _CHILD_BRACKETS:
        raise ConsentNotAllowed("child_not_minor", f"the child is {child_bracket}, not a minor")
    if guardian_ref == child_ref:
        raise ConsentNotAllowed("guardian_is_child", "the guardian and the child are one subject")
    if guardian_bracket not in _GUARDIAN_BRACKETS:
        raise ConsentNotAllowed(
            "guardian_not_adult", f"the guardian is {guardian_bracket}, not an adult"
        )
    if guardian_assurance.rank < _GUARDIAN_MIN_ASSURANCE.rank:
        raise ConsentNotAllowed(
            "guardian_assurance_too_low",
            f"the guardian's age is {guardian_assurance}; "
            f"consent needs {_GUARDIAN_MIN_ASSURANCE} or stronger",
        )


def consent_status(
    *, expires_at: datetime | None, ended_kind: str | None, at: datetime
) -> ConsentStatus:
    """Return a consent's status at the instant ``at``.

    A recorded ending (``ended_kind`` ``"withdrawn"`` or ``"expired"``) decides; otherwise the
    consent is expired from ``expires_at`` on (inclusive) and active before. Raises
    ValueError for another ``ended_kind`` or a naive ``at`` or ``expires_at``.
    """
    for name, instant in (("at", at), ("expires_at", expires_at)):
        if instant is not None and instant.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime")
    if ended_kind is not None:
        if ended_kind == ConsentStatus.ACTIVE:
            raise ValueError("an ending cannot be 'active'")
        return ConsentStatus(ended_kind)
    if expires_at is not None and at >= expires_at:
        return ConsentStatus.EXPIRED
    return ConsentStatus.ACTIVE


def effective_scopes(
    policy: Policy, child_bracket: Bracket, active_scopes: Iterable[str]
) -> frozenset[str]:
    """Return the scopes of a child's active consents that still count in ``child_bracket``.

    Consent recorded under 14 keeps counting after the 14th birthday only for categories the
    minor column still marks C; from 18 on none counts.
    """
    return policy.consentable(child_bracket).intersection(active_scopes)


def earliest_expiry(expiries: Iterable[datetime | None]) -> datetime | None:
    """Return the earliest of ``expiries``, ignoring None (no expiry); None if none is set."""
    return min((expiry for expiry in expiries if expiry is not None), default=None)
