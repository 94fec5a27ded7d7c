"""A real HTTP receiver on loopback for webhook tests: records every request, answers with a
status the test chooses, can be slow, and can go down and come back on the same port."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """`keep_alive`: answer HTTP/1.1 and keep connections open (closing one idle for
    `idle_close` seconds, when set); `connections` counts the TCP connections accepted."""

    def __init__(self, *, keep_alive: bool = False, idle_close: float | None = None) -> None:
        self.received: list[Received] = []
        self.status = 204
        self.delay = 0.0
        self.keep_alive = keep_alive
        self.idle_close = idle_close
        self.connections = 0
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"
            timeout = receiver.idle_close

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.connections += 1

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # the sender died mid-request (a test kills a worker): nothing arrived, as
                    # for any HTTP server; recording it would count a truncated body as received
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.arrived:
                    status = receiver.status
                    if 200 <= status < 300:
                        receiver.received.append(Received(self.path, dict(self.headers.items()), body, time.monotonic()))
                    receiver.arrived.notify_all()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                answer = b"" if status in (204, 304) else b"ok"  # these carry no body (RFC 9110)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Go down: the port refuses connections until start()."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} of {count} deliveries arrived")
                self.arrived.wait(left)
            return list(self.received)
