"""What one running service holds: settings, the session factory, keys, policy and clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.domain.policy import Policy
from service.kek import KeyEncryptionKey


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    """Built once by create_app; views reach it through `current_runtime()`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    kek: KeyEncryptionKey
    policy: Policy
    clock: Callable[[], datetime] = utc_now
    # Read-only paths (token issuance, status lists) run without BEGIN/COMMIT round trips
    # where the database allows it; None means they share `sessions`.
    reads: sessionmaker[Session] | None = None
    # filled by the parts that need them (attestation verifier, signing keyring, ...)
    parts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reads is None:
            self.reads = self.sessions

