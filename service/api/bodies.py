"""Reading request bodies: UTF-8 JSON only, objects only, duplicate members and characters
no store can keep refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from agegate_verifier.jose import strict_json
from flask import g, request
from marshmallow import Schema
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

# NUL (PostgreSQL text cannot hold it) and UTF-16 surrogates, which in a decoded str can only
# be unpaired halves (JSON's "\ud800"): no encoder can write them, so they are refused here.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InputRefused(Exception):
    """Input the edge refuses; `errors` maps where it was (e.g. "body.method") to why, as a
    list of messages like the validation errors' (openapi.yaml's ValidationErrors)."""

    def __init__(self, errors: dict[str, str], *, status: int = 400) -> None:
        super().__init__("; ".join(f"{where}: {why}" for where, why in errors.items()))
        self.errors = {where: [why] for where, why in errors.items()}
        self.status = status


def unstorable_strings(value: Any, where: str) -> Iterator[str]:
    """The locations (body.a.0.b) of every member name or string holding an unstorable character."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            if UNSTORABLE.search(key):
                yield where
            else:
                yield from unstorable_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_strings(item, f"{where}.{index}")


def _text(raw: bytes) -> str:
    """The body as text: UTF-8 only (RFC 8259 §8.1), no byte order mark.

    strict_json refuses those too, as malformed JSON (400 after authentication); here they
    are refused at the edge, before anything else, saying what is wrong.
    """
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("send JSON as UTF-8 (charset=utf-8)")
    return utf8_text(raw)


def utf8_text(raw: bytes) -> str:
    """`raw` as text when it is UTF-8 with no byte order mark; raises InputRefused saying why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputRefused({"body": "is not UTF-8"}) from None
    if text.startswith("\ufeff"):
        raise InputRefused({"body": "starts with a byte order mark; send UTF-8 without one"})
    return text


def parsed_json() -> Any:
    """Parse the JSON body once per request (the edge checks it, the view reads it)."""
    if "agegate_json" not in g:
        try:
            raw = request.get_data(cache=True)  # MAX_CONTENT_LENGTH makes this a 413 past 64 KiB
            _text(raw)
            g.agegate_json = (strict_json(raw), None)  # bytes: its fast path applies
        except ValueError:
            g.agegate_json = (None, BadRequest("the body is not valid JSON"))
        except (InputRefused, UnsupportedMediaType) as error:
            g.agegate_json = (None, error)
    value, error = g.agegate_json
    if error is not None:
        raise error
    return value


def check_json_body() -> None:
    """The edge's check of a JSON body: UTF-8, no BOM, no unstorable character in any string.
    Malformed JSON is left to the view, which answers it after authentication as before."""
    try:
        value = parsed_json()
    except BadRequest:
        return
    bad = list(unstorable_strings(value, "body"))
    if bad:
        raise InputRefused({where: "contains a NUL or an unpaired surrogate character" for where in bad})


def json_body() -> Any:
    """The parsed JSON body; 415 for another media type, 400 for malformed JSON.

    Duplicate member names (among others: see agegate_verifier's strict_json) are refused:
    two parsers reading one body differently is how checks get bypassed.
    """
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    return parsed_json()


def load(schema: Schema) -> Any:
    """Validate the JSON body with `schema`; marshmallow's ValidationError becomes a 422."""
    return schema.load(json_body())
