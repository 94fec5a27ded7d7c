"""Reading what ``agegate-verify`` is given: exports (plain or gzip, a file or stdin), JWKS
(a file or a URL), kept checkpoints. Anything that cannot be read raises ``Unreadable``."""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from typing import IO, Any

from ._http import HttpFetcher
from ._json import json_object
from ._lines import MAX_LINE_BYTES

#: Largest JWKS read.
MAX_JWKS_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class Unreadable(Exception):
    """The input cannot be read as what it should be: exit 2, never a verdict on its content."""


def export_lines(path: str) -> Iterator[bytes]:
    """The lines of the export at ``path`` (``-`` for stdin), gunzipped if it is gzip.

    A line longer than ``MAX_LINE_BYTES`` arrives as a ``MAX_LINE_BYTES + 1`` chunk for the
    verifier to refuse, never read whole. Raises ``Unreadable`` for a missing file, broken
    gzip, or a first line that is binary (NUL bytes, not UTF-8): not an export at all.
    """
    try:
        raw: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as error:
        raise Unreadable(f"cannot open {path}: {error.strerror or error}") from None
    try:
        stream: IO[bytes] = raw
        if isinstance(raw, io.BufferedReader) and raw.peek(2)[:2] == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        first = True
        while True:
            try:
                line = stream.readline(MAX_LINE_BYTES + 1)
            except (OSError, EOFError, zlib.error) as error:
                raise Unreadable(f"{path}: {error}") from None
            if not line:
                return
            if first:
                _check_text(line, path)
                first = False
            yield line
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _check_text(line: bytes, path: str) -> None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(f"{path}: binary data, not an NDJSON export") from None
    if b"\0" in line:
        raise Unreadable(f"{path}: binary data, not an NDJSON export")


def _read_source(source: str, max_bytes: int) -> bytes:
    try:
        if source.startswith(("https://", "http://")):
            return HttpFetcher(source, timeout=10.0, max_bytes=max_bytes)(source)
        with open(source, "rb") as f:
            data = f.read(max_bytes + 1)
    except (OSError, ValueError) as error:
        raise Unreadable(f"cannot read {source}: {error}") from None
    if len(data) > max_bytes:
        raise Unreadable(f"{source} is larger than {max_bytes} bytes")
    return data


def load_jwks(source: str) -> dict[str, Any]:
    """The JWKS at ``source`` (a file path or an http(s) URL); ``Unreadable`` if it is not one."""
    try:
        jwks = json_object(_read_source(source, MAX_JWKS_BYTES))
    except ValueError as error:
        raise Unreadable(f"{source} is not strict JSON: {error}") from None
    if not isinstance(jwks.get("keys"), list):
        raise Unreadable(f'{source}: a JWKS is an object with a "keys" array')
    return jwks


def kept_text(value: str) -> str:
    """``--since-checkpoint``'s text: the value itself, or the last line of the file it names."""
    if not os.path.isfile(value):
        return value
    try:
        with open(value, "rb") as f:
            lines = [line for line in f.read(64 << 20).splitlines() if line.strip()]
    except OSError as error:
        raise Unreadable(f"cannot read the kept checkpoint {value}: {error.strerror or error}") from None
    if not lines:
        raise Unreadable(f"{value} holds no checkpoint")
    try:
        return lines[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(f"{value} is not text") from None


def text_argument(value: str) -> str:
    """A receipt or token given as itself, as ``-`` (stdin) or as a file path."""
    if value == "-":
        return sys.stdin.read().strip()
    if not os.path.isfile(value):
        return value.strip()
    try:
        with open(value, encoding="utf-8") as f:
            return f.read(1 << 20).strip()
    except (OSError, UnicodeDecodeError) as error:
        raise Unreadable(f"cannot read {value}: {error}") from None
