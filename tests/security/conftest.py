"""Fixtures for the token attack corpus: a test issuer, a settable clock, in-memory sources."""

from tests.verifier_fixtures import clock, fetch, http_verifier, issuer, statuses, verifier  # noqa: F401
