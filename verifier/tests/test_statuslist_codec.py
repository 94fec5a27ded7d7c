"""The status-list codec against the Token Status List draft's published vectors."""

from __future__ import annotations

import zlib

import pytest

from agegate_verifier.jose import b64url_encode as b64url
from agegate_verifier.statuslist import decode_statuses, encode_statuses, pack, status_at

SIXTEEN = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
TWELVE = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
BIG_REVOKED = [0, 1993, 25460, 159495, 495669, 554353, 645645, 723232, 854545, 934534, 1000345]
BIG_LST = (
    "eNrt3AENwCAMAEGogklACtKQPg9LugC9k_ACvreiogEAAKkeCQAAAAAAAAAAAAAAAAAAAIBylgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAXG9IAAAAAAAAAPwsJAAAAAAAAAAAAAAAvhsSAAAAAAAAAAAA7KpLAAAAAAAAAAAAAAAAAAAAAJsLCQAA"
    "AAAAAAAAADjelAAAAAAAAAAAKjDMAQAAAACAZC8L2AEb"
)
VECTORS = [
    pytest.param(SIXTEEN, 1, bytes.fromhex("b9a3"), "eNrbuRgAAhcBXQ", id="16x1bit"),
    pytest.param(TWELVE, 2, bytes.fromhex("c944f9"), "eNo76fITAAPfAgc", id="12x2bit"),
]


def big_values() -> list[int]:
    values = [0] * (1 << 20)
    for index in BIG_REVOKED:
        values[index] = 1
    return values


@pytest.mark.parametrize(("values", "bits", "packed", "lst"), VECTORS)
def test_packs_and_encodes_the_draft_vectors(values: list[int], bits: int, packed: bytes, lst: str) -> None:
    assert pack(values, bits) == packed
    assert encode_statuses(packed, bits) == lst


@pytest.mark.parametrize(("values", "bits", "packed", "lst"), VECTORS)
def test_decodes_the_draft_vectors(values: list[int], bits: int, packed: bytes, lst: str) -> None:
    data = decode_statuses(lst, max_bytes=1024)
    assert data == packed
    assert [status_at(data, index, bits) for index in range(len(values))] == values


def test_encodes_the_million_entry_vector() -> None:
    assert encode_statuses(pack(big_values(), 1), 1) == BIG_LST


def test_decodes_the_million_entry_vector() -> None:
    data = decode_statuses(BIG_LST, max_bytes=1 << 17)
    assert len(data) == 1 << 17
    revoked = [index for index in range(1 << 20) if status_at(data, index, 1)]
    assert revoked == BIG_REVOKED


def test_status_at_refuses_an_index_outside_the_list() -> None:
    data = pack(TWELVE, 2)
    assert status_at(data, 11, 2) == 3
    with pytest.raises(IndexError):
        status_at(data, 12, 2)
    with pytest.raises(IndexError):
        status_at(data, -1, 2)


@pytest.mark.parametrize("bits", [0, 3, 16, True])
def test_refuses_widths_the_draft_does_not_allow(bits: int) -> None:
    with pytest.raises(ValueError):
        pack([0], bits)
    with pytest.raises(ValueError):
        encode_statuses(b"\x00", bits)


@pytest.mark.parametrize(("value", "bits"), [(2, 1), (4, 2), (-1, 8), (256, 8)])
def test_pack_refuses_a_value_that_does_not_fit(value: int, bits: int) -> None:
    with pytest.raises(ValueError):
        pack([0, value], bits)


def test_refuses_a_zlib_bomb_without_inflating_it() -> None:
    bomb = b64url(zlib.compress(bytes(64 << 20), 9))  # 64 MiB of zeros in ~64 KiB
    with pytest.raises(ValueError, match="inflates beyond"):
        decode_statuses(bomb, max_bytes=1 << 21)


def test_accepts_a_list_of_exactly_the_cap() -> None:
    assert len(decode_statuses(encode_statuses(bytes(4096)), max_bytes=4096)) == 4096


@pytest.mark.parametrize(
    "lst",
    [
        pytest.param(b64url(zlib.compress(b"\x01\x02")[:-3]), id="truncated"),
        pytest.param(b64url(zlib.compress(b"\x01\x02") + b"junk"), id="trailing-garbage"),
        pytest.param(b64url(b"not zlib at all"), id="not-zlib"),
        pytest.param("eNrbuRgAAhcBXQ==", id="padded"),
        pytest.param("eNrbuRgAAhcBXR", id="trailing-bits"),
        pytest.param("eNrbuRgAAhcB+Q", id="standard-alphabet"),
    ],
)
def test_refuses_a_broken_lst(lst: str) -> None:
    with pytest.raises(ValueError):
        decode_statuses(lst, max_bytes=1024)
