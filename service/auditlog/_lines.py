"""The checks of one export line that need no other line (private to the verifier).

:func:`classify` parses one NDJSON line strictly, checks an event line's shape and recomputes
its hash, and returns a small tuple, a *record*, saying what it found. It keeps no state, so
the verifier may run it in worker processes (see ``_parallel``); every check that needs the
lines before it (seq continuity, ``prev`` links, the tenant, the checkpoint) is made by the
verifier's single sequential pass over the records, in line order. The in-process and the
parallel verifier therefore fail at the same line and name the same seq.

Records, by their first item:

- ``(EVENT, seq, prev, hash, tenant, bad_event, hash_ok)``: a well-formed event line;
  ``bad_event`` is the reason the event cannot be hashed (then ``tenant`` is None and
  ``hash_ok`` False), else None; ``hash_ok`` says whether the event hashes to ``hash``;
- ``(CHECKPOINT, line)``: a line of kind checkpoint, parsed, for the verifier to check;
- ``(BAD_LINE, reason, detail)``: the line fails on its own, to be named by the seq the
  verifier expects there;
- ``(BAD_AT_SEQ, seq, reason, detail)``: the line fails on its own, named by its seq.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from service.auditlog.chain import check_event, is_hash, link_hash

# An event line is well under 2 KiB; the cap keeps one hostile line from eating memory.
MAX_LINE_BYTES = 64 * 1024

EVENT, CHECKPOINT, BAD_LINE, BAD_AT_SEQ = range(4)

Record = tuple[Any, ...]

_EVENT_KEYS = frozenset({"kind", "seq", "event", "prev", "hash"})


class DuplicateMember(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Two parsers may keep different copies of a duplicate (RFC 8259 leaves it open).
        raise DuplicateMember("duplicate member name")
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def strict_json(data: bytes | str) -> Any:
    """Parse UTF-8 JSON, refusing duplicate members and NaN/Infinity; raise ``ValueError``."""
    try:
        # Decode ourselves: json.loads(bytes) would also accept UTF-16 and UTF-32.
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_reject_constant)
    except RecursionError as e:
        raise ValueError("JSON nested too deeply") from e


def classify(raw: bytes | str) -> Record:
    """Return the record of one export line (see the module docstring)."""
    if len(raw) > MAX_LINE_BYTES:
        return (BAD_LINE, "line_too_long", "")
    try:
        line = strict_json(raw)
    except ValueError as e:
        reason = "duplicate_member" if isinstance(e, DuplicateMember) else "malformed_json"
        return (BAD_LINE, reason, str(e))
    kind = line.get("kind") if isinstance(line, dict) else None
    if kind == "event":
        return _event(line)
    if kind == "checkpoint":
        return (CHECKPOINT, line)
    return (BAD_LINE, "bad_line", "kind is not event or checkpoint")


def _event(line: dict[str, Any]) -> Record:
    seq, event, prev, hash_ = (line.get(k) for k in ("seq", "event", "prev", "hash"))
    if line.keys() != _EVENT_KEYS or type(seq) is not int or seq < 1:
        return (BAD_LINE, "bad_line", "not an event line")
    if not is_hash(prev) or not is_hash(hash_):
        return (BAD_AT_SEQ, seq, "bad_line", "prev and hash must be 64 lowercase hex")
    try:
        check_event(event)
        computed = link_hash(prev, event)
    except ValueError as e:
        return (EVENT, seq, prev, hash_, None, str(e), False)
    return (EVENT, seq, prev, hash_, event["tenant"], None, computed == hash_)


def classify_batch(lines: Iterable[bytes | str]) -> tuple[list[Record], BaseException | None]:
    """Records of ``lines`` in order, up to the first line whose check raised, and that error.

    A check should never raise (a bad line is a record); if one does, the lines before it
    still count, so the verifier can report an earlier bad line first, as it would in-process.
    """
    records: list[Record] = []
    try:
        for raw in lines:
            records.append(classify(raw))
    except Exception as e:  # noqa: BLE001 - handed back to the parent to re-raise
        return records, e
    return records, None
