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


def request_id_for(offered: str) -> str:
    """The id a request goes by: the caller's `X-Request-Id` when it is sane, else a new one."""
    return offered if _SANE_ID.match(offered) else uuid.uuid4().hex


def assign_request_id() -> float:
    """Before the view: the request's id, and when it started (returned, for the metrics)."""
    g.request_id = request_id_for(request.headers.get("X-Request-Id", ""))
    started = g.request_started = time.perf_counter()
    return started


def echo_and_log(response: Response, route: str | None, method: str) -> None:
    """After the view: echo the id and write the access line. `route` is the route template,
    never the path (paths hold subject refs); None when no route matched."""
    request_id = g.get("request_id") or request_id_for(request.headers.get("X-Request-Id", ""))  # refused before routing
    g.request_id = request_id
    response.headers["X-Request-Id"] = request_id
    caller = g.get("caller")
    log_access(route, method, response.status_code, g.get("request_started"), None if caller is None else caller.client_id)


def log_access(route: str | None, method: str, status: int, started: float | None, client_id: str | None) -> None:
    """The access line of one answered request, on the `agegate.access` logger."""
    if log.isEnabledFor(logging.INFO):
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
            "log_access",
            extra={
                "route": route,
                "method": method,
                "status": status,
                "duration_ms": None if started is None else round((time.perf_counter() - started) * 1000, 2),
                "client_id": client_id,
            },
        )
        log.handle(record)


_ACCESS_LINE = log_access.__code__.co_firstlineno
