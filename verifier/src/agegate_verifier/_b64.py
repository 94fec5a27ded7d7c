"""Canonical unpadded base64url (RFC 7515 section 2): the one codec of the repository.

Decoding refuses every second spelling of a value: padding, characters outside
``[A-Za-z0-9_-]``, an impossible length, and non-zero trailing bits.
"""

from __future__ import annotations

import binascii

_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
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


def only_alphabet(text: bytes, extra: bytes = b"") -> bool:
    """Whether ``text`` holds only base64url characters (and those of ``extra``)."""
    # bytes.translate with a delete table runs in C: whatever survives is foreign.
    return not text.translate(None, ALPHABET + extra)


def b64url_decode(segment: str | bytes) -> bytes:
    """Decode canonical unpadded base64url; raise ``ValueError`` for anything else."""
    if isinstance(segment, str):
        if not segment.isascii():
            raise ValueError("base64url: character outside the alphabet")
        segment = segment.encode("ascii")
    if not only_alphabet(segment):
        raise ValueError("base64url: character outside the alphabet")
    return decode_checked(segment)


def decode_checked(segment: bytes) -> bytes:
    """Decode ``segment`` already known to hold only alphabet characters; raise ``ValueError``."""
    rem = len(segment) & 3
    if rem == 1:
        raise ValueError("base64url: impossible length")
    if rem and segment[-1] not in _CANONICAL_LAST[rem]:
        raise ValueError("base64url: non-zero trailing bits")
    return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[rem])
