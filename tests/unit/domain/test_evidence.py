"""Assurance levels and GB 11643-1999 resident identity numbers (vectors from VECTORS.md)."""

from __future__ import annotations

from datetime import date

import pytest

from service.domain.errors import DomainError, InvalidResidentId
from service.domain.evidence import (
    Assurance,
    assurance_for_method,
    normalize_resident_id,
    resident_id_birth_date,
)


def test_assurance_levels_are_ranked_weakest_first() -> None:
    assert [(str(a), a.rank) for a in Assurance] == [
        ("self_declared", 0),
        ("document", 1),
        ("verified", 2),
    ]
    assert Assurance.VERIFIED.rank >= Assurance.DOCUMENT.rank > Assurance.SELF_DECLARED.rank


@pytest.mark.parametrize(
    ("method", "assurance"),
    [
        ("self_declared", Assurance.SELF_DECLARED),
        ("resident_id", Assurance.DOCUMENT),
        ("attestation", Assurance.VERIFIED),
    ],
)
def test_each_evidence_method_gives_its_assurance(method: str, assurance: Assurance) -> None:
    assert assurance_for_method(method) is assurance


@pytest.mark.parametrize("method", ["document", "verified", "", "Resident_ID"])
def test_an_unknown_evidence_method_is_refused(method: str) -> None:
    with pytest.raises(ValueError, match="unknown evidence method"):
        assurance_for_method(method)


@pytest.mark.parametrize(
    ("number", "birth_date"),
    [
        ("11010519491231002X", date(1949, 12, 31)),
        ("440524188001010014", date(1880, 1, 1)),
        ("11010219840406970X", date(1984, 4, 6)),
        ("53010219200508011X", date(1920, 5, 8)),
        # A lowercase x check character is accepted.
        ("11010519491231002x", date(1949, 12, 31)),
    ],
)
def test_a_valid_resident_id_gives_its_embedded_birth_date(number: str, birth_date: date) -> None:
    assert resident_id_birth_date(number) == birth_date


def _with_check_character(first_17: str) -> str:
    """Complete 17 digits with their ISO 7064 MOD 11-2 check character, for crafted numbers."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first_17, weights, strict=True))
    return first_17 + "10X98765432"[total % 11]


def test_the_check_character_helper_agrees_with_the_published_vectors() -> None:
    for number in ["11010519491231002X", "440524188001010014", "53010219200508011X"]:
        assert _with_check_character(number[:17]) == number


@pytest.mark.parametrize(
    "province",
    ["11", "15", "21", "23", "31", "37", "41", "46", "50", "54", "61", "65", "71", "81", "82", "83"],
)
def test_every_province_level_region_is_accepted(province: str) -> None:
    number = _with_check_character(province + "0102" + "20000101" + "123")
    assert resident_id_birth_date(number) == date(2000, 1, 1)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        # Published vectors with a wrong check character.
        ("110105194912310021", "check_character"),
        ("440524189001010014", "check_character"),
        ("11010219840506970X", "check_character"),
        ("11010519491231002Y", "characters"),
        ("1101051949123100XX", "characters"),
        ("A1010519491231002X", "characters"),
        ("11010519491231002 ", "characters"),
        ("110105-9491231002X", "characters"),
        # Digits of other scripts are not ASCII digits.
        ("١1010519491231002X", "characters"),
        ("１1010519491231002X", "characters"),
        ("", "length"),
        ("11010519491231002", "length"),
        ("11010519491231002XX", "length"),
        (" 11010519491231002X", "length"),
        # The 15-digit numbers of the first generation are not accepted.
        ("110105491231002", "length"),
        ("00010519491231002X", "region"),
        ("10010519491231002X", "region"),
        ("16010519491231002X", "region"),
        ("24010519491231002X", "region"),
        ("38010519491231002X", "region"),
        ("47010519491231002X", "region"),
        ("55010519491231002X", "region"),
        ("66010519491231002X", "region"),
        ("72010519491231002X", "region"),
        ("84010519491231002X", "region"),
        ("91010519491231002X", "region"),
        ("110105194902300021", "birth_date"),
        ("110105194913010021", "birth_date"),
        ("110105194912000021", "birth_date"),
        ("110105000001010021", "birth_date"),
        ("110105202302290021", "birth_date"),
    ],
)
def test_an_invalid_resident_id_is_refused_with_its_reason(number: str, reason: str) -> None:
    with pytest.raises(InvalidResidentId) as caught:
        resident_id_birth_date(number)
    assert caught.value.reason == reason
    assert isinstance(caught.value, DomainError)


def test_a_leap_day_birth_date_is_a_real_date_in_a_leap_year() -> None:
    assert resident_id_birth_date(_with_check_character("11010520240229123")) == date(2024, 2, 29)


def test_the_error_never_repeats_the_number() -> None:
    with pytest.raises(InvalidResidentId) as caught:
        resident_id_birth_date("110105194912310021")
    assert "110105" not in str(caught.value)
    assert str(caught.value) == "invalid resident identity number: check_character"


@pytest.mark.parametrize(
    ("number", "normalized"),
    [
        ("11010519491231002x", "11010519491231002X"),
        ("11010519491231002X", "11010519491231002X"),
        ("440524188001010014", "440524188001010014"),
        # Nothing is stripped, and only a trailing x changes.
        (" 11010519491231002x ", " 11010519491231002x "),
        ("x1010519491231002X", "x1010519491231002X"),
    ],
)
def test_normalize_resident_id_only_uppercases_a_trailing_x(number: str, normalized: str) -> None:
    assert normalize_resident_id(number) == normalized
