"""What the business steps need besides a session: keys, policy, clock and settings they read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from service.attestation import AttestationVerifier
from service.domain.policy import Policy
from service.kek import KeyEncryptionKey
from service.reports.activity import ActivityRecorder
from service.tokens.keys import Keyring


@dataclass(frozen=True)
class Deps:
    """The collaborators of every step; built once per process from the Runtime."""

    kek: KeyEncryptionKey
    policy: Policy
    clock: Callable[[], datetime]
    timezone: ZoneInfo  # the civil time zone in which ages are counted
    issuer: str
    token_ttl: int  # default and longest token lifetime, seconds
    keyring: Keyring
    attestation: AttestationVerifier
    activity: ActivityRecorder  # token issuances for monthly active subjects (batched writes)
