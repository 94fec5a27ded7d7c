"""Canonical unpadded base64url (RFC 7515 section 2): the one codec of the repository.

Decoding refuses every second spelling of a value: padding, characters outside
``[A-Za-z0-9_-]``, an impossible length, and non-zero trailing bits.
"""

from __future__ import annotations

import binascii

# The three characters binascii takes that base64url does not, as byte values: ``int in
# bytes`` is one memchr (``bytes in bytes`` first tries the argument as an int and fails).
_PLUS, _SLASH, _PAD = b"+/="
_FROM_STANDARD = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", b"", b"==", b"=")
# A final character may only carry zero padding bits: with 2 characters left over only
# 4 of the last 6 bits are data (values divisible by 16), with 3 only 2 (divisible by 4).
# Checking the last character is equivalent to "decode, re-encode and compare", but free.
_CANONICAL_LAST = (b"", b"", b"AQgw", b"AEIMQUYcgkosw048")
ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without padding."""
    return binascii.b2a_base64(data, newline=False).translate(_FROM_STANDARD).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str | bytes) -> bytes:
    """Decode canonical unpadded base64url; raise ``ValueError`` for anything else."""
    if isinstance(segment, str):
        if not segment.isascii():
            raise ValueError("base64url: character outside the alphabet")
        segment = segment.encode("ascii")
    return decode_strict(segment)


def decode_strict(segment: bytes) -> bytes:
    """Decode canonical unpadded base64url bytes; raise ``ValueError`` for anything else."""
    rem = len(segment) & 3
    if rem == 1:
        raise ValueError("base64url: impossible length")
    if rem and segment[-1] not in _CANONICAL_LAST[rem]:
        raise ValueError("base64url: non-zero trailing bits")
    if _PLUS in segment or _SLASH in segment or _PAD in segment:
        raise ValueError("base64url: character outside the alphabet")
    # With those three refused, the base64url segment becomes the standard one by two
    # replaces (a memchr per occurrence; translate costs a table lookup per byte), and
    # strict_mode refuses every character outside the standard alphabet.
    try:
        return binascii.a2b_base64(
            segment.replace(b"-", b"+").replace(b"_", b"/") + _PADDING[rem], strict_mode=True
        )
    except binascii.Error:
        raise ValueError("base64url: character outside the alphabet") from None
