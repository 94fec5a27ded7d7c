"""Operations endpoints (CONTRACT §9) and the Prometheus request metrics."""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

from service.runtime import current_runtime
from service.store.db import DatabaseUnavailable

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz() -> Any:
    """200 when the database answers; the 503 comes from problems.py's database mapping."""
    # Below SQLAlchemy's transaction events: on SQLite every transaction is BEGIN IMMEDIATE,
    # and a probe must not queue behind writers for the write lock.
    engine = current_runtime().engine
    try:
        connection = engine.raw_connection()
        try:
            connection.cursor().execute("SELECT 1")
        finally:
            connection.close()
    except engine.dialect.loaded_dbapi.Error as error:
        raise DatabaseUnavailable(type(error).__name__) from None
    return {"status": "ready"}


@blueprint.get("/metrics")
def metrics() -> Response:
    registry = current_app.extensions["agegate.metrics"][0]
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under gunicorn each worker counts on its own; the multiprocess collector sums the
        # files every worker writes, so any worker answers for all of them.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    """Count and time every request by route template (never the raw path) and status."""
    registry = CollectorRegistry()
    requests = Counter("agegate_http_requests", "HTTP requests", ["endpoint", "method", "status"], registry=registry)
    latency = Histogram(
        "agegate_http_request_seconds",
        "HTTP request latency",
        ["endpoint", "method"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    )
    app.extensions["agegate.metrics"] = (registry, requests, latency)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests.labels(endpoint, request.method, str(response.status_code)).inc()
        started = g.get("started")
        if started is not None:
            latency.labels(endpoint, request.method).observe(time.perf_counter() - started)
        return response
