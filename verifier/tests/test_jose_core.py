"""Strict base64url and JSON, the RFC 8037 and RFC 7638 vectors."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agegate_verifier import InvalidToken, Malformed, StaticKeys, jwk_thumbprint
from agegate_verifier.jose import MAX_JSON_DEPTH, b64url_decode, b64url_encode, json_object

RFC8037_JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
RFC7638_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_rfc8037_a4_signature_verifies_through_the_strict_parser() -> None:
    header, payload, signature = RFC8037_JWS.split(".")
    assert json_object(b64url_decode(header)) == {"alg": "EdDSA"}
    assert b64url_decode(payload) == b"Example of Ed25519 signing"
    private = Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_JWK["d"]))
    public = StaticKeys.from_jwks({"keys": [{**{k: RFC8037_JWK[k] for k in ("kty", "crv", "x")}, "kid": RFC7638_THUMBPRINT}]}).public_key(
        RFC7638_THUMBPRINT
    )
    assert public is not None
    public.verify(b64url_decode(signature), f"{header}.{payload}".encode())
    # Ed25519 is deterministic: signing again reproduces the published signature.
    assert b64url_encode(private.sign(f"{header}.{payload}".encode())) == signature


def test_rfc7638_thumbprint_of_the_rfc8037_key() -> None:
    public = {"crv": "Ed25519", "kty": "OKP", "x": RFC8037_JWK["x"]}
    assert jwk_thumbprint(public) == RFC7638_THUMBPRINT
    # Optional members and the private part do not change it.
    assert jwk_thumbprint({**RFC8037_JWK, "use": "sig", "kid": "whatever"}) == RFC7638_THUMBPRINT


def test_rfc7638_section_3_1_rsa_example() -> None:
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
        "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert jwk_thumbprint({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256"}) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("jwk", [{"kty": "OKP", "crv": "Ed25519"}, {"kty": "XYZ"}, {"kty": "OKP", "crv": 1, "x": "a"}])
def test_thumbprint_refuses_an_incomplete_or_unknown_key(jwk: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        jwk_thumbprint(jwk)


@pytest.mark.parametrize("size", range(0, 7))
def test_base64url_round_trips(size: int) -> None:
    data = bytes(range(250, 250 - size, -1))
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize("prefix", ["Q", "QU"])
def test_base64url_accepts_exactly_one_spelling_per_value(prefix: str) -> None:
    # Every possible last character: only the spelling the encoder produces may decode.
    for last in B64URL:
        candidate = prefix + last
        value = base64.urlsafe_b64decode(candidate + "=" * (-len(candidate) % 4))
        if b64url_encode(value) == candidate:
            assert b64url_decode(candidate) == value
        else:
            with pytest.raises(ValueError):
                b64url_decode(candidate)


@pytest.mark.parametrize(
    "segment",
    ["QQ==", "QQ=", "QUJD=", "QU JD", "QUJD\n", "QU+D", "QU/D", "QU*D", "QUJDé", "Q", "QUJDQ", "QR"],
)
def test_base64url_refuses_non_canonical_input(segment: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(segment)


@pytest.mark.parametrize("position", range(4))
def test_base64url_refuses_every_byte_outside_its_alphabet_anywhere_in_a_segment(position: int) -> None:
    outside = [byte for byte in range(256) if byte not in B64URL.encode()]
    for byte in outside:
        segment = bytearray(b"QUJD")
        segment[position] = byte
        with pytest.raises(ValueError):
            b64url_decode(bytes(segment))


def test_json_accepts_an_object_with_surrounding_whitespace(parser: str) -> None:
    assert json_object(b' \n{"a": [1, {"b": null}]}\r\n') == {"a": [1, {"b": None}]}


@pytest.mark.parametrize(
    "text",
    [
        b'{"alg":"EdDSA","alg":"none"}',
        b'{"a":{"b":1,"b":2}}',
        b'{"a":[{"x":1,"x":1}]}',
        b'{"exp":NaN}',
        b'{"exp":Infinity}',
        b'{"a":1} {"b":2}',
        b'{"a":1}x',
        b"[1,2]",
        b'"string"',
        b"",
        b'{"a":"\xff"}',
        b"{'a':1}",
    ],
)
def test_json_refuses_anything_but_one_strict_object(text: bytes, parser: str) -> None:
    with pytest.raises(ValueError):
        json_object(text)


def test_json_refuses_nesting_deeper_than_the_limit(parser: str) -> None:
    ok = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert json_object(f'{{"a":{ok}}}'.encode())
    deep = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    with pytest.raises(ValueError, match="deeply"):
        json_object(f'{{"a":{deep}}}'.encode())


def test_json_refuses_nesting_far_beyond_the_recursion_limit(parser: str) -> None:
    with pytest.raises(ValueError):
        json_object(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_json_depth_ignores_brackets_inside_strings(parser: str) -> None:
    text = json.dumps({"a": "[{" * 100, "b": [{"c": "]}" * 100}]})
    assert json_object(text.encode())["b"][0]["c"].startswith("]}")


def test_malformed_is_an_invalid_token_with_a_stable_reason() -> None:
    assert issubclass(Malformed, InvalidToken)
    assert Malformed.reason == "malformed"
    assert str(Malformed()) == "malformed"
