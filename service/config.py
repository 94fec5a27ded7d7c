"""Service configuration, read once from the environment (CONTRACT §1)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agegate_verifier.jose import b64url_decode
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger("agegate.config")

DEFAULT_DATABASE_URL = "sqlite:///var/agegate.db"
DEFAULT_ISSUER = "http://127.0.0.1:8000"
MAX_TOKEN_TTL = 86_400
# A fixed, public key so a laptop runs with no set-up. Anything it protects is readable by
# anyone holding this source file, which is why Settings.from_env warns loudly when it is used.
DEVELOPMENT_KEK = b"agegate-development-kek-NOT-SAFE"


class ConfigError(Exception):
    """A configuration value the service cannot honour; str() is the one line to print."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment, parsed and checked."""

    database_url: str = DEFAULT_DATABASE_URL
    issuer: str = DEFAULT_ISSUER
    kek: bytes = field(default=DEVELOPMENT_KEK, repr=False)
    timezone: ZoneInfo = ZoneInfo("Asia/Shanghai")
    token_ttl: int = 3600
    status_ttl: int = 60
    # issuer URL -> JWKS source (file path or https URL) of trusted identity verifiers
    attesters: Mapping[str, str] = field(default_factory=dict)
    database_wait: float = 10.0
    using_development_kek: bool = True
    # Whether webhook URLs may point at loopback, private or link-local addresses (and use
    # plain http): on only for development, where the receiver runs on the same machine.
    webhook_allow_private: bool = False

    def __repr__(self) -> str:
        return (
            f"Settings(database_url={_mask_password(self.database_url)!r}, issuer={self.issuer!r}, "
            f"kek=<masked>, timezone={self.timezone.key!r}, token_ttl={self.token_ttl}, "
            f"status_ttl={self.status_ttl}, attesters={sorted(self.attesters)!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build Settings from AGEGATE_* variables; raises ConfigError naming the bad one."""
        env = os.environ if env is None else env
        kek_text = env.get("AGEGATE_KEK")
        issuer = _issuer(env.get("AGEGATE_ISSUER", DEFAULT_ISSUER))
        if kek_text is None:
            log.warning(
                "AGEGATE_KEK is not set: using the PUBLIC development key. Signing keys and "
                "birth dates are NOT protected. Never run like this in production."
            )
        return cls(
            database_url=_database_url(env.get("AGEGATE_DATABASE_URL", DEFAULT_DATABASE_URL)),
            issuer=issuer,
            kek=DEVELOPMENT_KEK if kek_text is None else _kek(kek_text),
            timezone=_timezone(env.get("AGEGATE_TIMEZONE", "Asia/Shanghai")),
            token_ttl=_seconds("AGEGATE_TOKEN_TTL", env.get("AGEGATE_TOKEN_TTL", "3600"), MAX_TOKEN_TTL),
            status_ttl=_seconds("AGEGATE_STATUS_TTL", env.get("AGEGATE_STATUS_TTL", "60"), 3600),
            attesters=_attesters(env.get("AGEGATE_ATTESTERS", "{}")),
            using_development_kek=kek_text is None,
            webhook_allow_private=_webhook_allow_private(env.get("AGEGATE_WEBHOOK_ALLOW_PRIVATE"), issuer),
        )


def _mask_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"


def _database_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError("AGEGATE_DATABASE_URL: not a SQLAlchemy URL") from None
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError("AGEGATE_DATABASE_URL: expected a sqlite:// or postgresql+psycopg:// URL")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ConfigError("AGEGATE_DATABASE_URL: PostgreSQL needs the psycopg driver (postgresql+psycopg://)")
    return value


def _issuer(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError("AGEGATE_ISSUER: expected an http(s) URL without query or fragment")
    return value.rstrip("/")


def _webhook_allow_private(value: str | None, issuer: str) -> bool:
    if value is None:  # development default: an issuer on this machine means a laptop
        host = urlsplit(issuer).hostname or ""
        try:
            return host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    if value not in ("0", "1"):
        raise ConfigError("AGEGATE_WEBHOOK_ALLOW_PRIVATE: expected 0 or 1")
    return value == "1"


def _kek(value: str) -> bytes:
    # Canonical base64url of exactly 32 bytes (one trailing '=' tolerated, as pasted).
    try:
        kek = b64url_decode(value.removesuffix("="))
    except ValueError:
        kek = b""
    if len(kek) != 32:
        raise ConfigError("AGEGATE_KEK: expected 32 bytes, base64url")
    return kek


def _timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"AGEGATE_TIMEZONE: unknown time zone {value!r}") from None


def _seconds(name: str, value: str, maximum: int) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number of seconds") from None
    if not 1 <= seconds <= maximum:
        raise ConfigError(f"{name}: expected 1 to {maximum} seconds")
    return seconds


def _attesters(value: str) -> dict[str, str]:
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError("AGEGATE_ATTESTERS: expected a JSON object issuer -> JWKS file or URL") from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise ConfigError("AGEGATE_ATTESTERS: expected a JSON object issuer -> JWKS file or URL")
    return parsed
