"""RFC 8785 (JCS), the bytes the consent log hashes, against the rfc8785 package, with and
without the optional orjson fast path; and orjson's escapes, which that path relies on."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import orjson
import pytest
import rfc8785

from agegate_verifier import _jcs
from agegate_verifier.jose import canonical_json


def test_orjson_escapes_every_code_point_as_jcs_does() -> None:
    everything = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x110000)]))
    assert orjson.dumps(everything) == rfc8785.dumps(everything)


def _random_text(rng: random.Random, alphabet: list[range]) -> str:
    return "".join(chr(rng.choice(rng.choice(alphabet))) for _ in range(rng.randrange(1, 5)))


# Control characters, the BMP around the surrogates, and astral planes: where JCS's escapes
# and its UTF-16 member order differ from a naive serialiser's.
_STRINGS = [range(0x20), range(0x20, 0xD800), range(0xE000, 0x10000), range(0x10000, 0x110000)]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(8 if depth < 3 else 6)
    if pick == 0:
        return struct.unpack("d", rng.randbytes(8))[0]
    if pick == 1:
        return rng.randrange(-(2**53) + 1, 2**53)
    if pick == 2:
        return _random_text(rng, _STRINGS)
    if pick in (3, 4, 5):
        return [None, True, False][pick - 3]
    if pick == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_random_text(rng, _STRINGS[1:]): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_canonical_json_is_rfc8785_on_random_values(parser: str) -> None:
    rng = random.Random(8785)
    for _ in range(3000):
        value = _random_value(rng)
        if isinstance(value, float) and not math.isfinite(value):
            continue
        assert canonical_json(value) == rfc8785.dumps(value), value


def test_a_flat_event_takes_the_fast_path_and_agrees(parser: str) -> None:
    event = {"type": "granted", "tenant": "t", "child_ref": "孩子\n\u2028\x7f", "scopes": ["a", "b"], "n": None, "i": 7}
    assert _jcs._is_plain(event)
    assert canonical_json(event) == rfc8785.dumps(event)


@pytest.mark.parametrize("value", [2**53, -(2**53), float("nan"), float("inf"), "\ud800", {"k": "\udfff"}, {1: 2}, object()])
def test_values_without_a_jcs_form_are_refused(parser: str, value: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)
