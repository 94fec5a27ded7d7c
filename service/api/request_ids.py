"""`X-Request-Id` on every answer (the caller's, when it sent a sane one) and one access line
per request on the `agegate.access` logger, carrying that id."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("agegate.access")

# A proxy's or client's id is kept only if it cannot smuggle anything into a log line.
_SANE_ID = re.compile(r"\A[A-Za-z0-9._:@/+=-]{1,128}\Z")


def _request_id() -> str:
    offered = request.headers.get("X-Request-Id", "")
    return offered if _SANE_ID.match(offered) else uuid.uuid4().hex


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign() -> None:
        g.request_id = _request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def _echo_and_log(response: Response) -> Response:
        request_id = g.get("request_id") or _request_id()  # a request refused before routing
        g.request_id = request_id
        response.headers["X-Request-Id"] = request_id
        if log.isEnabledFor(logging.INFO):
            started = g.get("request_started")
            caller = g.get("caller")
            # the route template, never the path: paths hold subject refs
            rule = request.url_rule
            route = rule.rule if rule is not None else None
            method = request.method
            status = response.status_code
            log.info(
                "%s %s %s",
                method,
                route or "unmatched",
                status,
                extra={
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": None if started is None else round((time.perf_counter() - started) * 1000, 2),
                    "client_id": None if caller is None else caller.client_id,
                },
            )
        return response
