"""Domain errors carry facts as attributes and read well; none knows about HTTP."""

from __future__ import annotations

import pytest

from service.domain.errors import (
    BannedCategory,
    ConsentNotAllowed,
    DomainError,
    ImplausibleBirthDate,
    InvalidResidentId,
    NotConsentable,
    PolicyInvalid,
)


@pytest.mark.parametrize(
    ("error", "facts", "text"),
    [
        (ImplausibleBirthDate("over_130"), {"reason": "over_130"}, "implausible birth date: over_130"),
        (
            InvalidResidentId("region"),
            {"reason": "region"},
            "invalid resident identity number: region",
        ),
        (
            BannedCategory("virtual_intimacy", "minor", "minor_ban", "Interim Measures Art. 14"),
            {
                "category": "virtual_intimacy",
                "bracket": "minor",
                "rule": "minor_ban",
                "basis": "Interim Measures Art. 14",
            },
            "virtual_intimacy is banned for minor (minor_ban, Interim Measures Art. 14)",
        ),
        (
            NotConsentable("companion", "minor"),
            {"category": "companion", "bracket": "minor"},
            "companion is not open to guardian consent for minor",
        ),
        (
            ConsentNotAllowed("no_scopes", "a consent must cover at least one category"),
            {"rule": "no_scopes", "detail": "a consent must cover at least one category"},
            "consent not allowed (no_scopes): a consent must cover at least one category",
        ),
        (PolicyInvalid("version: missing"), {"detail": "version: missing"}, "invalid policy: version: missing"),
    ],
    ids=[
        "ImplausibleBirthDate",
        "InvalidResidentId",
        "BannedCategory",
        "NotConsentable",
        "ConsentNotAllowed",
        "PolicyInvalid",
    ],
)
def test_each_error_carries_its_facts_and_a_readable_message(
    error: DomainError, facts: dict[str, str], text: str
) -> None:
    assert isinstance(error, DomainError)
    # Exactly these facts: in particular no HTTP status, which is the API layer's business.
    assert vars(error) == facts
    assert str(error) == text

