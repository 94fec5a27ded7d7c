"""Evidence of age: assurance levels and PRC resident identity numbers (GB 11643-1999).

Functions here never log or keep the number they are given; errors name only the reason.
"""

from __future__ import annotations

import enum
from datetime import date

from service.domain.errors import InvalidResidentId


class Assurance(enum.StrEnum):
    """How a subject's age was established, weakest first."""

    SELF_DECLARED = "self_declared"
    DOCUMENT = "document"
    VERIFIED = "verified"

    @property
    def rank(self) -> int:
        """Strength of the assurance: 0, 1, 2 in declaration order, for ``>=`` comparisons."""
        return _RANKS[self]


_RANKS = {assurance: rank for rank, assurance in enumerate(Assurance)}

_ASSURANCE_BY_METHOD = {
    "self_declared": Assurance.SELF_DECLARED,
    "resident_id": Assurance.DOCUMENT,
    "attestation": Assurance.VERIFIED,
}


def assurance_for_method(method: str) -> Assurance:
    """Return the assurance an evidence ``method`` gives; raise ValueError for an unknown one."""
    try:
        return _ASSURANCE_BY_METHOD[method]
    except KeyError:
        raise ValueError(f"unknown evidence method: {method!r}") from None


_DIGITS = frozenset("0123456789")
# GB/T 2260 province-level codes: the first two digits of every real region code.
_PROVINCE_CODES = frozenset(
    ["11", "12", "13", "14", "15", "21", "22", "23"]
    + [str(code) for code in range(31, 38)]
    + [str(code) for code in range(41, 47)]
    + [str(code) for code in range(50, 55)]
    + [str(code) for code in range(61, 66)]
    + ["71", "81", "82", "83"]
)
# ISO 7064 MOD 11-2 as GB 11643-1999 tabulates it.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


def normalize_resident_id(number: str) -> str:
    """Return ``number`` with a trailing lowercase ``x`` uppercased; nothing else changes."""
    if number.endswith("x"):
        return number[:-1] + "X"
    return number


def resident_id_check_character(first17: str) -> str:
    """The GB 11643-1999 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def resident_id_birth_date(number: str, *, any_region: bool = False) -> date:
    """Validate an 18-character resident identity number and return its embedded birth date.

    A lowercase ``x`` check character is accepted. Raises InvalidResidentId with the first
    failing check, in this order: ``length``, ``characters`` (17 ASCII digits then a digit or
    X), ``region`` (unknown province prefix; skipped with ``any_region``, as sandbox tenants
    ask: their test identities carry region 99, which no real person has), ``birth_date``
    (not a calendar date), ``check_character``. Whether the date is plausible is
    check_birth_date's business.
    """
    number = normalize_resident_id(number)
    if len(number) != 18:
        raise InvalidResidentId("length")
    # str.isdigit() would also accept other scripts' digits, such as "٣".
    if not (_DIGITS.issuperset(number[:17]) and (number[17] in _DIGITS or number[17] == "X")):
        raise InvalidResidentId("characters")
    if not any_region and number[:2] not in _PROVINCE_CODES:
        raise InvalidResidentId("region")
    try:
        birth_date = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidResidentId("birth_date") from None
    if number[17] != resident_id_check_character(number[:17]):
        raise InvalidResidentId("check_character")
    return birth_date
