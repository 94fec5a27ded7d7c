"""Sources that let POST /v1/tokens/verify run the offline verifier's code in-process:
keys from the keyring, statuses from the database (briefly cached), no HTTP round trip."""

from __future__ import annotations

import threading
import time
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


class OnlineVerifiers:
    """One Verifier per audience and tenant, sharing the key and status sources.

    Each expects the calling client's tenant in the token (CONTRACT §16): a token another
    tenant minted for the same audience name answers `wrong_tenant`.
    """

    def __init__(self, issuer: str, keys: KeyringKeys, statuses: DatabaseStatuses, clock: Any) -> None:
        self._issuer = issuer
        self._keys = keys
        self._statuses = statuses
        self._clock = clock
        self._verifiers: dict[tuple[str, str], Verifier] = {}

    def __call__(self, audience: str, tenant: str) -> Verifier:
        verifier = self._verifiers.get((audience, tenant))
        if verifier is None:
            verifier = self._verifiers[audience, tenant] = Verifier(
                issuer=self._issuer,
                audience=audience,
                tenant=tenant,
                keys=self._keys,
                statuses=self._statuses,
                clock=lambda: self._clock().timestamp(),
            )
        return verifier

    def at(self, clock: Any) -> OnlineVerifiers:
        """The same verifiers judging time by `clock` (a sandbox tenant's, CONTRACT §15)."""
        return OnlineVerifiers(self._issuer, self._keys, self._statuses, clock)
