"""The checks of one export line that need no other line (private to ``log``).

:func:`classify` returns a small tuple, a *record*, saying what a line is:

- ``(EVENT, seq, prev, hash, tenant, bad_event, hash_ok)``: a well-formed event line;
  ``bad_event`` is why the event cannot be hashed (then ``tenant`` is None and
  ``hash_ok`` False), else None; ``hash_ok`` says whether the event hashes to ``hash``;
- ``(CHECKPOINT, line)``: a line of kind checkpoint, parsed;
- ``(BAD_LINE, reason, detail)``: the line fails on its own, named by the seq expected there;
- ``(BAD_AT_SEQ, seq, reason, detail)``: the line fails on its own, named by its seq.

Lines the service writes (compact, the event in its canonical form, as
``stored_event_line`` splices it) take a fast path: the event's own bytes are hashed once
the C parser's value, written back canonically, is byte for byte those bytes. Any other
spelling takes the strict path and gets the same verdict, more slowly.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ._jcs import canonical_json
from ._json import DuplicateMember, strict_json
from .chain import check_event, is_hash, link_hash

#: An event line is well under 2 KiB; the cap keeps one hostile line from eating memory.
MAX_LINE_BYTES = 64 * 1024

EVENT, CHECKPOINT, BAD_LINE, BAD_AT_SEQ = range(4)

Record = tuple[Any, ...]

_EVENT_KEYS = frozenset({"kind", "seq", "event", "prev", "hash"})
_HEAD = re.compile(rb'\{"kind":"event","seq":([1-9][0-9]{0,15}),"event":')
_TAIL = re.compile(rb',"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})"\}\r?\n?')
_TAIL_BYTES = 149  # ,"prev":"<64>","hash":"<64>"}
try:  # optional speed-up (extra "fast"): the verdict is the same, see _canonical_event
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - exercised by the installs without the extra
    _loads = json.loads
_sha256 = hashlib.sha256


def classify(raw: bytes) -> Record:
    """Return the record of one export line (see the module docstring)."""
    if len(raw) > MAX_LINE_BYTES:
        return (BAD_LINE, "line_too_long", "")
    head = _HEAD.match(raw)
    if head is not None:
        stripped = len(raw) - (raw.endswith(b"\n") + raw.endswith(b"\r\n"))
        tail = _TAIL.fullmatch(raw, stripped - _TAIL_BYTES)
        if tail is not None:
            record = _canonical_event(raw, head, tail.start(), tail)
            if record is not None:
                return record
    return _strict(raw)


def _canonical_event(raw: bytes, head: re.Match[bytes], end: int, tail: re.Match[bytes]) -> Record | None:
    # Whichever parser reads the event, its value written back canonically must be these
    # very bytes: a duplicate member, a second spelling or anything a parser reads
    # differently cannot pass, and goes to the strict path for its verdict.
    event_bytes = raw[head.end() : end]
    try:
        event = _loads(event_bytes)
        if canonical_json(event) != event_bytes:
            return None
        check_event(event)
    except (ValueError, RecursionError):
        return None  # the strict path names the problem
    prev, hash_ = tail.group(1).decode(), tail.group(2).decode()
    computed = _sha256(bytes.fromhex(prev) + event_bytes).hexdigest()
    return (EVENT, int(head.group(1)), prev, hash_, event["tenant"], None, computed == hash_)


def _strict(raw: bytes) -> Record:
    try:
        line = strict_json(raw)
    except ValueError as e:
        reason = "duplicate_member" if isinstance(e, DuplicateMember) else "malformed_json"
        return (BAD_LINE, reason, str(e))
    kind = line.get("kind") if type(line) is dict else None
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
