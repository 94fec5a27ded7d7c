"""`X-Request-Id` on every answer (the caller's, when it sent a sane one) and one access line
per request on the `agegate.access` logger, carrying that id."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Response, g, request

log = logging.getLogger("agegate.access")

# A proxy's or client's id is kept only if it cannot smuggle anything into a log line.
_SANE_ID = re.compile(r"\A[A-Za-z0-9._:@/+=-]{1,128}\Z")


def _request_id() -> str:
    offered = request.headers.get("X-Request-Id", "")
    return offered if _SANE_ID.match(offered) else uuid.uuid4().hex


def assign_request_id() -> float:
    """Before the view: the request's id, and when it started (returned, for the metrics)."""
    g.request_id = _request_id()
    started = g.request_started = time.perf_counter()
    return started


def echo_and_log(response: Response, route: str | None, method: str) -> None:
    """After the view: echo the id and write the access line. `route` is the route template,
    never the path (paths hold subject refs); None when no route matched."""
    request_id = g.get("request_id") or _request_id()  # a request refused before routing
    g.request_id = request_id
    response.headers["X-Request-Id"] = request_id
    if log.isEnabledFor(logging.INFO):
        started = g.get("request_started")
        caller = g.get("caller")
        status = response.status_code
        # The record made and handled directly, as Logger.info would but without its walk
        # up the stack (findCaller, 1.6% of a verify's samples under gevent) for a file and
        # line that no handler of ours prints: they are this function's own.
        record = log.makeRecord(
            log.name,
            logging.INFO,
            __file__,
            _ACCESS_LINE,
            "%s %s %s",
            (method, route or "unmatched", status),
            None,
            "echo_and_log",
            extra={
                "route": route,
                "method": method,
                "status": status,
                "duration_ms": None if started is None else round((time.perf_counter() - started) * 1000, 2),
                "client_id": None if caller is None else caller.client_id,
            },
        )
        log.handle(record)


_ACCESS_LINE = echo_and_log.__code__.co_firstlineno
