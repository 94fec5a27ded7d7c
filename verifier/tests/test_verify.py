"""Verifier.verify and Verifier.gate: the happy paths, the cache, time, status, logging."""

from __future__ import annotations

import gc
import logging

import pytest

from agegate_verifier import (
    Decision,
    Expired,
    Malformed,
    NotYetValid,
    Revoked,
    StatusUnavailable,
    Verifier,
    WrongAudience,
)
from agegate_verifier.testing import Clock, MemoryStatuses, RecordingKeys, TestIssuer


def test_verifies_a_token_and_returns_its_claims(verifier: Verifier, issuer: TestIssuer) -> None:
    claims = issuer.age_claims()
    assert verifier.verify(issuer.sign(claims)) == claims


def test_accepts_the_rfc9864_algorithm_name(verifier: Verifier, issuer: TestIssuer) -> None:
    token = issuer.sign(issuer.age_claims(), header=issuer.header(alg="Ed25519"))
    assert verifier.verify(token)["iss"] == issuer.url


def test_gate_allows_with_the_obligations(verifier: Verifier, issuer: TestIssuer) -> None:
    assert verifier.gate(issuer.token(), "companion") == Decision(True, "allow", ("minor_mode",), None)


def test_gate_denies_with_the_policy_reason(verifier: Verifier, issuer: TestIssuer) -> None:
    assert verifier.gate(issuer.token(), "virtual_intimacy") == Decision(False, "deny", (), "minor_ban")


def test_gate_does_not_allow_what_needs_consent(verifier: Verifier, issuer: TestIssuer) -> None:
    decision = verifier.gate(issuer.token(), "digital_human")
    assert (decision.allowed, decision.decision) == (False, "needs_consent")


def test_gate_denies_a_feature_the_token_does_not_mention(verifier: Verifier, issuer: TestIssuer) -> None:
    assert verifier.gate(issuer.token(), "time_travel") == Decision(False, "deny", (), "unknown_feature")


def test_gate_turns_an_invalid_token_into_a_denial(verifier: Verifier, issuer: TestIssuer) -> None:
    token = issuer.token(aud="someone-else")
    assert verifier.gate(token, "companion") == Decision(False, "deny", (), WrongAudience.reason)


@pytest.mark.parametrize("token", [None, 42, b"abc", "", "a.b", "a.b.c.d"])
def test_gate_never_raises_for_garbage(verifier: Verifier, token: object) -> None:
    assert verifier.gate(token, "companion").reason == "malformed"  # type: ignore[arg-type]


def test_a_repeated_token_costs_no_key_lookup(issuer: TestIssuer, statuses: MemoryStatuses, clock: Clock) -> None:
    keys = RecordingKeys(issuer.keys())
    verifier = Verifier(issuer.url, issuer.audience, keys=keys, statuses=statuses, clock=clock)
    token = issuer.token()
    for _ in range(3):
        verifier.verify(token)
        verifier.gate(token, "companion")
    assert keys.calls == [issuer.kid]
    assert statuses.calls == 6  # but the status is checked every time


def test_a_cached_token_still_expires(verifier: Verifier, issuer: TestIssuer, clock: Clock) -> None:
    token = issuer.token()
    verifier.verify(token)
    clock.advance(599)
    verifier.verify(token)
    clock.advance(1)
    with pytest.raises(Expired):
        verifier.verify(token)
    assert verifier.gate(token, "companion").reason == "expired"


def test_a_cached_token_is_revoked_as_soon_as_its_status_says_so(
    verifier: Verifier, issuer: TestIssuer, statuses: MemoryStatuses
) -> None:
    token = issuer.token()
    assert verifier.gate(token, "companion").allowed
    statuses.values[(issuer.status_uri(), 0)] = 1
    with pytest.raises(Revoked):
        verifier.verify(token)
    assert verifier.gate(token, "companion").reason == "revoked"
    statuses.fail = True
    with pytest.raises(StatusUnavailable):
        verifier.verify(token)


def test_a_token_not_yet_valid_becomes_valid(verifier: Verifier, issuer: TestIssuer, clock: Clock) -> None:
    now = int(clock())
    token = issuer.token(nbf=now + 100)
    with pytest.raises(NotYetValid):
        verifier.verify(token)
    clock.advance(40)  # within the 60 s leeway of nbf
    assert verifier.verify(token)["nbf"] == now + 100


def test_leeway_never_extends_exp(verifier: Verifier, issuer: TestIssuer, clock: Clock) -> None:
    now = int(clock())
    with pytest.raises(Expired):
        verifier.verify(issuer.token(iat=now - 100, nbf=now - 100, exp=now - 1))


def test_a_zero_leeway_verifier_refuses_a_token_from_one_second_ahead(issuer: TestIssuer, clock: Clock) -> None:
    verifier = Verifier(issuer.url, issuer.audience, leeway=0, keys=issuer.keys(), statuses=MemoryStatuses(), clock=clock)
    with pytest.raises(NotYetValid):
        verifier.verify(issuer.token(iat=int(clock()) + 1))


@pytest.mark.parametrize("leeway", [-1, 61, 3600, True])
def test_refuses_a_leeway_beyond_sixty_seconds(issuer: TestIssuer, leeway: float) -> None:
    with pytest.raises(ValueError):
        Verifier(issuer.url, issuer.audience, leeway=leeway, keys=issuer.keys(), statuses=MemoryStatuses())


@pytest.mark.parametrize("url", ["file:///etc/passwd", "agegate.example", "ftp://agegate.example"])
def test_refuses_an_issuer_that_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        Verifier(url, "persona-chat")


def test_the_cache_is_bounded_and_least_recently_used(issuer: TestIssuer, clock: Clock) -> None:
    keys = RecordingKeys(issuer.keys())
    verifier = Verifier(issuer.url, issuer.audience, keys=keys, statuses=MemoryStatuses(), clock=clock, cache_size=2)
    first, second, third = issuer.token(), issuer.token(), issuer.token()
    verifier.verify(first)
    verifier.verify(second)
    verifier.verify(first)  # first is now the most recently used
    verifier.verify(third)  # evicts second
    assert len(keys.calls) == 3
    verifier.verify(first)
    assert len(keys.calls) == 3
    verifier.verify(second)
    assert len(keys.calls) == 4


def test_returned_claims_do_not_alias_the_cache(verifier: Verifier, issuer: TestIssuer) -> None:
    token = issuer.token()
    verifier.verify(token)["aud"] = "tampered"
    assert verifier.verify(token)["aud"] == issuer.audience


def test_logs_kid_jti_and_reason_but_never_the_token(
    verifier: Verifier, issuer: TestIssuer, statuses: MemoryStatuses, caplog: pytest.LogCaptureFixture
) -> None:
    claims = issuer.age_claims()
    token = issuer.sign(claims)
    statuses.values[(issuer.status_uri(), 0)] = 1
    with caplog.at_level(logging.INFO, logger="agegate.verifier"):
        verifier.gate(token, "companion")
        verifier.gate(issuer.token(aud="other"), "companion")
    text = caplog.text
    assert "reason=revoked" in text and issuer.kid in text and claims["jti"] in text
    assert "reason=wrong_audience" in text
    for segment in token.split("."):
        assert segment not in text


def test_a_token_seen_again_gives_the_same_claims_and_decisions(verifier: Verifier, issuer: TestIssuer) -> None:
    claims = issuer.age_claims()
    token = issuer.sign(claims)
    first = [verifier.gate(token, name) for name in ("companion", "virtual_intimacy", "nope")]
    assert verifier.verify(token) == claims  # parsed again from the cached payload
    assert [verifier.gate(token, name) for name in ("companion", "virtual_intimacy", "nope")] == first
    assert verifier.verify(token) == claims


def test_a_token_seen_once_leaves_nothing_the_garbage_collector_walks(verifier: Verifier, issuer: TestIssuer) -> None:
    # Thousands of tokens a busy verifier sees once each sit in its cache: as plain records
    # of strings and numbers the cyclic collector untracks them at its first pass.
    token = issuer.token()
    verifier.verify(token)
    gc.collect()
    assert not any(gc.is_tracked(value) for value in verifier._cache.values())
    verifier.gate(token, "companion")  # seen again: now an entry that keeps its decisions
    assert verifier.gate(token, "companion") is verifier.gate(token, "companion")


def test_verify_and_gate_answers_both_from_one_check(verifier: Verifier, issuer: TestIssuer) -> None:
    claims = issuer.age_claims()
    token = issuer.sign(claims)
    for _ in range(2):  # first seen, then from the cache
        for feature in ("companion", "virtual_intimacy", "nope"):
            assert verifier.verify_and_gate(token, feature) == (claims, verifier.gate(token, feature))


def test_verify_and_gate_raises_what_verify_raises(verifier: Verifier, issuer: TestIssuer, clock: Clock) -> None:
    with pytest.raises(WrongAudience):
        verifier.verify_and_gate(issuer.token(aud="someone-else"), "companion")
    token = issuer.token()
    verifier.verify_and_gate(token, "companion")
    clock.advance(3600)
    with pytest.raises(Expired):
        verifier.verify_and_gate(token, "companion")


def test_a_feature_set_equal_to_one_seen_before_is_compared_not_trusted(verifier: Verifier, issuer: TestIssuer) -> None:
    # The verifier remembers feature sets that passed and skips walking an equal one; what
    # it remembers must be its own copy, and equality must not pass a value of another type.
    features = verifier.verify(issuer.token())["features"]
    features["companion"]["decision"] = "maybe"  # the caller mutates what it was given
    with pytest.raises(Malformed):
        verifier.verify(issuer.token(features=features))
    for decision in (1, ["allow"], None):
        with pytest.raises(Malformed):
            verifier.verify(issuer.token(features={**features, "companion": {"decision": decision}}))
    features["companion"] = {"decision": "allow", "obligations": ["minor_mode", 1]}
    with pytest.raises(Malformed):
        verifier.verify(issuer.token(features=features))
    assert verifier.verify(issuer.token())["features"] == issuer.age_claims()["features"]
