"""Sending one signed webhook over HTTP: resolve, refuse private targets, POST, read a prefix.

No redirect is followed (a 3xx is a failed attempt), the whole exchange is bounded by a
timeout (10 s), and at most ``PREFIX_CHARS`` of the answer are kept. The connection goes to
the address that passed the destination check, with the URL's host name in ``Host`` and in
TLS SNI, so certificates are checked against the name the tenant registered.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping

from service.events.destinations import Destination, RefusedDestination, check_addresses, parse_url
from service.events.outcome import Outcome

PREFIX_CHARS = 256
TIMEOUT_SECONDS = 10.0

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


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, destination: Destination, address: str, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout, context=context)
        self._address = address
        self._context_for_pin = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context_for_pin.wrap_socket(raw, server_hostname=self.host)


class Sender:
    """Posts webhook bodies; safe to share between threads (it keeps no connection)."""

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
        connection: http.client.HTTPConnection = (
            _PinnedHTTPS(destination, addresses[0], self.timeout, self._tls)
            if destination.scheme == "https"
            else _PinnedHTTP(destination, addresses[0], self.timeout)
        )
        try:
            connection.request("POST", destination.target, body=body, headers={**headers, "user-agent": "agegate-webhooks"})
            response = connection.getresponse()
            prefix = response.read(PREFIX_CHARS * 4).decode("utf-8", "replace")[:PREFIX_CHARS]
            error = None
            if 300 <= response.status < 400:
                error = "redirect not followed"
            elif not 200 <= response.status < 300:
                error = f"HTTP {response.status}"
            return Outcome(response.status, elapsed(), error, prefix or None)
        except (OSError, http.client.HTTPException) as e:
            reason = "timeout" if isinstance(e, TimeoutError) else type(e).__name__
            return Outcome(None, elapsed(), f"{reason}: {e}"[:200])
        finally:
            connection.close()
