"""Reading request bodies: JSON only, objects only, duplicate members refused."""

from __future__ import annotations

from typing import Any

from agegate_verifier.jose import strict_json
from flask import request
from marshmallow import Schema
from werkzeug.exceptions import BadRequest, UnsupportedMediaType


def json_body() -> Any:
    """The parsed JSON body; 415 for another media type, 400 for malformed JSON.

    Duplicate member names are refused: two parsers reading one body differently is how
    checks get bypassed.
    """
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.get_data(cache=True)  # MAX_CONTENT_LENGTH makes this a 413 past 64 KiB
    try:
        return strict_json(raw)
    except ValueError:
        raise BadRequest("the body is not valid JSON") from None


def load(schema: Schema) -> Any:
    """Validate the JSON body with `schema`; marshmallow's ValidationError becomes a 422."""
    return schema.load(json_body())
