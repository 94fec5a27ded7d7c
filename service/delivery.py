"""Sending one signed webhook over HTTP: resolve, refuse private targets, POST, read a prefix.

No redirect is followed (a 3xx is a failed attempt), the whole exchange is bounded by a
timeout (10 s), and at most ``PREFIX_CHARS`` of the answer are kept. The connection goes to
the address that passed the destination check, with the URL's host name in ``Host`` and in
TLS SNI, so certificates are checked against the name the tenant registered.

Connections are kept alive and reused for the same checked address (the check still runs
before every delivery): a TCP and TLS handshake per event would cost a receiver and the
worker more than the event itself. A kept connection the receiver closed while it was idle
is noticed on reuse and the delivery is sent once more on a new one; should the receiver
have handled the first copy before closing, it gets the event twice with the same
``webhook-id``, which Standard Webhooks receivers deduplicate (delivery is at least once).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping

from service.events.destinations import Destination, RefusedDestination, check_addresses, parse_url
from service.events.outcome import Outcome

PREFIX_CHARS = 256
TIMEOUT_SECONDS = 10.0
# A kept connection idle longer than this is closed rather than reused: receivers' servers
# close theirs after 5 s (Node's default) to 75 s (nginx's), and reusing one they already
# closed costs a retry.
KEEP_IDLE_SECONDS = 4.0
# An answer longer than this is not read to its end: its connection is closed instead.
KEEP_ANSWER_BYTES = 64 * 1024
KEEP_PER_ADDRESS = 32

_Key = tuple[str, str, int, str]  # scheme, host, port, checked address

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (both families); empty when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def check_destination(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> None:
    """Raise RefusedDestination when ``url`` may not receive webhooks (parsed, then resolved)."""
    destination = parse_url(url, allow_private=allow_private)
    check_addresses(destination.host, resolver(destination.host, destination.port), allow_private=allow_private)


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    raw = socket.create_connection((address, port), timeout)
    # http.client sends headers and body in two writes: on a kept connection Nagle's
    # algorithm held the body until the receiver's delayed ACK (40 ms a delivery).
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return raw


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, destination: Destination, address: str, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout, context=context)
        self._address = address
        self._context_for_pin = context

    def connect(self) -> None:
        raw = _connect(self._address, self.port, self.timeout)
        self.sock = self._context_for_pin.wrap_socket(raw, server_hostname=self.host)


class _StaleConnection(Exception):
    """A kept connection the receiver had closed: nothing was answered on it."""


class Sender:
    """Posts webhook bodies; safe to share between threads. Idle connections are kept per
    checked address until `close()` (the worker calls it when it stops or goes idle)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float = TIMEOUT_SECONDS,
        resolver: Resolver = resolve,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self._resolver = resolver
        self._tls = tls or ssl.create_default_context()
        self._idle: dict[_Key, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST ``body`` once; never raises for anything the network or the receiver does."""
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            destination = parse_url(url, allow_private=self.allow_private)
            addresses = check_addresses(
                destination.host, self._resolver(destination.host, destination.port), allow_private=self.allow_private
            )
        except RefusedDestination as e:
            return Outcome(None, elapsed(), f"refused: {e}"[:200])
        key = (destination.scheme, destination.host, destination.port, addresses[0])
        request = (destination.target, body, {**headers, "user-agent": "agegate-webhooks"})
        kept = self._take(key)
        if kept is not None:
            try:
                return self._exchange(key, kept, request, elapsed, reused=True)
            except _StaleConnection:
                pass  # closed by the receiver while idle: once more, on a new connection
        connection: http.client.HTTPConnection = (
            _PinnedHTTPS(destination, addresses[0], self.timeout, self._tls)
            if destination.scheme == "https"
            else _PinnedHTTP(destination, addresses[0], self.timeout)
        )
        return self._exchange(key, connection, request, elapsed, reused=False)

    def _exchange(
        self,
        key: _Key,
        connection: http.client.HTTPConnection,
        request: tuple[str, bytes, dict[str, str]],
        elapsed: Callable[[], int],
        *,
        reused: bool,
    ) -> Outcome:
        keep = False
        target, body, headers = request
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            prefix = response.read(PREFIX_CHARS * 4).decode("utf-8", "replace")[:PREFIX_CHARS]
            if not response.will_close and response.length is not None and response.length <= KEEP_ANSWER_BYTES:
                response.read()  # the rest of a short answer, so the connection can carry the next
                keep = True
            error = None
            if 300 <= response.status < 400:
                error = "redirect not followed"
            elif not 200 <= response.status < 300:
                error = f"HTTP {response.status}"
            return Outcome(response.status, elapsed(), error, prefix or None)
        except (http.client.BadStatusLine, ConnectionResetError, BrokenPipeError) as e:
            # On a kept connection no status line means it was closed, or left unusable by
            # the previous answer (a 204 with a body): no answer came to this event.
            if reused:
                raise _StaleConnection from e
            return Outcome(None, elapsed(), f"{type(e).__name__}: {e}"[:200])
        except (OSError, http.client.HTTPException) as e:
            reason = "timeout" if isinstance(e, TimeoutError) else type(e).__name__
            return Outcome(None, elapsed(), f"{reason}: {e}"[:200])
        finally:
            if keep:
                self._give_back(key, connection)
            else:
                connection.close()

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        """The most recently used idle connection to `key` still young enough, if any."""
        now = time.monotonic()
        stale = []
        found = None
        with self._lock:
            kept = self._idle.get(key, [])
            while kept and found is None:
                connection, since = kept.pop()
                if now - since <= KEEP_IDLE_SECONDS:
                    found = connection
                else:
                    stale.append(connection)
        for connection in stale:
            connection.close()
        return found

    def _give_back(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            kept = self._idle.setdefault(key, [])
            if len(kept) < KEEP_PER_ADDRESS:
                kept.append((connection, time.monotonic()))
                return
        connection.close()

    def close(self) -> None:
        """Close every idle connection (connections in use are closed by their `post`)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for kept in idle.values():
            for connection, _since in kept:
                connection.close()
