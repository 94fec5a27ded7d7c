"""Cursor pagination for list endpoints: `limit` and `cursor` in, `next_cursor` out.

    page = page_request(QUERY.load(request.args.to_dict()), arity=2)   # QUERY: a PageQuery
    found = store_fn(session, ..., after=page.after, limit=page.limit)   # a store.pages.Page
    return page_body([view(x) for x in found.items], found.next_key)

A cursor is opaque to clients: base64url of the JSON of the last row's sort key. It is not
secret and needs no signature: a forged one only moves within the caller's own tenant.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class PageQuery(Schema):
    """The two paging parameters; list endpoints add their own fields by subclassing."""

    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=1024))


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: tuple[Any, ...] | None


def _encode_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(value["t"])
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    raise ValueError("unexpected cursor value")


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[Any, ...]:
    """The key inside a cursor; raises ValidationError naming `cursor` for anything else."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError("wrong length")
        return tuple(_decode_value(v) for v in values)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": ["not a cursor this list handed out"]}) from None


def page_request(query: Mapping[str, Any], arity: int) -> PageRequest:
    """From a loaded PageQuery (or subclass) to what the store takes."""
    cursor = query.get("cursor")
    return PageRequest(query["limit"], None if cursor is None else decode_cursor(cursor, arity))


def page_body(items: list[Any], next_key: Sequence[Any] | None) -> dict[str, Any]:
    """The list answer: `items` and `next_cursor` (null on the last page)."""
    return {"items": items, "next_cursor": None if next_key is None else encode_cursor(next_key)}
