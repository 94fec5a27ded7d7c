"""Fixtures for the consent-log tests: an Ed25519 signer with its JWKS, and a builder of
exports made the way the service makes them (chain.py + export.py)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.auditlog.chain import GENESIS, Link, next_link
from service.auditlog.export import (
    checkpoint_claims,
    checkpoint_line,
    event_line,
    sign_checkpoint,
)
from service.tokens.signing import public_jwk

TENANT = "t-acme"
ISSUER = "https://agegate.test"
IAT = 1_790_000_000


class Signer:
    """An Ed25519 key, its RFC 7638 thumbprint as kid, and a JWKS publishing it."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self.key = key or Ed25519PrivateKey.generate()
        self.jwk = public_jwk(self.key)
        self.kid = self.jwk["kid"]
        self.jwks = {"keys": [self.jwk]}


def make_event(seq: int, tenant: str = TENANT, *, nonascii: bool = False) -> dict[str, Any]:
    child, guardian = (f"孩子-{seq}", f"Zoë-“{seq}”\n") if nonascii else (f"u-{seq}", f"g-{seq}")
    return {
        "type": ("granted", "withdrawn", "expired", "subject_erased")[seq % 4],
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


class ExportBuilder:
    """Builds chains and their NDJSON exports; every knob exists for one tamper test."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def chain(self, n: int, tenant: str = TENANT, *, nonascii: bool = False) -> list[Link]:
        links: list[Link] = []
        seq, head = 0, GENESIS
        for i in range(1, n + 1):
            link = next_link(seq, head, make_event(i, tenant, nonascii=nonascii))
            links.append(link)
            seq, head = link.seq, link.hash
        return links

    def checkpoint(
        self, *, seq: int, head: str, count: int, tenant: str = TENANT,
        signer: Signer | None = None, claims: dict[str, Any] | None = None,
    ) -> bytes:
        """A checkpoint line; ``claims`` overrides what is signed, not what the line says."""
        signer = signer or self.signer
        signed = checkpoint_claims(issuer=ISSUER, tenant=tenant, seq=seq, head=head,
                                   count=count, iat=IAT)
        signed.update(claims or {})
        jws = sign_checkpoint(signed, signer.key, signer.kid)
        return checkpoint_line(seq=seq, head=head, count=count, jws=jws)

    def export(
        self, n: int, *, start: int = 1, tenant: str = TENANT, nonascii: bool = False,
        **checkpoint_kwargs: Any,
    ) -> list[bytes]:
        """Lines of an export of events ``start..n`` of a chain of ``n`` events."""
        links = self.chain(n, tenant, nonascii=nonascii)[start - 1:]
        lines = [event_line(l.seq, l.event, l.prev, l.hash) for l in links]
        if links:
            seq, head = links[-1].seq, links[-1].hash
        else:
            # Empty window: the chain's tip before it (the choice export.py documents).
            before = self.chain(start - 1, tenant)
            seq, head = (before[-1].seq, before[-1].hash) if before else (0, GENESIS)
        lines.append(self.checkpoint(seq=seq, head=head, count=len(links), tenant=tenant,
                                     **checkpoint_kwargs))
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
