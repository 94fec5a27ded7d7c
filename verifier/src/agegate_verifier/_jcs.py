"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes the consent log hashes.

Objects sort their members by UTF-16 code units, strings escape only what JSON requires,
numbers are written as ECMAScript writes IEEE doubles. Values JCS cannot represent raise
``ValueError``: integers beyond 2**53 - 1, NaN and infinities, lone surrogates.

Most values (strings, lists, small integers, members named in the Basic Multilingual
Plane) come out of a C encoder identically: orjson's when installed (its escapes and its
sort order of such names are JCS's, which a test checks code point by code point), else the
standard library's. Those take that path.
"""

from __future__ import annotations

import json
import math
from typing import Any

try:  # optional speed-up (extra "fast"); the output is the same without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the installs without the extra
    _orjson = None

_SAFE_INT = 2**53 - 1
_ASTRAL = "\U00010000"
# Same escapes as JCS: \b \f \n \r \t \" \\ and \u00XX (lowercase) for other controls.
_FAST = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


_LEAVES = frozenset((str, type(None), bool))


def _is_plain(value: Any) -> bool:
    # True when a C encoder's output is already canonical: no floats, no integers outside
    # the double-precision range, and member names whose code-point order is their UTF-16
    # order (they differ only once astral characters meet U+E000..U+FFFF). Written for
    # speed: a flat event of strings is two C-level scans.
    kind = type(value)
    if kind in _LEAVES:
        return True
    if kind is int:
        return -_SAFE_INT <= value <= _SAFE_INT
    if kind is dict:
        if not all(type(key) is str for key in value):
            return False
        names = "".join(value)
        if not names.isascii() and max(names) >= _ASTRAL:
            return False
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return False
    if _LEAVES.issuperset(map(type, items)):
        return True
    return all(_is_plain(item) for item in items)


def canonical_json(value: Any) -> bytes:
    """Return the JCS serialisation of ``value``; raise ``ValueError`` if it has none."""
    if _is_plain(value):
        if _orjson is not None:
            try:
                return _orjson.dumps(value, option=_orjson.OPT_SORT_KEYS)
            except TypeError as error:  # orjson.JSONEncodeError: a lone surrogate
                raise ValueError(str(error)) from None
        return _FAST.encode(value).encode("utf-8")  # UnicodeEncodeError for lone surrogates
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8")


def _write(value: Any, out: list[str]) -> None:
    kind = type(value)
    if value is None or kind is bool or kind is str:
        out.append(_FAST.encode(value))
    elif kind is int:
        if not -_SAFE_INT <= value <= _SAFE_INT:
            raise ValueError(f"integer {value} is outside the JSON (IEEE double) safe range")
        out.append(str(value))
    elif kind is float:
        out.append(es_number(value))
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif kind is dict:
        if not all(type(key) is str for key in value):
            raise ValueError("object member names must be strings")
        out.append("{")
        for index, key in enumerate(sorted(value, key=lambda name: name.encode("utf-16-be"))):
            if index:
                out.append(",")
            out.append(_FAST.encode(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    else:
        raise ValueError(f"{kind.__name__} is not a JSON value")


def es_number(number: float) -> str:
    """``number`` as ECMAScript's Number::toString writes it (ECMA-262 7.1.12.1)."""
    if math.isnan(number) or math.isinf(number):
        raise ValueError("NaN and infinities are not JSON")
    if number == 0:
        return "0"  # -0 too
    if number < 0:
        return "-" + es_number(-number)
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    mantissa, _, exponent = repr(number).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) - (len(whole + fraction) - len((whole + fraction).lstrip("0")))
    point += int(exponent or 0)
    digits = digits.rstrip("0")
    k, n = len(digits), point  # value = 0.digits * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    sign = "+" if n - 1 >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(n - 1)}"
