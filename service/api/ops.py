"""Operations endpoints (CONTRACT §9) and the Prometheus request metrics."""

from __future__ import annotations

import hmac
import os
import threading
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from sqlalchemy import Engine
from werkzeug.exceptions import NotFound, Unauthorized

from service.api.schema_gate import schema_behind_problem, schema_gate
from service.runtime import current_runtime
from service.store.db import DatabaseUnavailable

blueprint = Blueprint("ops", __name__)

# /readyz answers within this, whatever the database does: orchestrators probe with a short
# timeout of their own (2 s is common) and count a probe that hangs as a failure anyway.
READINESS_DEADLINE_SECONDS = 1.5


@blueprint.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class ReadinessProbe:
    """SELECT 1 on a thread of its own, waited for READINESS_DEADLINE_SECONDS at most.

    A frozen PostgreSQL (a stopped process, or a host under memory pressure) keeps accepting
    TCP and acknowledging packets, so no socket timeout and no server-side statement_timeout
    ever fires: only the caller's own deadline bounds the wait. One probe runs at a time;
    while it is stuck, every /readyz waits on that same probe, so a frozen database costs
    one thread and one connection, not one per probe.
    """

    def __init__(self, engine: Engine, deadline: float = READINESS_DEADLINE_SECONDS) -> None:
        self._engine = engine
        self._deadline = deadline
        self._lock = threading.Lock()
        self._running: tuple[threading.Event, list[str]] | None = None

    def failure(self) -> str | None:
        """None when the database answered in time, else why not."""
        with self._lock:
            if self._running is None:
                self._running = (threading.Event(), [])
                threading.Thread(target=self._probe, args=self._running, name="agegate-readiness", daemon=True).start()
            done, outcome = self._running
        if not done.wait(self._deadline):
            return f"no answer within {self._deadline:g} s"
        return outcome[0] if outcome else None

    def _probe(self, done: threading.Event, outcome: list[str]) -> None:
        # Below SQLAlchemy's transaction events: on SQLite every transaction is BEGIN
        # IMMEDIATE, and a probe must not queue behind writers for the write lock.
        try:
            connection = self._engine.raw_connection()
            try:
                connection.cursor().execute("SELECT 1")
            finally:
                connection.close()
        except Exception as error:  # any failure of the probe is "not ready", named by its class
            outcome.append(type(error).__name__)
        finally:
            with self._lock:
                self._running = None
            done.set()


@blueprint.get("/readyz")
def readyz() -> Any:
    """200 when the database answers in time at this code's schema; the 503 of an unreachable
    database comes from problems.py's mapping, that of an old schema from the schema gate."""
    probe = current_app.extensions.setdefault("agegate.readiness", ReadinessProbe(current_runtime().engine))
    failure = probe.failure()
    if failure is not None:
        raise DatabaseUnavailable(failure)
    behind = schema_gate().behind()
    if behind is not None:
        return schema_behind_problem(behind)
    return {"status": "ready"}


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text, for a scraper holding AGEGATE_METRICS_TOKEN; off (404) without one:
    route names, rates and latencies tell an attacker what is deployed and when it hurts."""
    token = current_runtime().settings.metrics_token
    if token is None:
        raise NotFound("metrics are off; set AGEGATE_METRICS_TOKEN to turn them on")
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(offered.encode(), token.encode()):
        raise Unauthorized("send the scrape token of AGEGATE_METRICS_TOKEN as a bearer token")
    registry = current_app.extensions["agegate.metrics"].registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under gunicorn each worker counts on its own; the multiprocess collector sums the
        # files every worker writes, so any worker answers for all of them.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Every request counted and timed by route template (never the raw path) and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "agegate_http_requests", "HTTP requests", ["endpoint", "method", "status"], registry=self.registry
        )
        self._latency = Histogram(
            "agegate_http_request_seconds",
            "HTTP request latency",
            ["endpoint", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    def observe(self, endpoint: str, method: str, status: int, started: float | None) -> None:
        """`started`: the request's perf_counter() start, None for a request refused before
        it was timed (the edge's 400s, the schema gate's 503s), which is counted only."""
        self._requests.labels(endpoint, method, str(status)).inc()
        if started is not None:
            self._latency.labels(endpoint, method).observe(time.perf_counter() - started)


def init_metrics(app: Flask) -> RequestMetrics:
    metrics = app.extensions["agegate.metrics"] = RequestMetrics()
    return metrics
