"""gunicorn worker classes for agegate: gunicorn's own, except that the errors gunicorn
answers itself (a request it cannot parse, a URI over limit_request_line, too many or too
large header fields) are problem+json like every other error (CONTRACT §3), not HTML.

gunicorn.conf.py names one of these by AGEGATE_WORKER_CLASS (gevent, gthread, sync).
"""

from __future__ import annotations

import json
import socket
import sys
import time

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker as _GeventWorker
from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker
from gunicorn.workers.sync import SyncWorker as _SyncWorker

_DETAILS = {
    400: "the HTTP request could not be parsed",
    403: "the request was refused",
    414: "the request line is longer than the server accepts",
    417: "the expectation in the Expect header cannot be met",
    431: "the request has too many header fields, or one too large",
    501: "the transfer coding is not supported",
}


def problem_response(status: int, reason: str) -> bytes:
    """A whole HTTP/1.1 response carrying a problem document for a gunicorn-level error.

    The detail is fixed per status: gunicorn's own message quotes the request line, which can
    carry a token or a subject ref in its query string.
    """
    body = json.dumps(
        {
            "type": "urn:agegate:problem:" + reason.lower().replace(" ", "-"),
            "title": reason,
            "status": status,
            "detail": _DETAILS.get(status, "the server could not handle the request"),
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, problem_response(status_int, reason))
    _linger(sock)


def _linger(sock: socket.socket) -> None:
    """Send FIN, then read what the client still sends (a second and 64 KiB at most) before
    gunicorn closes the socket: closing with unread input makes the kernel send a reset,
    which can destroy the response before the client has read it."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        deadline = time.monotonic() + 1.0
        drained = 0
        while drained < 65536 and time.monotonic() < deadline:
            chunk = sock.recv(8192)
            if not chunk:
                return
            drained += len(chunk)
    except OSError:
        return


class _ProblemErrors:
    """gunicorn's error path ends in util.write_error, its one writer of error pages; in the
    worker process (never the master) that writer is replaced by the problem+json one."""

    def init_process(self) -> None:
        util.write_error = _write_problem
        super().init_process()  # type: ignore[misc]


class GeventWorker(_ProblemErrors, _GeventWorker):  # type: ignore[misc]
    """The production default: each connection is a greenlet, so slow clients cost memory,
    not a worker, and psycopg (3.1.14+) yields to other greenlets while PostgreSQL works."""

    def patch(self) -> None:
        # psycopg chooses how to wait on its socket when imported: imported before gevent's
        # patches (a preloaded app, an import in gunicorn.conf.py), it would block the whole
        # worker on every query. Refuse to boot rather than serve like that.
        if "psycopg" in sys.modules:
            raise RuntimeError("psycopg was imported before gevent patched the standard library")
        super().patch()


class ThreadWorker(_ProblemErrors, _ThreadWorker):  # type: ignore[misc]
    """For SQLite, whose driver blocks in C: threads wait on it independently."""


class SyncWorker(_ProblemErrors, _SyncWorker):  # type: ignore[misc]
    """One request at a time per process; for experiments only (a slow client holds it)."""
