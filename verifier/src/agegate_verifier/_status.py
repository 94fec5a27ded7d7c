"""Where token statuses come from: the issuer's Token Status Lists over HTTP."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ._constants import STATUS_LIST_PATH, STATUS_LIST_TYPE
from ._http import normalized_issuer
from ._jwks import KeySource
from ._jws import CompactVerifier
from ._nonblocking import locked, may_block
from .errors import InvalidToken, StatusUnavailable
from .statuslist import BITS, decode_statuses, status_at

_log = logging.getLogger("agegate.verifier")

#: Largest status list token accepted (and fetched).
MAX_STATUS_LIST_BYTES = 4 << 20
#: Most entries a list may inflate to: 2**24 entries is 2 MiB at 1 bit, 16 MiB at 8 bits.
MAX_ENTRIES = 1 << 24


class StatusSource(Protocol):
    """Anything that knows the current status of entry ``idx`` of list ``uri``."""

    def status(self, uri: str, idx: int) -> int:
        """Return the status value (0 VALID, 1 INVALID, 2 SUSPENDED, ...).

        Raises ``StatusUnavailable`` when no fresh list covering ``idx`` can be had.
        """
        ...


@dataclass(frozen=True, slots=True)
class _List:
    data: bytes
    bits: int
    fresh_until: float


class HttpStatusLists:
    """Status List Tokens fetched from ``<issuer>/v1/status-lists/``, verified and cached.

    A list is cached until ``min(exp, fetched_at + ttl)``. After that it is refetched;
    if that fails the stale list is NOT used: ``StatusUnavailable`` (fail closed). After a
    failed fetch, the same list is not tried again for ``retry_interval`` seconds, so a
    dead issuer costs the hot path nothing but the refusal.
    """

    def __init__(
        self,
        issuer: str,
        keys: KeySource,
        fetch: Callable[[str], bytes],
        clock: Callable[[], float],
        *,
        leeway: float,
        retry_interval: float = 1.0,
        max_lists: int = 1024,
    ) -> None:
        self._issuer = normalized_issuer(issuer)
        self._prefix = self._issuer + STATUS_LIST_PATH
        self._jws = CompactVerifier(STATUS_LIST_TYPE, keys, MAX_STATUS_LIST_BYTES)
        self._fetch = fetch
        self._clock = clock
        self._leeway = leeway
        self._retry_interval = retry_interval
        self._max_lists = max_lists
        self._lists: dict[str, _List] = {}
        self._retry_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def status(self, uri: str, idx: int) -> int:
        """Return the status of ``idx`` in list ``uri``; see ``StatusSource.status``."""
        current = self._lists.get(uri)
        if current is None or self._clock() >= current.fresh_until:
            current = self._refresh(uri)
        try:
            return status_at(current.data, idx, current.bits)
        except IndexError:
            raise StatusUnavailable("index outside the status list") from None

    def _refresh(self, uri: str) -> _List:
        if not uri.startswith(self._prefix):
            raise StatusUnavailable("status list is not the issuer's")
        with locked(self._lock):
            now = self._clock()
            current = self._lists.get(uri)
            if current is not None and now < current.fresh_until:
                return current  # another thread refreshed it meanwhile
            if now < self._retry_at.get(uri, float("-inf")):
                raise StatusUnavailable("status list fetch failed recently")
            try:
                current = self._load(uri, now)
            except Exception as error:  # any failure to get a fresh list means "deny"
                reason = error.reason if isinstance(error, InvalidToken) else type(error).__name__
                _log.warning("status list unavailable: uri=%s error=%s", uri, reason)
                self._retry_at[uri] = now + self._retry_interval
                raise StatusUnavailable("no fresh status list") from error
            self._retry_at.pop(uri, None)
            if uri not in self._lists and len(self._lists) >= self._max_lists:
                del self._lists[next(iter(self._lists))]  # drop the oldest-fetched list
            self._lists[uri] = current
            return current

    def _load(self, uri: str, now: float) -> _List:
        may_block()
        body = self._fetch(uri)
        _, _, claims = self._jws.verify(body.decode("ascii").strip())
        return parse_status_list_claims(claims, uri=uri, issuer=self._issuer, now=now, leeway=self._leeway)


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if type(value) is not int:
        raise StatusUnavailable(f"status list: {name} must be an integer")
    return value


def parse_status_list_claims(claims: dict[str, Any], *, uri: str, issuer: str, now: float, leeway: float) -> _List:
    """Check a verified status list token's claims and return the decoded list.

    Raises ``StatusUnavailable`` when ``sub`` is not ``uri``, ``iss`` (if present) is not
    ``issuer``, ``iat``/``exp``/``ttl`` are missing or not integers, the list is expired
    or issued in the future, or ``status_list`` is malformed or inflates too far.
    """
    if claims.get("sub") != uri:
        raise StatusUnavailable("status list: sub is not the URI it was fetched from")
    if claims.get("iss", issuer) != issuer:
        raise StatusUnavailable("status list: wrong issuer")
    iat, exp, ttl = _int_claim(claims, "iat"), _int_claim(claims, "exp"), _int_claim(claims, "ttl")
    if now >= exp or iat > now + leeway or ttl <= 0:
        raise StatusUnavailable("status list: expired, not yet valid or no ttl")
    status_list = claims.get("status_list")
    if type(status_list) is not dict:
        raise StatusUnavailable("status list: status_list must be an object")
    bits, lst = status_list.get("bits"), status_list.get("lst")
    if type(bits) is not int or bits not in BITS or type(lst) is not str:
        raise StatusUnavailable("status list: bad bits or lst")
    try:
        data = decode_statuses(lst, max_bytes=MAX_ENTRIES * bits // 8)
    except ValueError as error:
        raise StatusUnavailable(f"status list: {error}") from None
    return _List(data=data, bits=bits, fresh_until=min(exp, now + ttl))
