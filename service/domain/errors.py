"""Errors raised by the domain layer.

Each error carries the facts of the refusal as attributes (a reason code, the category, the
rule and its legal basis) and a readable ``str()``. None of them knows about HTTP: the API
layer maps error types to statuses in one table.

No message ever contains a birth date or a resident identity number, so an error can be
logged as it is.
"""

from __future__ import annotations

from typing import Literal

BirthDateReason = Literal["in_future", "before_1900", "over_130"]
ResidentIdReason = Literal["length", "characters", "region", "birth_date", "check_character"]
ConsentRule = Literal[
    "child_not_minor",
    "guardian_not_adult",
    "guardian_assurance_too_low",
    "guardian_is_child",
    "no_scopes",
]


class DomainError(Exception):
    """Base class of every refusal the domain layer makes."""


class ImplausibleBirthDate(DomainError):
    """A birth date no living subject can have.

    ``reason`` is ``"in_future"``, ``"before_1900"`` or ``"over_130"``.
    """

    def __init__(self, reason: BirthDateReason) -> None:
        self.reason: BirthDateReason = reason
        super().__init__(f"implausible birth date: {reason}")


class InvalidResidentId(DomainError):
    """A string that is not a well-formed GB 11643-1999 resident identity number.

    ``reason`` is ``"length"``, ``"characters"``, ``"region"``, ``"birth_date"`` or
    ``"check_character"``. The number itself is deliberately not kept.
    """

    def __init__(self, reason: ResidentIdReason) -> None:
        self.reason: ResidentIdReason = reason
        super().__init__(f"invalid resident identity number: {reason}")


class BannedCategory(DomainError):
    """A feature category the policy denies outright for a bracket; no consent can lift it."""

    def __init__(self, category: str, bracket: str, rule: str, basis: str) -> None:
        self.category = category
        self.bracket = bracket
        self.rule = rule
        self.basis = basis
        super().__init__(f"{category} is banned for {bracket} ({rule}, {basis})")


class NotConsentable(DomainError):
    """A category a guardian cannot consent to for a bracket (not marked C, or unknown)."""

    def __init__(self, category: str, bracket: str) -> None:
        self.category = category
        self.bracket = bracket
        super().__init__(f"{category} is not open to guardian consent for {bracket}")


class ConsentNotAllowed(DomainError):
    """A guardian consent request that breaks one of the rules of who may consent for whom.

    ``rule`` is ``"child_not_minor"``, ``"guardian_not_adult"``,
    ``"guardian_assurance_too_low"``, ``"guardian_is_child"`` or ``"no_scopes"``.
    """

    def __init__(self, rule: ConsentRule, detail: str) -> None:
        self.rule: ConsentRule = rule
        self.detail = detail
        super().__init__(f"consent not allowed ({rule}): {detail}")


class AudienceOfAnotherTenant(DomainError):
    """A token asked for an audience (persona service) that another tenant registered: an
    audience belongs to one tenant, and only that tenant's tokens may name it."""

    def __init__(self, audience: str) -> None:
        self.audience = audience
        super().__init__(f"the audience {audience} belongs to another tenant")


class PolicyInvalid(DomainError):
    """A policy document that cannot be loaded or breaks the policy schema."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"invalid policy: {detail}")


class LimitLoosened(DomainError):
    """A limit set looser than the law's or the tenant's default; guardians and tenants may
    only tighten (POLICY.md, limits by age band). ``who`` is ``"guardian"`` or ``"tenant"``."""

    def __init__(self, limit: str, who: str, allowed: str) -> None:
        self.limit = limit
        self.who = who
        self.allowed = allowed
        super().__init__(f"{limit}: a {who} may only tighten it (at most {allowed})")


class PolicyLoosened(DomainError):
    """A tenant policy override that would loosen a rule of the policy; ``where`` names it
    (``rules.minor.digital_human.decision``)."""

    def __init__(self, where: str, detail: str) -> None:
        self.where = where
        self.detail = detail
        super().__init__(f"{where}: {detail}")


class InvalidDuration(DomainError):
    """A clock advance that is not an ISO 8601 duration of whole numbers, or out of bounds."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class SandboxOnly(DomainError):
    """A sandbox operation (CONTRACT §15) asked for by a client of a production tenant."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        super().__init__(
            f"tenant {tenant!r} is a production tenant: its clock is the real one and its people are real; "
            "the sandbox's operations are for sandbox tenants only (agegate clients create --sandbox)"
        )
