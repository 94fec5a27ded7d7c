"""gunicorn worker classes for agegate: gunicorn's own, except that the errors gunicorn
answers itself (a request it cannot parse, a URI over limit_request_line, too many or too
large header fields) are problem+json like every other error (CONTRACT §3), not HTML.

gunicorn.conf.py names one of these by AGEGATE_WORKER_CLASS (gevent, gthread, sync).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import gevent
from gevent.socket import wait_read
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


# Any positive sleep runs after the loop's next poll; zero would run before it.
_NEXT_LOOP_TURN = 0.000_001


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

    def handle_request(self, listener_name, req, sock, addr):  # type: ignore[no-untyped-def]
        super().handle_request(listener_name, req, sock, addr)  # StopIteration: closing, no next turn
        self._wait_for_turn(req, sock)

    def _wait_for_turn(self, req, sock) -> None:  # type: ignore[no-untyped-def]
        """Before a keep-alive connection's next request, queue behind the connections whose
        input the event loop already has.

        gunicorn's loop reads the next request straight away, and when its bytes are already
        there (any busy client) the greenlet never yields: that one connection is served
        again and again while the others wait. With wrk on 16 connections the trivial
        endpoint's p50 was 0.2 ms and its p99 190 ms on one worker (12 ms on two).

        Waiting for readability through the loop puts this connection's next request in line
        with everyone else's, at no cost when it is alone (the loop answers at once). A next
        request already read into gunicorn's buffer (a pipelining client) has no readiness to
        wait for, so it waits for the next turn of the loop on a timer instead.
        """
        if req.unreader.buf.seek(0, os.SEEK_END) or getattr(sock, "pending", lambda: 0)():
            gevent.sleep(_NEXT_LOOP_TURN)
            return
        try:
            wait_read(sock.fileno(), timeout=self.cfg.keepalive)
        except TimeoutError:
            # idle for the keep-alive time (never 0: config.py refuses it): close, as gunicorn would
            raise StopIteration from None


class ThreadWorker(_ProblemErrors, _ThreadWorker):  # type: ignore[misc]
    """For SQLite, whose driver blocks in C: threads wait on it independently."""


class SyncWorker(_ProblemErrors, _SyncWorker):  # type: ignore[misc]
    """One request at a time per process; for experiments only (a slow client holds it)."""
