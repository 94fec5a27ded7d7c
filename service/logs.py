"""Logging set-up: one JSON object per line (python-json-logger), each naming its request.

Every record written while a request is served carries that request's id (`X-Request-Id`,
honoured or generated, see service/api/request_ids.py), so an operator finds every line
of one call. Log calls in this code base pass ids, counts and class names only: never a
token, secret, birth date or ID number.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter


# The id of a request answered outside Flask's request context (the verify fast path,
# service/api/verify_fast_path.py); requests Flask answers keep theirs on g. Each greenlet
# and thread has its own value.
fast_path_request_id: ContextVar[str | None] = ContextVar("agegate_fast_path_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else fast_path_request_id.get()
        return True


def configure_logging(log_format: str = "json", level: str = "info") -> None:
    """Send every logger's records to stderr, as JSON lines or as text for a terminal.

    Replaces the root handlers (idempotent); `level` is a logging level name.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                ["levelname", "name", "message"],
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces its context and plugins at INFO on every run; `agegate db upgrade`
    # reports the outcome itself, and Alembic's warnings still come through.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Authlib logs every issued access token at DEBUG ("Issue token {...}"): never let those
    # records through, whatever AGEGATE_LOG_LEVEL says.
    logging.getLogger("authlib").setLevel(logging.INFO)
