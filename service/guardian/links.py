"""Secrets handed to guardians: page-link tokens and one-time codes, stored only as keyed hashes."""

from __future__ import annotations

import hmac
import secrets

from service.kek import KeyEncryptionKey

# 32 random bytes: 256 bits, far past the 128 the contract asks of an unguessable link
LINK_BYTES = 32
CODE_DIGITS = 6
_LINK_PURPOSE = "guardian-link"
_CODE_PURPOSE = "guardian-code"
_IDP_PURPOSE = "guardian-idp-subject"


def new_link_token() -> str:
    return secrets.token_urlsafe(LINK_BYTES)


def link_hash(kek: KeyEncryptionKey, token: str) -> str:
    """What the database keeps of a link token: a copy of the table opens no page."""
    return kek.keyed_hash(_LINK_PURPOSE, token.encode())


def looks_like_link_token(token: str) -> bool:
    """Cheap shape check before any lookup (43 base64url characters)."""
    return len(token) == 43 and all(c.isalnum() or c in "-_" for c in token)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(kek: KeyEncryptionKey, request_id: str, code: str) -> str:
    """Keyed and bound to the request: a million codes are too few to hash unkeyed, and one
    request's code must not match another's."""
    return kek.keyed_hash(_CODE_PURPOSE, f"{request_id}\x00{code}".encode())


def code_matches(kek: KeyEncryptionKey, request_id: str, code: str, stored_hash: str) -> bool:
    """Constant-time comparison of an entered code with the stored hash."""
    return hmac.compare_digest(code_hash(kek, request_id, code.strip()), stored_hash)


def idp_subject_hash(kek: KeyEncryptionKey, tenant: str, subject: str) -> str:
    """Keyed hash of the guardian's subject at the identity provider (an identifier of a person)."""
    return kek.keyed_hash(_IDP_PURPOSE, f"{tenant}\x00{subject}".encode())
