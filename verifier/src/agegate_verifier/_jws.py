"""Strict JWS compact serialization with Ed25519: the one verifier of everything signed.

Everything an attacker controls is refused as cheaply as possible and before any
cryptography: size, shape, alphabet (checked by the strict base64url decode of each
segment), header. Only then is the key looked up and the
signature checked with ``cryptography`` directly, and only a signed payload is parsed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._b64 import decode_strict
from ._constants import ALGORITHMS
from ._json import json_object, strict_json
from .errors import BadSignature, Malformed, MalformedHeader, TooLarge, UnknownKey, UnsupportedAlgorithm, WrongType

if TYPE_CHECKING:
    from ._jwks import KeySource

#: Longest header segment: ours is about 130 characters.
MAX_HEADER_CHARS = 512

_KID = re.compile(r"[A-Za-z0-9_-]{43}")  # an RFC 7638 SHA-256 thumbprint, base64url
_HEADER_MEMBERS = frozenset(("alg", "typ", "kid"))
_DOT = ord(".")  # ``int in bytes`` is one memchr
_KEY_CLASSES: list[type] = [Ed25519PublicKey]


def _ed25519(key: object) -> bool:
    if not isinstance(key, Ed25519PublicKey):
        return False
    _KEY_CLASSES[0] = type(key)
    return True


class CompactVerifier:
    """Verifies compact JWS of one ``typ`` signed by Ed25519 keys from a key source."""

    _HEADER_CACHE_SIZE = 64

    def __init__(self, typ: str, keys: KeySource, max_bytes: int) -> None:
        self.typ = typ
        self._keys = keys
        self._max_bytes = max_bytes
        # Every token from one key has the same header segment; remembering the ones that
        # passed saves a base64 and a JSON decode per new token. Only valid headers enter.
        self._kid_by_header: dict[bytes, str] = {}
        # The header that passed last and its kid, one tuple so threads read a matching
        # pair: a busy verifier sees one key's header almost always, and comparing it
        # (memcmp) is cheaper than hashing the new bytes object for the dict. None until
        # one passed: no segment, not even the empty one, may skip the header check.
        self._last_header: tuple[bytes | None, str] = (None, "")

    def verify(self, token: str) -> tuple[str, bytes, dict[str, Any]]:
        """Return ``(kid, payload bytes, payload object)`` of a correctly signed ``token``.

        Raises ``TooLarge``, ``Malformed``, ``UnsupportedAlgorithm``, ``WrongType``,
        ``UnknownKey``, ``JwksUnavailable`` (from the key source) or ``BadSignature``.
        Everything that needs no key is checked first.
        """
        if type(token) is not str:
            raise Malformed("token is not a string")
        if len(token) > self._max_bytes:
            raise TooLarge(f"token longer than {self._max_bytes} bytes")
        if not token.isascii():
            raise Malformed("character outside the base64url alphabet")
        # Two partitions find the dots with memchr and hand back the signing input whole;
        # split would look at every byte and build a list.
        signing_input, _, signature = token.encode("ascii").rpartition(b".")
        header, dot, payload = signing_input.partition(b".")
        if not dot or _DOT in payload:
            raise Malformed("not three segments")
        try:
            # Decoding refuses any character outside base64url, so a foreign character in
            # these segments is Malformed before the header is read (one in the header is
            # refused by its own decode: only headers that passed are remembered).
            raw_signature = decode_strict(signature)
            payload_bytes = decode_strict(payload)
        except ValueError as error:
            raise Malformed(str(error)) from None
        last_header, kid = self._last_header
        if header != last_header:
            kid = self._kid_by_header.get(header)
            if kid is None:
                kid = self._check_header(header)
            self._last_header = (header, kid)
        if len(raw_signature) != 64:
            raise BadSignature("an Ed25519 signature is 64 bytes")
        key = self._keys.public_key(kid)
        # isinstance on the abstract class is an ABC check (~1 us); the concrete class
        # cryptography returns is checked once and then compared by identity.
        if type(key) is not _KEY_CLASSES[0] and not _ed25519(key):
            raise UnknownKey("no Ed25519 key with this kid")
        try:
            key.verify(raw_signature, signing_input)
        except InvalidSignature:
            raise BadSignature("signature does not verify") from None
        try:
            claims = strict_json(payload_bytes)  # json_object's check inline: one call less
        except ValueError as error:
            raise Malformed(f"invalid JSON: {error}") from None
        if type(claims) is not dict:
            raise Malformed("invalid JSON: JSON value is not an object")
        return kid, payload_bytes, claims

    def _check_header(self, segment: bytes) -> str:
        if len(segment) > MAX_HEADER_CHARS:
            raise MalformedHeader("header too long")
        try:
            decoded = decode_strict(segment)
        except ValueError as error:
            raise Malformed(str(error)) from None
        try:
            header = json_object(decoded)
        except ValueError as error:
            raise Malformed(f"invalid JSON: {error}") from None
        alg = header.get("alg")
        # ``in`` on a tuple compares with ==, so only these exact strings pass (no casefold).
        if type(alg) is not str or alg not in ALGORITHMS:
            raise UnsupportedAlgorithm(f"alg must be one of {ALGORITHMS}")
        if header.get("typ") != self.typ:
            raise WrongType(f"typ must be {self.typ}")
        # jwk, jku, x5u, x5c, crit, cty, b64 ...: none is ever needed, each has been an attack.
        if header.keys() != _HEADER_MEMBERS:
            raise MalformedHeader("header members must be exactly alg, typ, kid")
        kid = header["kid"]
        if type(kid) is not str or _KID.fullmatch(kid) is None:
            raise UnknownKey("kid is not a JWK thumbprint")
        if len(self._kid_by_header) < self._HEADER_CACHE_SIZE:
            self._kid_by_header[segment] = kid
        return kid

