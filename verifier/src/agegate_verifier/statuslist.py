"""Codec for the ``status_list`` of an IETF OAuth Token Status List (draft -20).

The list is a byte array: index ``i`` lives in byte ``i * bits // 8``, and the entries of
a byte fill it from the least significant bit up. On the wire it is
``base64url(zlib(bytes))`` without padding. Values: 0 VALID, 1 INVALID, 2 SUSPENDED.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from ._b64 import b64url_decode, b64url_encode

__all__ = ["BITS", "VALID", "INVALID", "SUSPENDED", "decode_statuses", "encode_statuses", "pack", "status_at"]

#: Entry widths the draft allows.
BITS = (1, 2, 4, 8)
VALID = 0
INVALID = 1
SUSPENDED = 2


def _check_bits(bits: int) -> None:
    if type(bits) is not int or bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}")


def pack(values: Sequence[int], bits: int) -> bytearray:
    """Pack status ``values`` into the draft's byte layout, ``bits`` bits per entry.

    Raises ``ValueError`` for a bad ``bits`` or a value that does not fit in ``bits``.
    """
    _check_bits(bits)
    limit = 1 << bits
    packed = bytearray((len(values) * bits + 7) // 8)
    for index, value in enumerate(values):
        if type(value) is not int or not 0 <= value < limit:
            raise ValueError(f"status {value!r} at {index} does not fit in {bits} bits")
        position = index * bits
        packed[position >> 3] |= value << (position & 7)
    return packed


def encode_statuses(statuses: bytes | bytearray, bits: int = 1, *, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> str:
    """Return ``lst``: the packed ``statuses`` compressed with zlib (level 9), base64url.

    ``strategy`` is zlib's; any gives a standard zlib stream every decoder reads.
    Raises ``ValueError`` for a bad ``bits``.
    """
    _check_bits(bits)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 9, strategy)
    return b64url_encode(compressor.compress(bytes(statuses)) + compressor.flush())


def decode_statuses(lst: str, *, max_bytes: int) -> bytes:
    """Return the packed byte array of ``lst``, decompressing at most ``max_bytes``.

    Raises ``ValueError`` for non-canonical base64url, broken zlib data, trailing
    garbage, or data that would inflate beyond ``max_bytes`` (a zlib bomb is refused
    after producing at most ``max_bytes``, never fully inflated).
    """
    try:
        compressed = b64url_decode(lst)
    except ValueError as error:
        raise ValueError(f"lst: {error}") from None
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")  # 0 would mean "unbounded" to zlib
    inflater = zlib.decompressobj()
    try:
        # One byte over the cap tells a bomb from a list of exactly max_bytes.
        data = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as error:
        raise ValueError("lst: invalid zlib data") from error
    if len(data) > max_bytes:
        raise ValueError(f"lst: inflates beyond {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("lst: truncated zlib data or trailing garbage")
    return data


def status_at(data: bytes, idx: int, bits: int) -> int:
    """Return the status of entry ``idx`` in the packed ``data``.

    Raises ``IndexError`` when ``idx`` is negative or beyond the list.
    """
    position = idx * bits
    if idx < 0 or position >= len(data) << 3:
        raise IndexError("status list index out of range")
    return (data[position >> 3] >> (position & 7)) & ((1 << bits) - 1)
