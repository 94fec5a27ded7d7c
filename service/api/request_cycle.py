"""The steps every request takes around its view, wired as one before_request hook and one
after_request hook.

Before the view, in this order: the edge check (edge.py: nothing else may see unchecked
input), the request id and start time (request_ids.py), the schema gate (schema_gate.py),
the metrics timer. After it: the metrics (ops.py), the request id and access line, the
safety headers (edge.py). These were seven hooks; Flask wraps every hook call in
ensure_sync and each step read request and g through context-local proxies again, which
together cost more than the view of POST /v1/tokens/verify. The steps and their order are
unchanged; a step that refuses the request ends the before hook as its own hook did.
"""

from __future__ import annotations

from flask import Flask, Response, g, request
from sqlalchemy import Engine

from service.api.edge import add_safety_headers, check_request
from service.api.ops import init_metrics
from service.api.request_ids import assign_request_id, echo_and_log
from service.api.schema_gate import init_schema_gate, refused_while_behind


def init_request_cycle(app: Flask, engine: Engine) -> None:
    init_schema_gate(app, engine)
    metrics = init_metrics(app)

    def before_view() -> Response | None:
        check_request()  # raises InputRefused: no id assigned, not timed (as before)
        started = assign_request_id()
        refusal = refused_while_behind()
        if refusal is not None:
            return refusal  # logged with its duration, counted but not timed (as before)
        g.started = started
        return None

    def after_view(response: Response) -> Response:
        rule = request.url_rule
        route = rule.rule if rule is not None else None
        method = request.method
        metrics.observe(route or "unmatched", method, response.status_code, g.get("started"))
        echo_and_log(response, route, method)
        return add_safety_headers(response)

    # First in line, before any hook registered earlier (none is) or later (auth, limiter).
    app.before_request_funcs.setdefault(None, []).insert(0, before_view)
    app.after_request(after_view)
