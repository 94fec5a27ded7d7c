"""Fixtures shared by the verifier unit tests and the attack corpus: a test issuer, a
settable clock and in-memory sources. Each of those folders' conftest.py re-exports them."""

from __future__ import annotations

import pytest

from service.verifier import Verifier
from tests.tokenkit import Clock, MemoryFetch, MemoryStatuses, TestIssuer


@pytest.fixture
def clock() -> Clock:
    return Clock(1_780_000_000)


@pytest.fixture
def issuer(clock: Clock) -> TestIssuer:
    return TestIssuer("https://agegate.example", clock=clock)


@pytest.fixture
def statuses() -> MemoryStatuses:
    return MemoryStatuses()


@pytest.fixture
def verifier(issuer: TestIssuer, statuses: MemoryStatuses, clock: Clock) -> Verifier:
    """A verifier with in-memory keys and statuses: no fetching at all."""
    return Verifier(issuer.url, issuer.audience, keys=issuer.static_keys(), statuses=statuses, clock=clock)


@pytest.fixture
def fetch(issuer: TestIssuer) -> MemoryFetch:
    """The issuer's JWKS and an all-VALID status list 1 of 16 entries, in memory."""
    uri = issuer.status_uri()
    return MemoryFetch().publish(issuer, lists={uri: issuer.status_list_token(uri, [0] * 16)})


@pytest.fixture
def http_verifier(issuer: TestIssuer, fetch: MemoryFetch, clock: Clock) -> Verifier:
    """A verifier with the default JWKS and status-list sources over ``fetch``."""
    return Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
