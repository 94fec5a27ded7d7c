"""Fixtures for the verifier's own tests: a test issuer, a settable clock, in-memory sources,
and consent-log exports written the way the service writes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agegate_verifier import CHECKPOINT_TYPE, Verifier, _jcs, _json, _lines
from agegate_verifier.chain import GENESIS, canonical_json, link_hash
from agegate_verifier.jose import compact_json, public_jwk
from agegate_verifier.testing import Clock, MemoryFetch, MemoryStatuses, TestIssuer


@pytest.fixture(params=["orjson", "standard library"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test once with the optional orjson and once as if it were not installed."""
    if request.param != "orjson":
        monkeypatch.setattr(_jcs, "_orjson", None)
        monkeypatch.setattr(_json, "_orjson", None)
        monkeypatch.setattr(_lines, "_loads", json.loads)
    yield request.param


@pytest.fixture
def clock() -> Clock:
    return Clock(1_780_000_000)


@pytest.fixture
def issuer(clock: Clock) -> TestIssuer:
    return TestIssuer("https://agegate.example", clock=clock)


@pytest.fixture
def statuses(issuer: TestIssuer) -> MemoryStatuses:
    return issuer.statuses


@pytest.fixture
def verifier(issuer: TestIssuer) -> Verifier:
    """A verifier with in-memory keys and statuses: no fetching at all."""
    return issuer.verifier()


@pytest.fixture
def fetch(issuer: TestIssuer) -> MemoryFetch:
    """The issuer's JWKS and an all-VALID status list 1 of 16 entries, in memory."""
    uri = issuer.status_uri()
    return issuer.fetch(lists={uri: issuer.status_list_token(uri, [0] * 16)})


@pytest.fixture
def http_verifier(issuer: TestIssuer, fetch: MemoryFetch, clock: Clock) -> Verifier:
    """A verifier with the default JWKS and status-list sources over ``fetch``."""
    return Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)


# Consent-log exports -------------------------------------------------------------------

TENANT = "t-acme"
LOG_ISSUER = "https://agegate.test"
IAT = 1_790_000_000


class Signer:
    """An Ed25519 key, its RFC 7638 thumbprint as kid, and a JWKS publishing it."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self.key = key or Ed25519PrivateKey.generate()
        self.jwk = public_jwk(self.key.public_key())
        self.kid = self.jwk["kid"]
        self.jwks = {"keys": [self.jwk]}


class Link(NamedTuple):
    seq: int
    event: dict[str, Any]
    prev: str
    hash: str


def make_event(seq: int, tenant: str = TENANT, *, nonascii: bool = False) -> dict[str, Any]:
    child, guardian = (f"孩子-{seq}", f"Zoë-“{seq}”\n") if nonascii else (f"u-{seq}", f"g-{seq}")
    return {
        "type": ("granted", "withdrawn", "expired", "subject_erased", "bracket_changed")[seq % 5],
        "consent_id": f"c-{seq:08d}",
        "tenant": tenant,
        "child_ref": child,
        "guardian_ref": guardian,
        "relationship": "parent",
        "scopes": ["pi_processing", "companion"],
        "method": "in_app_parent_account",
        "evidence_ref": None if seq % 3 == 0 else f"ev-{seq}",
        "notice_version": "privacy-notice-v3",
        "policy": "2026-07-15.1",
        "occurred_at": "2026-07-15T08:00:00Z",
        "recorded_at": f"2026-07-15T08:{seq % 60:02d}:01Z",
        "client_id": "cl-app",
    }


def event_line(link: Link) -> bytes:
    """An event line as the service writes it: the event spliced in as its JCS bytes."""
    return b'{"kind":"event","seq":%d,"event":%s,"prev":"%s","hash":"%s"}\n' % (
        link.seq, canonical_json(link.event), link.prev.encode(), link.hash.encode())


class ExportBuilder:
    """Builds chains and their NDJSON exports; every knob exists for one tamper test."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    @staticmethod
    def checkpoint_line(*, seq: int, head: str, count: int, jws: str) -> bytes:
        return compact_json({"kind": "checkpoint", "seq": seq, "head": head, "count": count, "jws": jws}) + b"\n"

    def chain(self, n: int, tenant: str = TENANT, *, nonascii: bool = False) -> list[Link]:
        links: list[Link] = []
        head = GENESIS
        for seq in range(1, n + 1):
            event = make_event(seq, tenant, nonascii=nonascii)
            links.append(Link(seq, event, head, link_hash(head, event)))
            head = links[-1].hash
        return links

    def checkpoint(self, *, seq: int, head: str, count: int, tenant: str = TENANT,
                   signer: Signer | None = None, claims: dict[str, Any] | None = None) -> bytes:
        """A checkpoint line; ``claims`` overrides what is signed, not what the line says."""
        signer = signer or self.signer
        signed = {"iss": LOG_ISSUER, "tenant": tenant, "seq": seq, "head": head, "count": count, "iat": IAT}
        signed.update(claims or {})
        issuer = TestIssuer(LOG_ISSUER, key=signer.key)
        jws = issuer.sign(signed, header={"alg": "EdDSA", "typ": CHECKPOINT_TYPE, "kid": signer.kid})
        return self.checkpoint_line(seq=seq, head=head, count=count, jws=jws)

    def export(self, n: int, *, start: int = 1, tenant: str = TENANT, nonascii: bool = False,
               **checkpoint_kwargs: Any) -> list[bytes]:
        """Lines of an export of events ``start..n`` of a chain of ``n`` events."""
        links = self.chain(n, tenant, nonascii=nonascii)[start - 1:]
        lines = [event_line(link) for link in links]
        if links:
            seq, head = links[-1].seq, links[-1].hash
        else:
            # Empty window: the chain's tip before it (what the service exports).
            before = self.chain(start - 1, tenant)
            seq, head = (before[-1].seq, before[-1].hash) if before else (0, GENESIS)
        lines.append(self.checkpoint(seq=seq, head=head, count=len(links), tenant=tenant, **checkpoint_kwargs))
        return lines


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture
def exports(signer: Signer) -> ExportBuilder:
    return ExportBuilder(signer)


@pytest.fixture
def new_signer() -> type[Signer]:
    """Make further signers: another key, or another key under a borrowed kid."""
    return Signer
