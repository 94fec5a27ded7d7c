"""Ed25519 signing keys: generated here, wrapped under the KEK, kid = RFC 7638 thumbprint.

Every process keeps the decrypted active key and the JWKS in memory and re-reads them every
few seconds, so `agegate keys rotate` reaches running instances without a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.config import MAX_TOKEN_TTL
from service.kek import KeyEncryptionKey
from service.store import keys as key_store
from service.store.transactions import run_in_transaction
from service.tokens.signing import public_jwk

log = logging.getLogger("agegate.keys")

_WRAP = "signing-key"
REFRESH_SECONDS = 5.0
# A retired key stays published for the longest life a token can have, plus the verifiers'
# clock leeway, so no live token ever meets a JWKS without its key.
RETIRE_GRACE = timedelta(seconds=MAX_TOKEN_TTL + 60)


def create_key(session: Session, kek: KeyEncryptionKey, now: datetime, realm: str = key_store.PRODUCTION) -> str:
    """Generate a key of `realm`, store it wrapped, make it active (retiring the realm's
    previous); returns its kid."""
    private_key = Ed25519PrivateKey.generate()
    jwk = public_jwk(private_key)
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    key_store.add_key(
        session,
        kid=jwk["kid"],
        private_key_enc=kek.seal(_WRAP, raw, jwk["kid"].encode()),
        public_jwk=json.dumps(jwk, sort_keys=True),
        now=now,
        retire_grace=RETIRE_GRACE,
        realm=realm,
    )
    return jwk["kid"]


def ensure_signing_key(session: Session, kek: KeyEncryptionKey, now: datetime, realm: str = key_store.PRODUCTION) -> str | None:
    """Create the realm's first signing key if it has no active one; returns its kid, or None
    if one was already active. Run by `agegate db upgrade` and at start-up for each realm,
    never on a read."""
    if key_store.active_key(session, realm) is not None:
        return None
    return create_key(session, kek, now, realm)


class NoSigningKey(Exception):
    """The database holds no active signing key: `agegate db upgrade` creates the first."""

    def __init__(self) -> None:
        super().__init__("no active signing key: run `agegate db upgrade` (or `agegate keys rotate`)")


@dataclass(frozen=True)
class KeySnapshot:
    kid: str
    private_key: Ed25519PrivateKey
    jwks: dict[str, Any]


class Keyring:
    """The process's view of the signing keys, refreshed from the database every few seconds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kek: KeyEncryptionKey,
        clock: Callable[[], datetime],
        realm: str = key_store.PRODUCTION,
    ) -> None:
        self.realm = realm
        self._sessions = sessions
        self._kek = kek
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: KeySnapshot | None = None
        self._loaded_at = 0.0
        self._unwrapped: dict[str, Ed25519PrivateKey] = {}

    def snapshot(self) -> KeySnapshot:
        """The active key and the JWKS; raises NoSigningKey on a database without one.

        While the database cannot be read, the last view is kept, so the JWKS is still served
        during an outage (a view a few minutes old is still right: retired keys stay
        published for a day). Only a process that never read the keys fails. One request
        re-reads at a time; the others keep using the current view meanwhile rather than
        queueing behind a database that may be slow or frozen.
        """
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._loaded_at < REFRESH_SECONDS:
            return snapshot
        if snapshot is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return snapshot
        try:
            if self._snapshot is None or time.monotonic() - self._loaded_at >= REFRESH_SECONDS:
                try:
                    self._snapshot = self._load()
                except SQLAlchemyError as error:
                    if self._snapshot is None:
                        raise
                    log.warning("signing keys not re-read (%s): serving the keys read before", type(error).__name__)
                self._loaded_at = time.monotonic()
            return self._snapshot
        finally:
            self._lock.release()

    def refresh(self) -> None:
        """Forget the cached view (after a rotation in this process)."""
        with self._lock:
            self._snapshot = None

    def _load(self) -> KeySnapshot:
        """Read the keys; writes nothing (the first key is made by ensure_signing_key)."""
        now = self._clock()
        active, published = run_in_transaction(
            self._sessions,
            lambda session: (key_store.active_key(session, self.realm), key_store.published_keys(session, now, self.realm)),
        )
        if active is None:
            raise NoSigningKey()
        private_key = self._unwrapped.get(active.kid)
        if private_key is None:
            raw = self._kek.open(_WRAP, active.private_key_enc, active.kid.encode())
            private_key = self._unwrapped[active.kid] = Ed25519PrivateKey.from_private_bytes(raw)
        jwks = {"keys": [json.loads(key.public_jwk) for key in published]}
        return KeySnapshot(active.kid, private_key, jwks)
