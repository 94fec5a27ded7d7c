"""The `limits` claim (contract v2 §13): carried into every Decision, refused when malformed."""

from __future__ import annotations

from typing import Any

import pytest

from agegate_verifier import Malformed, Verifier
from agegate_verifier.testing import TestIssuer

LIMITS = {"daily_minutes": 60, "curfew": {"start": "22:00", "end": "06:00"}, "single_payment_max_cny": 50, "monthly_payment_max_cny": 200}


def test_every_decision_carries_the_tokens_limits(verifier: Verifier, issuer: TestIssuer) -> None:
    token = issuer.sign(issuer.age_claims(limits=LIMITS))
    assert verifier.gate(token, "companion").limits == LIMITS
    assert verifier.gate(token, "virtual_intimacy").limits == LIMITS


def test_a_token_without_limits_gives_none(verifier: Verifier, issuer: TestIssuer) -> None:
    assert verifier.gate(issuer.token(), "companion").limits is None


@pytest.mark.parametrize(
    "limits",
    [
        [],
        {**LIMITS, "daily_minutes": -1},
        {**LIMITS, "daily_minutes": 60.0},
        {**LIMITS, "daily_minutes": True},
        {k: v for k, v in LIMITS.items() if k != "curfew"},
        {**LIMITS, "extra": 1},
        {**LIMITS, "curfew": {"start": "24:00", "end": "06:00"}},
        {**LIMITS, "curfew": {"start": "22:00"}},
        {**LIMITS, "curfew": "22:00-06:00"},
    ],
)
def test_a_malformed_limits_claim_is_refused(verifier: Verifier, issuer: TestIssuer, limits: Any) -> None:
    with pytest.raises(Malformed):
        verifier.verify(issuer.sign(issuer.age_claims(limits=limits)))
