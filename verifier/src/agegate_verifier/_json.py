"""Strict JSON: the one parser of everything agegate signs, exports or is sent.

Refused everywhere: invalid UTF-8 (and UTF-16/32, which ``json.loads(bytes)`` would guess),
duplicate member names (parsers disagree on which copy wins, ``{"alg":"EdDSA","alg":"none"}``),
``NaN``/``Infinity``, nesting deeper than ``MAX_JSON_DEPTH``, and trailing data.

With the optional ``orjson`` installed (extra ``fast``), a document is first parsed by it
and accepted only if orjson writes the parsed value back to exactly the same bytes: a
document with a duplicate member cannot (one copy is lost), and anything written another
way (spaces, escapes) goes to the standard library's strict parse. Verdicts are the same
with or without orjson; only the time differs.
"""

from __future__ import annotations

import json
import re
from typing import Any

try:  # optional speed-up, see the module docstring
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the installs without the extra
    _orjson = None

#: Deepest JSON nesting accepted anywhere (an age token needs 4).
MAX_JSON_DEPTH = 32

_JSON_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class DuplicateMember(ValueError):
    """An object names one member twice."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateMember("duplicate member name")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)
_WHITESPACE = " \t\r\n"


def _check_depth(text: str) -> None:
    # Walk the structure, skipping string contents.
    depth = 0
    for match in _JSON_STRUCTURE.finditer(text):
        char = match.group()
        if char == "{" or char == "[":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ValueError("JSON nested too deeply")
        elif char == "}" or char == "]":
            depth -= 1


def _strict_parse(text: str, containers: int) -> Any:
    text = text.strip(_WHITESPACE)
    # Fewer containers than the limit cannot nest deeper than it; more must be walked.
    if containers > MAX_JSON_DEPTH:
        _check_depth(text)
    try:
        # scan_once is what JSONDecoder.decode calls after skipping whitespace; calling it
        # directly saves a third of the time on a hot path. It signals "no value" with
        # StopIteration, and leaves trailing data for us to refuse.
        value, end = _DECODER.scan_once(text, 0)
    except StopIteration:
        raise ValueError("no JSON value") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if end != len(text):
        raise ValueError("trailing data after the JSON value")
    return value


def strict_json(data: bytes | str) -> Any:
    """Parse one JSON value strictly (see the module docstring); raise ``ValueError``.

    ``DuplicateMember`` (a ``ValueError``) names the duplicate-member case.
    """
    if type(data) is bytes:
        # An upper bound on the nesting depth: every "{" and "[", some perhaps in strings.
        # Deleting them is one pass in C; two counts would look at every byte twice.
        containers = len(data) - len(data.translate(None, b"{["))
        if _orjson is not None and containers <= MAX_JSON_DEPTH and len(data) <= 65536:
            try:
                value = _orjson.loads(data)
            except ValueError:
                pass
            else:
                if _orjson.dumps(value) == data:
                    return value
        text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    else:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        containers = text.count("{") + text.count("[")
    return _strict_parse(text, containers)


def json_object(data: bytes | str) -> dict[str, Any]:
    """Parse a JSON object strictly; raise ``ValueError`` for anything else."""
    value = strict_json(data)
    if type(value) is not dict:
        raise ValueError("JSON value is not an object")
    return value


def compact_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, the way agegate signs it; ``ValueError`` for NaN."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
