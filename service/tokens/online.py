"""Sources that let POST /v1/tokens/verify run the offline verifier's code in-process:
keys from the keyring, statuses from the database (briefly cached), no HTTP round trip."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from agegate_verifier import StaticKeys, StatusUnavailable, Verifier
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session, sessionmaker

from service.store import status as status_store
from service.store.transactions import run_in_transaction
from service.tokens.keys import Keyring
from service.tokens.issue import status_list_uri

# A revocation reaches online verification within this many seconds.
STATUS_REFRESH_SECONDS = 1.0


class KeyringKeys:
    """The keyring's published keys, as the verifier's key source."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._jwks: object = None
        self._keys = StaticKeys({})

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        jwks = self._keyring.snapshot().jwks
        if jwks is not self._jwks:  # a new snapshot: rebuild the key objects once
            self._keys = StaticKeys.from_jwks(jwks)
            self._jwks = jwks
        return self._keys.public_key(kid)


class DatabaseStatuses:
    """Status bits read from the database, each list cached for STATUS_REFRESH_SECONDS.

    A list gone stale is read once however many requests find it so together: the first
    reads it, the others wait for that answer (a greenlet's lock under gevent) instead of
    each opening a connection of its own for the same rows.
    """

    def __init__(self, sessions: sessionmaker[Session], issuer: str) -> None:
        self._sessions = sessions
        self._prefix = status_list_uri(issuer, "")
        self._lists: dict[int, tuple[float, frozenset[int]]] = {}
        self._lock = threading.Lock()

    def status(self, uri: str, idx: int) -> int:
        if not uri.startswith(self._prefix) or not uri[len(self._prefix):].isdigit():
            raise StatusUnavailable("status list not published by this issuer")
        if not 0 <= idx < status_store.LIST_CAPACITY:
            raise StatusUnavailable("status index out of range")
        list_id = int(uri[len(self._prefix):])
        cached = self._lists.get(list_id)
        if cached is None or time.monotonic() - cached[0] > STATUS_REFRESH_SECONDS:
            cached = self._refresh(list_id)
        return 1 if idx in cached[1] else 0

    def _refresh(self, list_id: int) -> tuple[float, frozenset[int]]:
        with self._lock:
            cached = self._lists.get(list_id)
            if cached is not None and time.monotonic() - cached[0] <= STATUS_REFRESH_SECONDS:
                return cached  # read by the request this one waited for
            return self._load(list_id)

    def _load(self, list_id: int) -> tuple[float, frozenset[int]]:
        def read(session: Session) -> frozenset[int] | None:
            if not status_store.list_exists(session, list_id):
                return None
            return frozenset(status_store.revoked_indexes(session, list_id))

        read_at = time.monotonic()  # before the read: a revocation committed during it is older
        revoked = run_in_transaction(self._sessions, read)
        if revoked is None:
            raise StatusUnavailable("no such status list")
        loaded = self._lists[list_id] = (read_at, revoked)
        return loaded


# What remembering verified tokens may cost a worker. A cached token that was seen twice
# holds its parsed claims, about 8 KB in a gunicorn worker: the verifier's own default (10,000
# tokens per audience and tenant) let a worker grow by 80 MB per persona service in the
# mixed run. A verifier pushed out takes its cache with it; a token not cached is only
# verified again (one Ed25519 verification, ~0.1 ms).
CACHED_TOKENS_PER_VERIFIER = 1_024
VERIFIERS_KEPT = 16  # at most ~16 x 1,024 x 8 KB = 128 MB of cached tokens per worker


class OnlineVerifiers:
    """One Verifier per audience and tenant, sharing the key and status sources; the
    VERIFIERS_KEPT most recently used are kept.

    Each expects the calling client's tenant in the token (CONTRACT §16): a token another
    tenant minted for the same audience name answers `wrong_tenant`.
    """

    def __init__(self, issuer: str, keys: KeyringKeys, statuses: DatabaseStatuses, clock: Any) -> None:
        self._issuer = issuer
        self._keys = keys
        self._statuses = statuses
        self._clock = clock
        self._verifiers: OrderedDict[tuple[str, str], Verifier] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, audience: str, tenant: str) -> Verifier:
        key = (audience, tenant)
        with self._lock:
            verifier = self._verifiers.get(key)
            if verifier is not None:
                self._verifiers.move_to_end(key)
                return verifier
            verifier = self._verifiers[key] = Verifier(
                issuer=self._issuer,
                audience=audience,
                tenant=tenant,
                keys=self._keys,
                statuses=self._statuses,
                clock=lambda: self._clock().timestamp(),
                cache_size=CACHED_TOKENS_PER_VERIFIER,
            )
            if len(self._verifiers) > VERIFIERS_KEPT:
                self._verifiers.popitem(last=False)
        return verifier

    def at(self, clock: Any) -> OnlineVerifiers:
        """The same verifiers judging time by `clock` (a sandbox tenant's, CONTRACT §15)."""
        return OnlineVerifiers(self._issuer, self._keys, self._statuses, clock)
