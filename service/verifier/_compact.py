"""Strict decoding of JWS compact serialization, and signature verification with Ed25519.

Everything an attacker controls is refused as cheaply as possible and before any
cryptography: size, shape, alphabet, header. Only then is the key looked up and the
signature checked with ``cryptography`` directly, and only a signed payload is parsed.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._constants import ALGORITHMS
from .errors import BadSignature, Malformed, TooLarge, UnknownKey, UnsupportedAlgorithm, WrongType

if TYPE_CHECKING:
    from ._jwks import KeySource

#: Deepest JSON nesting accepted anywhere (an age token needs 4).
MAX_JSON_DEPTH = 32
#: Longest header segment: ours is about 130 characters.
MAX_HEADER_CHARS = 512

_KID = re.compile(r"[A-Za-z0-9_-]{43}")  # an RFC 7638 SHA-256 thumbprint, base64url
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_FROM_STANDARD = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", b"", b"==", b"=")
# A final character may only carry zero padding bits: with 2 characters left over only
# 4 of the last 6 bits are data (values divisible by 16), with 3 only 2 (divisible by 4).
# Checking the last character is equivalent to "decode, re-encode and compare", but free.
_CANONICAL_LAST = (b"", b"", b"AQgw", b"AEIMQUYcgkosw048")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_HEADER_MEMBERS = frozenset(("alg", "typ", "kid"))
_JSON_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without padding (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).translate(_FROM_STANDARD).rstrip(b"=").decode()


def _is_base64url(text: bytes, extra: bytes = b"") -> bool:
    # bytes.translate with a delete table runs in C: whatever survives is foreign.
    return not text.translate(None, _ALPHABET + extra)


def b64url_decode(segment: str) -> bytes:
    """Decode canonical unpadded base64url; raise ``Malformed`` for anything else.

    Refused: characters outside ``[A-Za-z0-9_-]`` (including ``=``, whitespace, ``+``,
    ``/``), an impossible length, and non-zero trailing bits (two spellings of one value).
    """
    raw = segment.encode("ascii") if segment.isascii() else b"?"
    if not _is_base64url(raw):
        raise Malformed("base64url: character outside the alphabet")
    return _decode_segment(raw)


def _decode_segment(segment: bytes) -> bytes:
    # Precondition: only base64url alphabet characters (checked by the caller).
    rem = len(segment) & 3
    if rem == 1:
        raise Malformed("base64url: impossible length")
    if rem and segment[-1] not in _CANONICAL_LAST[rem]:
        raise Malformed("base64url: non-zero trailing bits")
    return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[rem])


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins ({"alg":"EdDSA","alg":"none"}), so refuse both.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)


def _check_depth(text: str) -> None:
    # Fewer containers than the limit cannot nest deeper than it: the common case costs
    # two C-level counts. Otherwise walk the structure, skipping string contents.
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for match in _JSON_STRUCTURE.finditer(text):
        char = match.group()
        if char == "{" or char == "[":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise Malformed("JSON nested too deeply")
        elif char == "}" or char == "]":
            depth -= 1


def json_object(data: bytes) -> dict[str, Any]:
    """Parse a JSON object strictly; raise ``Malformed`` otherwise.

    Refused: invalid UTF-8, duplicate member names, ``NaN``/``Infinity``, nesting deeper
    than ``MAX_JSON_DEPTH``, and any top-level value that is not an object.
    """
    try:
        text = data.decode("utf-8").strip(" \t\r\n")  # JSON whitespace only
        _check_depth(text)
        # scan_once is what JSONDecoder.decode calls after skipping whitespace; calling it
        # directly saves a third of the time on a hot path. It signals "no value" with
        # StopIteration, and leaves trailing data for us to refuse.
        value, end = _DECODER.scan_once(text, 0)
    except (ValueError, RecursionError, StopIteration) as error:  # UnicodeDecodeError, JSONDecodeError
        raise Malformed("invalid JSON") from error
    if end != len(text) or type(value) is not dict:
        raise Malformed("JSON value is not an object")
    return value


class CompactVerifier:
    """Verifies compact JWS of one ``typ`` signed by Ed25519 keys from a key source."""

    _HEADER_CACHE_SIZE = 64

    def __init__(self, typ: str, keys: KeySource, max_bytes: int) -> None:
        self._typ = typ
        self._keys = keys
        self._max_bytes = max_bytes
        # Every token from one key has the same header segment; remembering the ones that
        # passed saves a base64 and a JSON decode per new token. Only valid headers enter.
        self._kid_by_header: dict[bytes, str] = {}

    def verify(self, token: str) -> tuple[str, bytes, dict[str, Any]]:
        """Return ``(kid, payload bytes, payload object)`` of a correctly signed ``token``.

        Raises ``TooLarge``, ``Malformed``, ``UnsupportedAlgorithm``, ``WrongType``,
        ``UnknownKey`` or ``BadSignature``. Everything that needs no key is checked first.
        """
        if type(token) is not str:
            raise Malformed("token is not a string")
        if len(token) > self._max_bytes:
            raise TooLarge(f"token longer than {self._max_bytes} bytes")
        if not token.isascii():
            raise Malformed("character outside the base64url alphabet")
        raw = token.encode("ascii")
        if not _is_base64url(raw, b"."):
            raise Malformed("character outside the base64url alphabet")
        segments = raw.split(b".")
        if len(segments) != 3:
            raise Malformed("not three segments")
        header, payload, signature = segments
        kid = self._kid_by_header.get(header)
        if kid is None:
            kid = self._check_header(header)
        raw_signature = _decode_segment(signature)
        if len(raw_signature) != 64:
            raise BadSignature("an Ed25519 signature is 64 bytes")
        key = self._keys.public_key(kid)
        if not isinstance(key, Ed25519PublicKey):
            raise UnknownKey("no Ed25519 key with this kid")
        try:
            key.verify(raw_signature, raw[: len(header) + 1 + len(payload)])
        except InvalidSignature:
            raise BadSignature("signature does not verify") from None
        payload_bytes = _decode_segment(payload)
        return kid, payload_bytes, json_object(payload_bytes)

    def _check_header(self, segment: bytes) -> str:
        if len(segment) > MAX_HEADER_CHARS:
            raise Malformed("header too long")
        header = json_object(_decode_segment(segment))
        alg = header.get("alg")
        # ``in`` on a tuple compares with ==, so only these exact strings pass (no casefold).
        if type(alg) is not str or alg not in ALGORITHMS:
            raise UnsupportedAlgorithm(f"alg must be one of {ALGORITHMS}")
        if header.get("typ") != self._typ:
            raise WrongType(f"typ must be {self._typ}")
        # jwk, jku, x5u, x5c, crit, cty, b64 ...: none is ever needed, each has been an attack.
        if header.keys() != _HEADER_MEMBERS:
            raise Malformed("header members must be exactly alg, typ, kid")
        kid = header["kid"]
        if type(kid) is not str or _KID.fullmatch(kid) is None:
            raise UnknownKey("kid is not a JWK thumbprint")
        if len(self._kid_by_header) < self._HEADER_CACHE_SIZE:
            self._kid_by_header[segment] = kid
        return kid
