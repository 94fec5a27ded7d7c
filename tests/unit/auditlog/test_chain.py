"""The hash rule (chain.py) and the line formats (export.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from types import MappingProxyType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.auditlog.chain import (
    CONSENT_EVENT_FIELDS,
    EVENT_TYPES,
    GENESIS,
    Link,
    canonical,
    check_event,
    link_hash,
    next_link,
)
from service.auditlog.export import (
    checkpoint_claims,
    checkpoint_line,
    event_line,
    sign_checkpoint,
)

CHILD_EVENT = {
    "type": "granted", "consent_id": "c-1", "tenant": "t", "child_ref": "孩子",
    "guardian_ref": "g\"1\"", "relationship": "parent", "scopes": ["companion"],
    "method": "in_app_parent_account", "evidence_ref": None, "notice_version": "v3",
    "policy": "2026-07-15.1", "occurred_at": "2026-07-15T08:00:00Z",
    "recorded_at": "2026-07-15T08:00:01Z", "client_id": "cl",
}
# Written by hand from RFC 8785: keys sorted, no whitespace, raw UTF-8, \" escaped.
CHILD_EVENT_JCS = (
    '{"child_ref":"孩子","client_id":"cl","consent_id":"c-1","evidence_ref":null,'
    '"guardian_ref":"g\\"1\\"","method":"in_app_parent_account","notice_version":"v3",'
    '"occurred_at":"2026-07-15T08:00:00Z","policy":"2026-07-15.1",'
    '"recorded_at":"2026-07-15T08:00:01Z","relationship":"parent","scopes":["companion"],'
    '"tenant":"t","type":"granted"}'
).encode("utf-8")


def test_genesis_is_64_zeros_and_the_field_list_is_the_contracts() -> None:
    assert GENESIS == "0" * 64
    assert CONSENT_EVENT_FIELDS == (
        "type", "consent_id", "tenant", "child_ref", "guardian_ref", "relationship", "scopes",
        "method", "evidence_ref", "notice_version", "policy", "occurred_at", "recorded_at",
        "client_id",
    )
    assert EVENT_TYPES[:5] == ("granted", "declined", "withdrawn", "expired", "subject_erased")


def test_canonical_is_rfc8785_for_any_mapping() -> None:
    assert canonical(CHILD_EVENT) == CHILD_EVENT_JCS
    assert canonical(MappingProxyType(CHILD_EVENT)) == CHILD_EVENT_JCS


def test_link_hash_is_sha256_of_prev_bytes_then_jcs() -> None:
    prev = "ab" * 32
    expected = hashlib.sha256(bytes.fromhex(prev) + CHILD_EVENT_JCS).hexdigest()
    assert link_hash(prev, CHILD_EVENT) == expected


@pytest.mark.parametrize("prev", ["AB" * 32, "ab" * 31, "ab" * 33, "zz" * 32, 0, None, ""])
def test_link_hash_refuses_a_prev_that_is_not_64_lowercase_hex(prev: object) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        link_hash(prev, CHILD_EVENT)  # type: ignore[arg-type]


def test_link_hash_refuses_values_jcs_cannot_represent() -> None:
    with pytest.raises(ValueError):
        link_hash(GENESIS, {**CHILD_EVENT, "client_id": 2**53})


def test_next_link_starts_a_chain_from_genesis_and_links_each_to_the_last() -> None:
    withdrawn = {**CHILD_EVENT, "type": "withdrawn"}
    first = next_link(0, GENESIS, CHILD_EVENT)
    second = next_link(first.seq, first.hash, withdrawn)
    assert first == Link(1, CHILD_EVENT, GENESIS, link_hash(GENESIS, CHILD_EVENT))
    assert (second.seq, second.prev) == (2, first.hash)
    assert second.hash == link_hash(first.hash, withdrawn)


@pytest.mark.parametrize(
    ("seq_head", "head"), [(0, "ab" * 32), (3, GENESIS), (-1, GENESIS), (True, "ab" * 32)]
)
def test_next_link_refuses_a_tip_that_cannot_be_a_chains(seq_head: int, head: str) -> None:
    with pytest.raises(ValueError):
        next_link(seq_head, head, CHILD_EVENT)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({k: v for k, v in CHILD_EVENT.items() if k != "policy"}, "missing \\['policy'\\]"),
        ({**CHILD_EVENT, "seq": 1}, "unexpected \\['seq'\\]"),
        ({**CHILD_EVENT, "type": "updated"}, "event type 'updated'"),
        ({**CHILD_EVENT, "tenant": ""}, "tenant"),
        (["not", "an", "object"], "not a JSON object"),
    ],
)
def test_check_event_names_what_is_wrong(event: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_event(event)
    with pytest.raises(ValueError, match=message):
        next_link(0, GENESIS, event)  # type: ignore[arg-type]


def test_event_line_is_compact_utf8_json_ending_in_a_newline() -> None:
    line = event_line(7, CHILD_EVENT, GENESIS, "ab" * 32)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert "孩子".encode() in line and b", " not in line
    assert json.loads(line) == {
        "kind": "event", "seq": 7, "event": CHILD_EVENT, "prev": GENESIS, "hash": "ab" * 32
    }


def test_checkpoint_line_carries_seq_head_count_and_the_jws() -> None:
    line = checkpoint_line(seq=3, head="ab" * 32, count=2, jws="a.b.c")
    head = b"ab" * 32
    assert line == b'{"kind":"checkpoint","seq":3,"head":"%s","count":2,"jws":"a.b.c"}\n' % head


def test_checkpoint_claims_hold_exactly_the_contract_members() -> None:
    claims = checkpoint_claims(issuer="https://i", tenant="t", seq=3, head="ab" * 32,
                               count=2, iat=10)
    assert claims == {"iss": "https://i", "tenant": "t", "seq": 3, "head": "ab" * 32,
                      "count": 2, "iat": 10}
    assert checkpoint_claims(issuer="i", tenant="t", seq=0, head=GENESIS, count=0, iat=0)


@pytest.mark.parametrize(
    ("seq", "head", "count"),
    [(-1, GENESIS, 0), (2, "ab" * 32, 3), (0, "ab" * 32, 0), (2, GENESIS, 1),
     (2, "AB" * 32, 1), (True, "ab" * 32, 1)],
)
def test_checkpoint_claims_refuse_values_no_chain_has(seq: int, head: str, count: int) -> None:
    with pytest.raises(ValueError):
        checkpoint_claims(issuer="i", tenant="t", seq=seq, head=head, count=count, iat=1)


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_sign_checkpoint_makes_an_unpadded_eddsa_jws_over_the_claims() -> None:
    key = Ed25519PrivateKey.generate()
    claims = checkpoint_claims(issuer="i", tenant="t", seq=1, head="ab" * 32, count=1, iat=5)
    jws = sign_checkpoint(claims, key, "kid-1")
    header, payload, signature = jws.split(".")
    assert "=" not in jws
    assert json.loads(_b64decode(header)) == {
        "alg": "EdDSA", "typ": "log-checkpoint+jwt", "kid": "kid-1"
    }
    assert json.loads(_b64decode(payload)) == claims
    key.public_key().verify(_b64decode(signature), f"{header}.{payload}".encode())


def test_sign_checkpoint_refuses_claims_other_than_the_contracts() -> None:
    claims = checkpoint_claims(issuer="i", tenant="t", seq=1, head="ab" * 32, count=1, iat=5)
    with pytest.raises(ValueError, match="exactly"):
        sign_checkpoint({**claims, "exp": 9}, Ed25519PrivateKey.generate(), "k")
