"""``Verifier``: offline verification of age tokens, and the per-feature ``gate``."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ._claims import ClaimsChecker, Decision, Entry, Record, decide, denial
from ._b64 import b64url_decode
from ._constants import JWKS_PATH, MAX_LEEWAY, MAX_TOKEN_BYTES, SANDBOX_PATH, TOKEN_TYPE
from ._http import HttpFetcher, normalized_issuer
from ._jwks import HttpJwks, KeySource
from ._jws import CompactVerifier
from ._status import HttpStatusLists, StatusSource
from ._json import json_object
from .errors import Expired, InvalidToken, NotYetValid, Revoked, UnknownKey, WrongRealm

_log = logging.getLogger("agegate.verifier")


class Verifier:
    """Verifies age tokens of one ``issuer`` for one ``audience``, offline.

    ``keys`` and ``statuses`` default to the issuer's JWKS and status lists fetched over
    HTTP with ``fetch`` (default: a GET confined to the issuer's origin); pass in-process
    sources to verify without a network. ``leeway`` (at most ``MAX_LEEWAY`` seconds)
    applies to ``nbf`` and ``iat`` only: a token is never accepted at or after ``exp``.

    Tokens that verified are remembered (up to ``cache_size``, least recently used
    first out), so presenting one again costs no cryptography; its ``exp``, ``nbf`` and
    status are still checked on every call.

    ``tenant``, when given, must equal the token's ``tenant`` claim (else ``WrongTenant``):
    the issuer binds every audience to one tenant, so a persona service that knows its
    tenant can refuse a token another tenant had minted before the audience was registered.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        leeway: float = MAX_LEEWAY,
        keys: KeySource | None = None,
        statuses: StatusSource | None = None,
        fetch: Callable[[str], bytes] | None = None,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10_000,
        tenant: str | None = None,
    ) -> None:
        issuer = normalized_issuer(issuer)  # ValueError unless an http(s) URL
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string")
        if isinstance(leeway, bool) or not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        if fetch is None and (keys is None or statuses is None):
            fetch = HttpFetcher(issuer)
        if keys is None:
            assert fetch is not None
            keys = HttpJwks(issuer + JWKS_PATH, fetch, clock)
        if statuses is None:
            assert fetch is not None
            statuses = HttpStatusLists(issuer, keys, fetch, clock, leeway=leeway)
        self._issuer = issuer
        self._jws = CompactVerifier(TOKEN_TYPE, keys, MAX_TOKEN_BYTES)
        self._claims = ClaimsChecker(issuer, audience, leeway, tenant)
        self._statuses = statuses
        self._clock = clock
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Record] = OrderedDict()
        self._denials: dict[str, Decision] = {}

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid ``token``.

        Raises an ``InvalidToken`` subclass: ``TooLarge``, ``Malformed``,
        ``UnsupportedAlgorithm``, ``WrongType``, ``UnknownKey``, ``BadSignature``,
        ``WrongIssuer``, ``WrongAudience``, ``Expired``, ``NotYetValid``, ``Revoked`` or
        ``StatusUnavailable``. The returned dict is yours at the top level; for a token
        seen before its nested values are shared with the cache: do not mutate them.
        """
        entry, fresh = self._live_entry(token)
        return fresh if fresh is not None else dict(entry.claims())

    def gate(self, token: str, feature: str) -> Decision:
        """Return what the token decides for ``feature``; never raises for a bad token.

        An invalid token gives ``Decision(False, "deny", (), <InvalidToken.reason>)``, a
        category the token does not mention gives reason ``unknown_feature``.
        """
        try:
            entry, fresh = self._live_entry(token)
        except InvalidToken as error:
            found = self._denials.get(error.reason)
            if found is None:
                found = self._denials.setdefault(error.reason, denial(error.reason))
            return found
        return entry.decision(feature) if fresh is None else decide(fresh, feature)

    def verify_and_gate(self, token: str, feature: str) -> tuple[dict[str, Any], Decision]:
        """Return ``verify(token)`` and ``gate(token, feature)`` from one check of the token:
        the claims and the decision they make for ``feature``, at one instant.

        Raises what ``verify`` raises; for a valid token the decision is ``gate``'s (a
        category the token does not mention gives ``unknown_feature``).
        """
        entry, fresh = self._live_entry(token)
        if fresh is None:
            return dict(entry.claims()), entry.decision(feature)
        return fresh, decide(fresh, feature)

    def _live_entry(self, token: str) -> tuple[Entry, dict[str, Any] | None]:
        """The entry of a live token seen before and None, or (anything) and the freshly
        parsed claims of a live token first seen now."""
        now = self._clock()
        record = self._cache.get(token) if type(token) is str else None
        fresh = None
        if record is None:
            # A new token, checked here rather than in a helper: a Python call costs about
            # as much as the cheaper checks it would hold.
            kid = "-"
            try:
                try:
                    kid, payload, fresh = self._jws.verify(token)
                except UnknownKey:
                    self._refuse_other_realm(token)
                    raise
                record = self._claims.record(kid, payload, fresh)
            except InvalidToken as error:
                jti = fresh.get("jti") if fresh is not None else None
                _log.info("token rejected: reason=%s kid=%s jti=%r", error.reason, kid, jti)
                raise
        exp, not_before, uri, idx, kid, jti, entry = record
        try:
            if now >= exp:
                raise Expired("token has expired")
            if now < not_before:
                raise NotYetValid("token is not valid yet")
            # Remembered only once its time is right, so expired tokens never fill the
            # cache; before the status check, whose answer changes.
            if fresh is None:
                if type(entry) is bytes:
                    entry = self._seen_again(token, record)
                else:
                    self._touch(token)
            elif self._cache_size:
                cache = self._cache
                cache[token] = record
                if len(cache) > self._cache_size:
                    self._evict()
            if self._statuses.status(uri, idx) != 0:
                raise Revoked("token status is not VALID")
        except InvalidToken as error:
            _log.info("token rejected: reason=%s kid=%s jti=%r", error.reason, kid, jti)
            raise
        return entry, fresh  # type: ignore[return-value]  # payload bytes only beside fresh claims

    def _refuse_other_realm(self, token: str) -> None:
        """Raise WrongRealm when a token whose key is unknown names the other realm of this
        service as its issuer (sandbox for a production verifier, or the reverse). The claim is
        read unverified only to name the refusal: the token is refused either way."""
        issuer = self._issuer
        other = issuer[: -len(SANDBOX_PATH)] if issuer.endswith(SANDBOX_PATH) else issuer + SANDBOX_PATH
        try:
            iss = json_object(b64url_decode(token.split(".")[1])).get("iss")
        except (ValueError, IndexError, InvalidToken):
            return
        if isinstance(iss, str) and iss.rstrip("/") == other:
            realm = "a production" if issuer.endswith(SANDBOX_PATH) else "a sandbox"
            raise WrongRealm(f"{realm} token (iss {iss}): verify it with Verifier(issuer={iss!r})")

    def _touch(self, token: str) -> None:
        # OrderedDict operations are atomic under the GIL; a concurrent eviction can only
        # make this entry vanish, which is harmless, so no lock on the hot path.
        try:
            self._cache.move_to_end(token)
        except KeyError:
            pass

    def _seen_again(self, token: str, record: Record) -> Entry:
        entry = Entry(record[6])  # type: ignore[arg-type]  # bytes until seen again
        # Replacing a value keeps its place; a concurrent eviction may have removed it, and
        # then this puts it back (the next insertion evicts down to the size again).
        self._cache[token] = (*record[:6], entry)  # type: ignore[assignment]
        self._touch(token)
        return entry

    def _evict(self) -> None:
        while len(self._cache) > self._cache_size:
            try:
                self._cache.popitem(last=False)
            except KeyError:
                break
