"""Keys derived from the KEK: encryption of personal fields and signing keys, keyed hashes.

Each purpose gets its own HKDF-derived key, so a hash key can never decrypt and a field key
can never unwrap a signing key.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class Undecryptable(Exception):
    """Ciphertext that fails authentication: wrong KEK, wrong context, or tampering."""


class KeyEncryptionKey:
    """Seals and opens values under subkeys of one 32-byte KEK."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise ValueError("the KEK must be 32 bytes")
        self._kek = kek
        self._aeads: dict[str, AESGCM] = {}
        self._hash_keys: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return "KeyEncryptionKey(<masked>)"

    def _subkey(self, purpose: str) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"agegate/" + purpose.encode()
        ).derive(self._kek)

    def _aead(self, purpose: str) -> AESGCM:
        aead = self._aeads.get(purpose)
        if aead is None:
            aead = self._aeads[purpose] = AESGCM(self._subkey(purpose))
        return aead

    def seal(self, purpose: str, plaintext: bytes, context: bytes) -> bytes:
        """AES-256-GCM encrypt; `context` is bound as associated data, so a ciphertext moved
        to another row does not open."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead(purpose).encrypt(nonce, plaintext, context)

    def open(self, purpose: str, sealed: bytes, context: bytes) -> bytes:
        """Decrypt what seal() produced; raises Undecryptable."""
        try:
            return self._aead(purpose).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)
        except (InvalidTag, ValueError):
            raise Undecryptable(purpose) from None

    def keyed_hash(self, purpose: str, value: bytes) -> str:
        """HMAC-SHA-256 hex digest: equal inputs match, and without the KEK nothing can be
        guessed from it (18-digit ID numbers are too few to hash unkeyed)."""
        key = self._hash_keys.get(purpose)
        if key is None:
            key = self._hash_keys[purpose] = self._subkey(purpose)
        return hmac.new(key, value, hashlib.sha256).hexdigest()
