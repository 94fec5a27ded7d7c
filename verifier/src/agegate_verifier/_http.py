"""The one HTTP client of the repository's verifiers: GETs confined to one origin.

Used for the issuer's JWKS and status lists, a JWKS given to ``agegate-verify`` as a URL,
and an attester's JWKS in the service. ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are
honoured the way urllib honours them (CONNECT tunnels for https).
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
import zlib
from email.message import Message
from typing import IO
from urllib.error import HTTPError
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """Return ``(scheme, host, port)`` of an http(s) URL; raise ``ValueError`` otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("only http and https URLs with a host are fetched")
    return scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[scheme]


def normalized_issuer(issuer: str) -> str:
    """The issuer URL without trailing slashes: ``https://a.example/`` is ``https://a.example``.

    Raises ``ValueError`` unless it is an http(s) URL with a host.
    """
    if not isinstance(issuer, str):
        raise ValueError("issuer must be a URL string")
    origin(issuer)
    return issuer.rstrip("/")


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect to another origin could point the verifier at keys or status lists
    # someone else controls (or at an internal address): refuse it outright.
    max_redirections = 3

    def __init__(self, allowed: tuple[str, str, int]) -> None:
        self._allowed = allowed

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            same_origin = origin(newurl) == self._allowed
        except ValueError:
            same_origin = False
        if not same_origin:
            raise HTTPError(req.full_url, code, "redirect leaves the issuer origin", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class HttpFetcher:
    """``fetch(url) -> bytes`` for URLs on one origin, with a timeout and a size cap.

    Only http and https are spoken (the opener has no file, ftp or data handler), proxies
    come from the environment at construction (``NO_PROXY`` exempts hosts, loopback is
    never proxied), redirects may
    not leave the origin, a body longer than ``max_bytes`` (also once gunzipped) is
    refused. ``https_only`` refuses plain http. Raises ``ValueError`` for a URL off the
    origin or an oversized body, ``OSError`` (``URLError``, ``HTTPError``, timeouts) for
    transport failures and non-200 answers.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 3.0, max_bytes: int = 4 << 20, https_only: bool = False
    ) -> None:
        self._origin = origin(base_url)
        if https_only and self._origin[0] != "https":
            raise ValueError("only https URLs are fetched here")
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._opener = urllib.request.OpenerDirector()
        # Proxies from the environment (*_proxy, NO_PROXY); a loopback issuer is never proxied,
        # since no proxy can reach this machine's loopback.
        proxies = {} if _is_loopback(self._origin[1]) else None
        for handler in (
            urllib.request.ProxyHandler(proxies),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(context=ssl.create_default_context()),
            _SameOriginRedirects(self._origin),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            self._opener.add_handler(handler)

    def __call__(self, url: str) -> bytes:
        if origin(url) != self._origin:
            raise ValueError("URL is not on the issuer origin")
        # gzip makes a status list's base64 text a quarter smaller on the wire
        request = urllib.request.Request(url, headers={"User-Agent": "agegate-verifier", "Accept-Encoding": "gzip"})
        with self._opener.open(request, timeout=self._timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            body: bytes = response.read(self._max_bytes + 1)
            encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        if len(body) > self._max_bytes:
            raise ValueError(f"response larger than {self._max_bytes} bytes")
        if encoding == "gzip":
            body = _gunzip(body, self._max_bytes)
        elif encoding != "identity":
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        return body


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    """Inflate a gzip body, refusing one that would exceed ``max_bytes`` (a gzip bomb)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data, max_bytes + 1)
    except zlib.error as error:
        raise ValueError("broken gzip body") from error
    if len(body) > max_bytes or inflater.unconsumed_tail:
        raise ValueError(f"response inflates beyond {max_bytes} bytes")
    return body
