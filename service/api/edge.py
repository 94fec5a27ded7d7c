"""The edge: every request's text checked before any view reads it, and the headers every
response carries.

The rules hold for every endpoint, present and future, because they run before routing
reaches a view (CONTRACT §3: no input produces a 500 or a partial write):
- text is UTF-8: the path, the query string, form and JSON bodies decode strictly (invalid
  bytes are refused, not replaced with U+FFFD);
- no NUL and no unpaired surrogate in any string, header or credential (PostgreSQL cannot
  store NUL, no encoder can write a lone surrogate: both were 500s);
- a query parameter appears at most once (one rule everywhere, rather than "the first wins");
- HTTP Basic credentials are base64 of UTF-8 text (RFC 7617), percent-decoded as RFC 6749
  §2.3.1 asks, and hold no unstorable character either.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Response, request

from service.api.bodies import UNSTORABLE, InputRefused, check_json_body

_UNSTORABLE = "contains a NUL or an unpaired surrogate character"
_NOT_UTF8 = "is not UTF-8"


def _decode(raw: bytes, where: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputRefused({where: _NOT_UTF8}) from None
    if UNSTORABLE.search(text):
        raise InputRefused({where: _UNSTORABLE})
    return text


def _urlencoded_pairs(encoded: str, where: str) -> list[tuple[str, str]]:
    """name=value pairs of a query string or form body (given as WSGI's latin-1 text)."""
    pairs = []
    for field in encoded.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        name_text = _decode(unquote_to_bytes(name.replace("+", " ")), where)
        pairs.append((name_text, _decode(unquote_to_bytes(value.replace("+", " ")), f"{where}.{name_text}")))
    return pairs


def _check_query() -> None:
    seen: set[str] = set()
    for name, _value in _urlencoded_pairs(request.environ.get("QUERY_STRING", ""), "query"):
        if name in seen:
            raise InputRefused({f"query.{name}": "is repeated; give each parameter once"})
        seen.add(name)


def _check_path() -> None:
    # WSGI hands the path over as latin-1 text of the raw bytes
    _decode(request.environ.get("PATH_INFO", "").encode("latin-1"), "path")


# The WSGI environ keys that hold request header fields (the Headers view's own rule).
_CONTENT_HEADER_KEYS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def header_holds_nul(environ: dict[str, Any]) -> bool:
    """Whether any request header field in the WSGI environ holds a NUL, read from the
    environ's values with no Headers view built."""
    return any("\x00" in value for key, value in environ.items() if key.startswith("HTTP_") or key in _CONTENT_HEADER_KEYS)


def _check_headers() -> None:
    # A NUL is rare: only then is the field looked up by the name the problem gives.
    if header_holds_nul(request.environ):
        for name, value in request.headers.items():
            if "\x00" in value:
                raise InputRefused({f"header.{name}": _UNSTORABLE})
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InputRefused({"header.Authorization": "Basic credentials are not base64"}) from None
        text = _decode(decoded, "header.Authorization")
        for part in text.split(":", 1):
            _decode(unquote_to_bytes(part), "header.Authorization")


def _check_body() -> None:
    if not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", ""):
        return
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        raw = request.get_data(cache=True)  # form parsing later reads this cached copy
        try:
            encoded = raw.decode("ascii")  # a conforming form body is percent-encoded ASCII
        except UnicodeDecodeError:
            raise InputRefused({"form": "is not percent-encoded ASCII"}) from None
        _urlencoded_pairs(encoded, "form")
    elif mimetype == "multipart/form-data":
        for name, value in request.form.items(multi=True):
            if UNSTORABLE.search(name) or UNSTORABLE.search(value):
                raise InputRefused({f"form.{name}": _UNSTORABLE})
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        check_json_body()


def check_request() -> None:
    """before_request: refuse what no view could store; raises InputRefused (a 400)."""
    _check_path()
    _check_query()
    _check_headers()
    _check_body()


def add_safety_headers(response: Response) -> Response:
    """after_request: responses are private unless a view says otherwise (published documents
    set their own public Cache-Control), and no browser may guess another media type."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
