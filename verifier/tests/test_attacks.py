"""The token attack corpus (VECTORS.md, "Token attack classes" 1-11) against the offline verifier.

Every forged token here is built by hand (``hmac``, raw segments, a real second key): no
JOSE library is trusted to produce the attack faithfully.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agegate_verifier import (
    MAX_TOKEN_BYTES,
    BadSignature,
    Expired,
    InvalidToken,
    Malformed,
    NotYetValid,
    Revoked,
    StaticKeys,
    StatusUnavailable,
    TooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    Verifier,
    WrongAudience,
    WrongIssuer,
    WrongType,
    jwk_thumbprint,
)
from agegate_verifier.forgeries import hs256, json_segment
from agegate_verifier.jose import b64url_decode, json_object
from agegate_verifier.jose import b64url_encode as b64url
from agegate_verifier.testing import DROP, Clock, MemoryFetch, MemoryStatuses, RecordingKeys, TestIssuer


def segments(token: str) -> list[str]:
    return token.split(".")


@pytest.fixture
def keys(issuer: TestIssuer) -> RecordingKeys:
    return RecordingKeys(issuer.keys())


@pytest.fixture
def guarded(issuer: TestIssuer, keys: RecordingKeys, statuses: MemoryStatuses, clock: Clock) -> Verifier:
    """A verifier whose key source records lookups, to prove a refusal came before crypto."""
    return Verifier(issuer.url, issuer.audience, keys=keys, statuses=statuses, clock=clock)


def refuse(verifier: Verifier, token: Any, error: type[InvalidToken]) -> None:
    with pytest.raises(error):
        verifier.verify(token)
    assert verifier.gate(token, "companion").allowed is False


def test_a_genuine_token_passes_here_and_in_pyjwt() -> None:
    # The baseline every attack below departs from, checked by an independent library too
    # (on the real clock, which PyJWT uses).
    issuer = TestIssuer()
    verifier = Verifier(issuer.url, issuer.audience, keys=issuer.keys(), statuses=MemoryStatuses())
    token = issuer.token()
    assert verifier.verify(token) == jwt.decode(
        token, issuer.key.public_key(), algorithms=["EdDSA"], audience=issuer.audience
    )


# 1. alg none -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "AAAA", "real", "random64"])
def test_1_alg_none_is_refused_with_any_signature(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, alg: str, signature: str
) -> None:
    signing_input = f"{json_segment(issuer.header(alg=alg))}.{json_segment(issuer.age_claims())}"
    sig = {
        "": "",
        "AAAA": "AAAA",
        "real": segments(issuer.sign_segments(signing_input))[2],
        "random64": b64url(os.urandom(64)),
    }[signature]
    refuse(guarded, f"{signing_input}.{sig}", UnsupportedAlgorithm)
    refuse(guarded, f"{json_segment({'alg': alg})}.{json_segment(issuer.age_claims())}.{sig}", UnsupportedAlgorithm)
    assert keys.calls == []


@pytest.mark.parametrize("alg", ["eddsa", "EDDSA", "ed25519", "EdDSA ", "Ed448", "ES256", "RS256", None, ["EdDSA"]])
def test_1_alg_is_matched_exactly_and_case_sensitively(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, alg: Any
) -> None:
    refuse(guarded, issuer.sign(issuer.age_claims(), header=issuer.header(alg=alg)), UnsupportedAlgorithm)
    assert keys.calls == []


# 2. HS256 keyed with the public key --------------------------------------------------


@pytest.mark.parametrize("secret", ["raw-x", "pem", "jwk-json", "jwks-json", "empty"])
@pytest.mark.parametrize("alg", ["HS256", "EdDSA"])
def test_2_hmac_keyed_with_the_public_key_is_refused(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, secret: str, alg: str
) -> None:
    key = {
        "raw-x": issuer.public_key_raw(),
        "pem": issuer.public_key_pem(),
        "jwk-json": json.dumps(issuer.jwk).encode(),
        "jwks-json": json.dumps(issuer.jwks()).encode(),
        "empty": b"",
    }[secret]
    token = hs256(issuer.header(alg=alg), issuer.age_claims(), key)
    if alg == "HS256":
        refuse(guarded, token, UnsupportedAlgorithm)
        assert keys.calls == []
    else:  # claiming EdDSA with an HMAC tag: a 32-byte "signature" is never an Ed25519 one
        refuse(guarded, token, BadSignature)


# 3. other key, unknown kid, hostile kid ----------------------------------------------


def test_3_a_signature_by_another_key_under_a_known_kid_is_refused(guarded: Verifier, issuer: TestIssuer) -> None:
    refuse(guarded, issuer.sign(issuer.age_claims(), key=Ed25519PrivateKey.generate()), BadSignature)


def test_3_a_tampered_payload_is_refused(guarded: Verifier, issuer: TestIssuer) -> None:
    header, _, signature = segments(issuer.token())
    tampered = json_segment(issuer.age_claims(age_bracket="adult"))
    refuse(guarded, f"{header}.{tampered}.{signature}", BadSignature)


def test_3_a_signature_moved_from_another_token_is_refused(guarded: Verifier, issuer: TestIssuer) -> None:
    header, payload, _ = segments(issuer.token())
    refuse(guarded, f"{header}.{payload}.{segments(issuer.token())[2]}", BadSignature)


def test_3_an_unknown_kid_is_refused(guarded: Verifier, issuer: TestIssuer, clock: Clock) -> None:
    stranger = TestIssuer(issuer.url, clock=clock)
    refuse(guarded, stranger.token(), UnknownKey)


@pytest.mark.parametrize(
    "kid",
    ["../../../../etc/passwd", "' OR '1'='1' --", "abc\x00def", "", " " * 43, "a" * 42 + "\x00", 7, None, ["x"]],
)
def test_3_a_hostile_kid_never_reaches_the_key_source_or_the_network(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, fetch: MemoryFetch, clock: Clock, kid: Any
) -> None:
    token = issuer.sign(issuer.age_claims(), header=issuer.header(kid=kid))
    refuse(guarded, token, UnknownKey)
    assert keys.calls == []
    refuse(Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock), token, UnknownKey)
    assert fetch.calls == []


# 4. embedded or remote keys ---------------------------------------------------------


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"])
def test_4_key_carrying_headers_are_never_followed_or_trusted(
    issuer: TestIssuer, fetch: MemoryFetch, clock: Clock, member: str
) -> None:
    attacker = TestIssuer(issuer.url, clock=clock)
    value = {
        "jwk": attacker.jwk,
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
        "x5c": [base64.b64encode(attacker.public_key_raw()).decode()],
        "x5t": "AAAA",
        "x5t#S256": "AAAA",
    }[member]
    verifier = Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    fetch.routes["https://evil.example/jwks.json"] = json.dumps(attacker.jwks()).encode()
    # signed by the attacker under their own kid, and by the real issuer under its kid
    refuse(verifier, attacker.sign(attacker.age_claims(), header=attacker.header(**{member: value})), Malformed)
    refuse(verifier, issuer.sign(issuer.age_claims(), header=issuer.header(**{member: value})), Malformed)
    assert fetch.calls == []


# 5. crit -------------------------------------------------------------------------


@pytest.mark.parametrize("crit", [[], ["exp"], ["bork"], ["b64"], "exp", None])
def test_5_crit_in_any_form_is_refused(guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, crit: Any) -> None:
    refuse(guarded, issuer.sign(issuer.age_claims(), header=issuer.header(crit=crit)), Malformed)
    assert keys.calls == []


# 6. typ and cty -----------------------------------------------------------------


@pytest.mark.parametrize(
    "typ", ["JWT", "at+jwt", "AGE-BRACKET+JWT", "application/age-bracket+jwt", "statuslist+jwt", "", None, DROP]
)
def test_6_a_wrong_or_missing_typ_is_refused(guarded: Verifier, issuer: TestIssuer, typ: Any) -> None:
    header = issuer.header(typ=typ)
    if typ is DROP:
        del header["typ"]
    refuse(guarded, issuer.sign(issuer.age_claims(), header=header), WrongType)


def test_6_a_status_list_token_signed_by_the_same_key_is_no_age_token(guarded: Verifier, issuer: TestIssuer) -> None:
    listing = issuer.status_list_token(issuer.status_uri(), [0] * 16)
    refuse(guarded, listing, WrongType)
    # even carrying every age-token claim
    refuse(guarded, issuer.sign(issuer.age_claims(), header=issuer.header("statuslist+jwt")), WrongType)


def test_6_a_checkpoint_signed_by_the_same_key_is_no_age_token(guarded: Verifier, issuer: TestIssuer) -> None:
    refuse(guarded, issuer.checkpoint_token(**issuer.age_claims()), WrongType)


def test_6_an_age_token_is_no_status_list(issuer: TestIssuer, clock: Clock) -> None:
    uri = issuer.status_uri()
    fetch = MemoryFetch().publish(issuer, lists={uri: issuer.token(sub=uri, ttl=60, status_list={"bits": 1, "lst": "eNpjAAAAAQAB"})})
    refuse(Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock), issuer.token(), StatusUnavailable)


@pytest.mark.parametrize("cty", ["JWT", "age-bracket+jwt", "json"])
def test_6_cty_nesting_is_refused(guarded: Verifier, issuer: TestIssuer, cty: str) -> None:
    inner = issuer.token()
    refuse(guarded, issuer.sign(issuer.age_claims(), header=issuer.header(cty=cty)), Malformed)
    refuse(guarded, issuer.sign_raw(json.dumps(issuer.header(cty=cty)), json.dumps(inner)), Malformed)


# 7. duplicate members ------------------------------------------------------------


@pytest.mark.parametrize("first, second", [("EdDSA", "none"), ("none", "EdDSA"), ("EdDSA", "EdDSA")])
def test_7_duplicate_header_members_are_refused(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, first: str, second: str, parser: str
) -> None:
    header = f'{{"alg":"{first}","alg":"{second}","typ":"age-bracket+jwt","kid":"{issuer.kid}"}}'
    refuse(guarded, issuer.sign_raw(header, json.dumps(issuer.age_claims())), Malformed)
    assert keys.calls == []


@pytest.mark.parametrize("claim", ["aud", "exp", "iss", "nested"])
def test_7_duplicate_payload_members_are_refused(guarded: Verifier, issuer: TestIssuer, claim: str, parser: str) -> None:
    body = json.dumps(issuer.age_claims())[:-1]
    extra = {
        "aud": ',"aud":"someone-else"}',
        "exp": ',"exp":9999999999}',
        "iss": ',"iss":"https://evil.example"}',
        "nested": ',"x":{"decision":"deny","decision":"allow"}}',
    }[claim]
    refuse(guarded, issuer.sign_raw(json.dumps(issuer.header()), body + extra), Malformed)


# 8. non-canonical base64url --------------------------------------------------------


def _flip_trailing_bits(segment: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]


@pytest.mark.parametrize("where", [0, 1, 2])
def test_8_padding_is_refused_in_any_segment(guarded: Verifier, issuer: TestIssuer, where: int) -> None:
    parts = segments(issuer.token(jti="j"))
    parts[where] += "=" * (-len(parts[where]) % 4 or 4)
    refuse(guarded, ".".join(parts), Malformed)


def test_8_non_zero_trailing_bits_in_the_signature_are_refused(guarded: Verifier, issuer: TestIssuer) -> None:
    header, payload, signature = segments(issuer.token())
    forged = _flip_trailing_bits(signature)
    # A lenient decoder reads the same 64 bytes, so this token would verify there.
    assert base64.urlsafe_b64decode(forged + "==") == base64.urlsafe_b64decode(signature + "==")
    refuse(guarded, f"{header}.{payload}.{forged}", Malformed)


def test_8_non_zero_trailing_bits_in_a_signed_payload_are_refused(guarded: Verifier, issuer: TestIssuer) -> None:
    for pad in range(3):  # find claims whose payload segment has trailing bits to flip
        payload = json_segment(issuer.age_claims(jti="x" * pad))
        if len(payload) % 4:
            break
    forged = _flip_trailing_bits(payload)
    assert forged != payload
    refuse(guarded, issuer.sign_segments(f"{json_segment(issuer.header())}.{forged}"), Malformed)


# "+", "/" and "=" are what binascii would take.
@pytest.mark.parametrize("char", ["+", "/", "=", "!", " ", "\n", "*", "é", "\x00", "%"])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_8_characters_outside_the_alphabet_are_refused(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, char: str, where: int
) -> None:
    parts = segments(issuer.token())
    parts[where] = parts[where][:10] + char + parts[where][11:]
    refuse(guarded, ".".join(parts), Malformed)
    assert keys.calls == []


@pytest.mark.parametrize("char", ["+", "/", "=", "!", " "])
def test_8_a_header_seen_before_does_not_let_a_foreign_character_through(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, char: str
) -> None:
    # The verifier remembers headers that passed and then skips decoding them: the altered
    # header must miss that cache and be refused by its own decode.
    genuine = issuer.token()
    guarded.verify(genuine)
    header, payload, signature = segments(genuine)
    keys.calls.clear()
    refuse(guarded, f"{header[:10]}{char}{header[11:]}.{payload}.{signature}", Malformed)
    assert keys.calls == []


@pytest.mark.parametrize("shape", ["a", "a.b", "a.b.c.d", "..", "a..c", ".b.c", "a.b.", ""])
def test_8_anything_but_three_segments_is_refused(guarded: Verifier, keys: RecordingKeys, shape: str) -> None:
    with pytest.raises(InvalidToken):
        guarded.verify(shape)
    assert keys.calls == []


@pytest.mark.parametrize(
    "shape", ["{h}.{p}", "{h}.{p}.{s}.{s}", "{h}.{p}.{p}.{s}", "{h}..{p}.{s}", "{h}.{p}.{s}.", ".{p}.{s}"]
)
def test_8_genuine_segments_joined_into_anything_but_three_are_malformed(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, shape: str
) -> None:
    header, payload, signature = segments(issuer.token())
    refuse(guarded, shape.format(h=header, p=payload, s=signature), Malformed)
    assert keys.calls == []


# 9. size and nesting -------------------------------------------------------------


def test_9_an_oversized_token_is_refused_before_any_decoding_or_crypto(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, parser: str
) -> None:
    token = issuer.token(padding="x" * MAX_TOKEN_BYTES)
    refuse(guarded, token, TooLarge)
    refuse(guarded, "!" * (MAX_TOKEN_BYTES + 1), TooLarge)  # not even the alphabet is looked at
    assert keys.calls == []
    fits = issuer.token(padding="x" * 5000)
    assert len(fits) <= MAX_TOKEN_BYTES and guarded.verify(fits)


def test_9_deeply_nested_json_in_the_header_is_refused_before_crypto(
    guarded: Verifier, keys: RecordingKeys, issuer: TestIssuer, parser: str
) -> None:
    header = json.dumps(issuer.header())[:-1] + ',"x":' + "[" * 100 + "]" * 100 + "}"
    refuse(guarded, issuer.sign_raw(header, json.dumps(issuer.age_claims())), Malformed)
    assert keys.calls == []


@pytest.mark.parametrize("depth", [64, 2000])
def test_9_deeply_nested_json_in_the_payload_is_refused(guarded: Verifier, issuer: TestIssuer, depth: int, parser: str) -> None:
    body = json.dumps(issuer.age_claims())[:-1] + ',"x":' + "[" * depth + "]" * depth + "}"
    refuse(guarded, issuer.sign_raw(json.dumps(issuer.header()), body), Malformed)


# 10. claims ---------------------------------------------------------------------

NOW = 1_780_000_000  # the conftest clock


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp": DROP}, Malformed),
        ({"exp": NOW}, Expired),
        ({"exp": NOW - 1}, Expired),
        ({"exp": str(NOW + 600)}, Malformed),
        ({"exp": True}, Malformed),
        ({"exp": float(NOW + 600)}, Malformed),
        ({"exp": None}, Malformed),
        ({"nbf": NOW + 61}, NotYetValid),
        ({"iat": NOW + 61}, NotYetValid),
        ({"nbf": DROP}, Malformed),
        ({"iat": DROP}, Malformed),
        ({"nbf": float(NOW)}, Malformed),
        ({"iat": str(NOW)}, Malformed),
        ({"iss": "https://evil.example"}, WrongIssuer),
        ({"iss": "https://agegate.example//"}, WrongIssuer),
        ({"iss": "https://agegate.example/x"}, WrongIssuer),
        ({"iss": ["https://agegate.example"]}, WrongIssuer),
        ({"iss": DROP}, WrongIssuer),
        ({"aud": "persona-other"}, WrongAudience),
        ({"aud": ["persona-chat"]}, WrongAudience),
        ({"aud": ["persona-chat", "persona-other"]}, WrongAudience),
        ({"aud": DROP}, WrongAudience),
        ({"jti": 5}, Malformed),
        ({"sub": DROP}, Malformed),
        ({"features": []}, Malformed),
        ({"features": {"companion": {"decision": "maybe"}}}, Malformed),
        ({"features": {"companion": {"decision": "allow", "obligations": "minor_mode"}}}, Malformed),
        ({"features": {"companion": {"decision": ["allow"]}}}, Malformed),
        ({"features": {"companion": {"decision": {"allow": True}}}}, Malformed),
        ({"features": {"companion": {"decision": "allow", "obligations": ["minor_mode", 1]}}}, Malformed),
        ({"features": {"companion": {"decision": "deny", "reason": 5}}}, Malformed),
        ({"features": {"companion": {"obligations": []}}}, Malformed),
        ({"features": {"companion": "allow"}}, Malformed),
        ({"features": DROP}, Malformed),
        ({"status": DROP}, Malformed),
        ({"jti": DROP}, Malformed),
        ({"age_bracket": DROP}, Malformed),
        ({"assurance": DROP}, Malformed),
        ({"verified_at": DROP}, Malformed),
        ({"policy": DROP}, Malformed),
    ],
    ids=lambda value: json.dumps(value, default=repr)[:60] if isinstance(value, dict) else value.__name__,
)
def test_10_claims_are_checked_with_exact_types_and_times(
    guarded: Verifier, issuer: TestIssuer, overrides: dict[str, Any], error: type[InvalidToken]
) -> None:
    refuse(guarded, issuer.token(**overrides), error)


@pytest.mark.parametrize("configured", ["https://agegate.example", "https://agegate.example/"])
@pytest.mark.parametrize("iss", ["https://agegate.example", "https://agegate.example/"])
def test_10_an_issuer_with_or_without_a_trailing_slash_is_the_same_issuer(
    issuer: TestIssuer, clock: Clock, configured: str, iss: str
) -> None:
    verifier = Verifier(configured, issuer.audience, keys=issuer.keys(), statuses=issuer.statuses, clock=clock)
    assert verifier.verify(issuer.token(iss=iss))["iss"] == iss


def test_10_nbf_and_iat_within_the_leeway_pass(guarded: Verifier, issuer: TestIssuer) -> None:
    assert guarded.verify(issuer.token(nbf=NOW + 60, iat=NOW + 60))


# 11. status ---------------------------------------------------------------------


def _status(uri: str, idx: Any = 0) -> dict[str, Any]:
    return {"status_list": {"idx": idx, "uri": uri}}


@pytest.mark.parametrize(
    "status",
    [
        DROP,
        {},
        {"status_list": "x"},
        _status("https://evil.example/v1/status-lists/1"),
        _status("https://agegate.example.evil.example/v1/status-lists/1"),
        _status("https://agegate.example/v1/status-lists/../../admin"),
        _status("https://agegate.example/v1/status-lists/.."),
        _status("https://agegate.example/v1/status-lists/1?x=https://evil.example"),
        _status("https://agegate.example/v1/status-lists/"),
        _status("https://agegate.example/v1/status-lists/1", -1),
        _status("https://agegate.example/v1/status-lists/1", True),
        _status("https://agegate.example/v1/status-lists/1", "0"),
        _status(["https://agegate.example/v1/status-lists/1"]),
        _status({"uri": "https://agegate.example/v1/status-lists/1"}),
        {"status_list": {"idx": 0}},
        {"status_list": {"uri": "https://agegate.example/v1/status-lists/1"}},
        ["status_list"],
    ],
)
def test_11_a_missing_or_foreign_status_reference_is_refused(
    issuer: TestIssuer, fetch: MemoryFetch, clock: Clock, status: Any
) -> None:
    refuse(Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock), issuer.token(status=status), Malformed)
    assert issuer.status_uri() not in fetch.calls and not any("evil" in url for url in fetch.calls)


def _verifier_serving(issuer: TestIssuer, clock: Clock, listing: str | bytes | Exception) -> Verifier:
    served = listing.encode() if isinstance(listing, str) else listing
    fetch = MemoryFetch({issuer.status_uri(): served}).publish(issuer)
    return Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)


def test_11_a_revoked_bit_is_refused(issuer: TestIssuer, clock: Clock) -> None:
    verifier = _verifier_serving(issuer, clock, issuer.status_list_token(issuer.status_uri(), [0, 1]))
    refuse(verifier, issuer.token(status=_status(issuer.status_uri(), 1)), Revoked)


@pytest.mark.parametrize("idx", [16, 17, 10**6])
def test_11_an_index_outside_the_list_is_refused(issuer: TestIssuer, clock: Clock, idx: int) -> None:
    verifier = _verifier_serving(issuer, clock, issuer.status_list_token(issuer.status_uri(), [0] * 16))
    refuse(verifier, issuer.token(status=_status(issuer.status_uri(), idx)), StatusUnavailable)


def test_11_a_status_list_for_another_uri_is_refused(issuer: TestIssuer, clock: Clock) -> None:
    listing = issuer.status_list_token(issuer.status_uri("2"), [0] * 16)
    refuse(_verifier_serving(issuer, clock, listing), issuer.token(), StatusUnavailable)


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": DROP},
        {"iss": "https://evil.example"},
        {"exp": NOW},
        {"exp": DROP},
        {"ttl": DROP},
        {"ttl": 0},
        {"iat": NOW + 3600},
        {"status_list": {"bits": 3, "lst": "eNpjAAAAAQAB"}},
        {"status_list": {"bits": 1}},
        {"status_list": {"bits": 1, "lst": "eNpjAAAAAQAB=="}},
    ],
    ids=lambda value: json.dumps(value, default=repr)[:50],
)
def test_11_a_malformed_or_expired_status_list_is_refused(
    issuer: TestIssuer, clock: Clock, overrides: dict[str, Any]
) -> None:
    listing = issuer.status_list_token(issuer.status_uri(), [0] * 16, **overrides)
    refuse(_verifier_serving(issuer, clock, listing), issuer.token(), StatusUnavailable)


def test_11_a_status_list_signed_by_another_key_is_refused(issuer: TestIssuer, clock: Clock) -> None:
    listing = issuer.status_list_token(issuer.status_uri(), [0] * 16, key=Ed25519PrivateKey.generate())
    refuse(_verifier_serving(issuer, clock, listing), issuer.token(), StatusUnavailable)


def test_11_a_stale_list_whose_refetch_fails_fails_closed(issuer: TestIssuer, clock: Clock) -> None:
    uri = issuer.status_uri()
    fetch = MemoryFetch({uri: issuer.status_list_token(uri, [0] * 16, ttl=60).encode()}).publish(issuer)
    verifier = Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    token = issuer.token()
    assert verifier.verify(token)
    fetch.routes[uri] = TimeoutError("issuer unreachable")
    clock.advance(60)
    refuse(verifier, token, StatusUnavailable)


def test_11_an_unreachable_status_list_fails_closed(issuer: TestIssuer, clock: Clock) -> None:
    refuse(_verifier_serving(issuer, clock, OSError("down")), issuer.token(), StatusUnavailable)


def test_11_a_zlib_bomb_is_refused(issuer: TestIssuer, clock: Clock) -> None:
    bomb = b64url(zlib.compress(bytes(64 << 20), 9))  # inflates to 64 MiB, over the 2 MiB cap
    listing = issuer.status_list_token(issuer.status_uri(), [0], status_list={"bits": 1, "lst": bomb})
    refuse(_verifier_serving(issuer, clock, listing), issuer.token(), StatusUnavailable)


# Published vectors ----------------------------------------------------------------


def test_rfc8037_a4_verifies_with_cryptography_but_is_no_age_token(issuer: TestIssuer, clock: Clock) -> None:
    jws = (
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    )
    public = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    kid = jwk_thumbprint(public)
    assert kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    public["kid"] = kid
    header, payload, signature = jws.split(".")
    key = StaticKeys.from_jwks({"keys": [public]}).public_key(kid)
    assert key is not None
    key.verify(b64url_decode(signature), f"{header}.{payload}".encode())  # raises if not
    assert json_object(b64url_decode(header)) == {"alg": "EdDSA"}
    # Its header has no typ and no kid: a correct signature alone never makes a token.
    verifier = Verifier(issuer.url, issuer.audience, keys=StaticKeys.from_jwks({"keys": [public]}), statuses=MemoryStatuses(), clock=clock)
    refuse(verifier, jws, WrongType)
