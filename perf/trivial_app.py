"""The ceiling for the HTTP benchmarks: the least a Flask JSON endpoint can do.

Served by the same gunicorn.conf.py as the service (`gunicorn -c gunicorn.conf.py
perf.trivial_app:app`), it parses the JSON body and answers a small JSON document, with no
auth, no database and no crypto, so real/trivial is the cost of what agegate adds.
"""

from __future__ import annotations

from flask import Flask, request

app = Flask("trivial")


@app.post("/echo")
def echo() -> tuple[dict[str, object], int]:
    body = request.get_json(silent=True) or {}
    return {"ok": True, "keys": len(body)}, 201


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
