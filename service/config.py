"""Service configuration, read once from the environment (CONTRACT §1)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
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
# Grants of one tenant one transaction takes at most (store/group_commit.py); more waiting
# ones wait for the next transaction. A batch's steps hold their subjects' locks until its
# commit, so the bound stays modest.
GROUP_COMMIT_BATCH = 32
MAX_GROUP_COMMIT_BATCH = 1024
# A fixed, public key so a laptop runs with no set-up. Anything it protects is readable by
# anyone holding this source file, which is why Settings.from_env warns loudly when it is used.
DEVELOPMENT_KEK = b"agegate-development-kek-NOT-SAFE"


class ConfigError(Exception):
    """A configuration value the service cannot honour; str() is the one line to print."""


@dataclass(frozen=True)
class DatabaseTimeouts:
    """Bounds on every PostgreSQL connection, so a slow or stuck database fails requests
    with a named error instead of holding them until a worker is killed."""

    connect: int = 5  # seconds to establish a connection (libpq connect_timeout; 2 at least)
    statement: int = 30  # seconds one statement may run (an export reads in short batches)
    lock: int = 5  # seconds a statement may wait for a row lock (chain heads are held for ms)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabaseTimeouts:
        return cls(
            connect=_seconds("AGEGATE_DB_CONNECT_TIMEOUT", env.get("AGEGATE_DB_CONNECT_TIMEOUT", "5"), 60, minimum=2),
            statement=_seconds("AGEGATE_DB_STATEMENT_TIMEOUT", env.get("AGEGATE_DB_STATEMENT_TIMEOUT", "30"), 3600),
            lock=_seconds("AGEGATE_DB_LOCK_TIMEOUT", env.get("AGEGATE_DB_LOCK_TIMEOUT", "5"), 600),
        )


WORKER_CLASSES = ("gevent", "gthread", "sync")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class Serving:
    """What gunicorn.conf.py reads: the production server's settings (see that file for why)."""

    bind: str = "127.0.0.1:8000"
    worker_class: str = "gevent"
    workers: int = 1
    threads: int = 1
    worker_connections: int = 1000
    keepalive: int = 2
    timeout: int = 30
    access_log: str | None = None
    log_level: str = "warning"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Serving:
        worker_class = env.get("AGEGATE_WORKER_CLASS") or _default_worker_class(env)
        if worker_class not in WORKER_CLASSES:
            raise ConfigError(f"AGEGATE_WORKER_CLASS: expected one of {', '.join(WORKER_CLASSES)}")
        log_level = env.get("AGEGATE_LOG_LEVEL", "warning")
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"AGEGATE_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}")
        return cls(
            bind=_bind(env.get("AGEGATE_BIND", "127.0.0.1:8000")),
            worker_class=worker_class,
            workers=_count("AGEGATE_WORKERS", env.get("AGEGATE_WORKERS"), _cores(), 256),
            threads=_count("AGEGATE_THREADS", env.get("AGEGATE_THREADS"), 8 if worker_class == "gthread" else 1, 1024),
            worker_connections=_count("AGEGATE_WORKER_CONNECTIONS", env.get("AGEGATE_WORKER_CONNECTIONS"), 1000, 100_000),
            # at least 1: gunicorn's gevent worker also gives a request's headers this long to
            # arrive (its slowloris guard), and keep-alive 0 turns that guard off
            keepalive=_seconds("AGEGATE_KEEPALIVE", env.get("AGEGATE_KEEPALIVE", "2"), 300),
            timeout=_seconds("AGEGATE_TIMEOUT", env.get("AGEGATE_TIMEOUT", "30"), 86_400),
            access_log=env.get("AGEGATE_ACCESS_LOG") or None,
            log_level=log_level,
        )


def _default_worker_class(env: Mapping[str, str]) -> str:
    # SQLite's driver blocks in C (up to its 30 s busy timeout), which would stall every
    # connection of an event-loop worker; threads wait for it independently.
    return "gthread" if env.get("AGEGATE_DATABASE_URL", DEFAULT_DATABASE_URL).startswith("sqlite") else "gevent"


def _cores() -> int:
    # Honour CPU affinity (containers, taskset) rather than the host's core count.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _bind(value: str) -> str:
    if value.startswith("unix:"):
        if len(value) == len("unix:"):
            raise ConfigError("AGEGATE_BIND: expected HOST:PORT or unix:PATH")
        return value
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("AGEGATE_BIND: expected HOST:PORT or unix:PATH")
    return value


def _count(name: str, value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise ConfigError(f"{name}: expected a whole number from 1 to {maximum}")
    return int(value)


def _metrics_token(value: str | None) -> str | None:
    if value is None:
        return None
    if re.fullmatch(r"[!-~]{16,512}", value) is None:
        raise ConfigError("AGEGATE_METRICS_TOKEN: expected 16 to 512 printable ASCII characters")
    return value


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
    # the real-name identity provider guardians may log in with: issuer, client_id, client_secret
    guardian_oidc: Mapping[str, str] | None = field(default=None, repr=False)
    # a streaming replica for exports and reports; the primary answers when unset or down
    replica_database_url: str | None = None
    using_development_kek: bool = True
    # Whether webhook URLs may point at loopback, private or link-local addresses (and use
    # plain http): on only for development, where the receiver runs on the same machine.
    webhook_allow_private: bool = False
    database_timeouts: DatabaseTimeouts = field(default_factory=lambda: DatabaseTimeouts())
    # None: /metrics is off (404); set, a scraper sends `Authorization: Bearer <token>`
    metrics_token: str | None = field(default=None, repr=False)
    serving: Serving = field(default_factory=lambda: Serving())
    # where rate-limit counters live: memory:// per process, redis://... shared by instances
    rate_limit_storage: str = "memory://"
    # most grants of one tenant one transaction takes (store/group_commit.py); 1: each alone
    group_commit_batch: int = GROUP_COMMIT_BATCH

    def __repr__(self) -> str:
        replica = _mask_password(self.replica_database_url) if self.replica_database_url else None
        return (
            f"Settings(database_url={_mask_password(self.database_url)!r}, replica_database_url={replica!r}, "
            f"issuer={self.issuer!r}, "
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
            replica_database_url=_replica_url(env.get("AGEGATE_REPLICA_DATABASE_URL") or None),
            issuer=issuer,
            kek=DEVELOPMENT_KEK if kek_text is None else _kek(kek_text),
            timezone=_timezone(env.get("AGEGATE_TIMEZONE", "Asia/Shanghai")),
            token_ttl=_seconds("AGEGATE_TOKEN_TTL", env.get("AGEGATE_TOKEN_TTL", "3600"), MAX_TOKEN_TTL),
            status_ttl=_seconds("AGEGATE_STATUS_TTL", env.get("AGEGATE_STATUS_TTL", "60"), 3600),
            attesters=_attesters(env.get("AGEGATE_ATTESTERS", "{}")),
            database_wait=_seconds("AGEGATE_DATABASE_WAIT", env.get("AGEGATE_DATABASE_WAIT", "10"), 600),
            guardian_oidc=_guardian_oidc(env.get("AGEGATE_GUARDIAN_OIDC")),
            using_development_kek=kek_text is None,
            webhook_allow_private=_webhook_allow_private(env.get("AGEGATE_WEBHOOK_ALLOW_PRIVATE"), issuer),
            database_timeouts=DatabaseTimeouts.from_env(env),
            metrics_token=_metrics_token(env.get("AGEGATE_METRICS_TOKEN")),
            serving=Serving.from_env(env),
            rate_limit_storage=_rate_limit_storage(env.get("AGEGATE_RATE_LIMIT_STORAGE", "memory://")),
            group_commit_batch=_count(
                "AGEGATE_GROUP_COMMIT_BATCH", env.get("AGEGATE_GROUP_COMMIT_BATCH"), GROUP_COMMIT_BATCH, MAX_GROUP_COMMIT_BATCH
            ),
        )


LOG_LEVELS = ("debug", "info", "warning", "error")


def logging_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(format, level) from AGEGATE_LOG_FORMAT (json|text) and AGEGATE_LOG_LEVEL.

    Read apart from Settings: logging is set up first, so that Settings' own warnings reach
    the configured handler. Raises ConfigError naming the bad variable.
    """
    env = os.environ if env is None else env
    log_format = env.get("AGEGATE_LOG_FORMAT", "json").lower()
    if log_format not in ("json", "text"):
        raise ConfigError("AGEGATE_LOG_FORMAT: expected json or text")
    level = env.get("AGEGATE_LOG_LEVEL", "info").lower()
    if level not in LOG_LEVELS:
        raise ConfigError("AGEGATE_LOG_LEVEL: expected " + ", ".join(LOG_LEVELS))
    return log_format, level


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


def _replica_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError("AGEGATE_REPLICA_DATABASE_URL: not a SQLAlchemy URL") from None
    if url.get_backend_name() != "postgresql" or url.get_driver_name() != "psycopg":
        raise ConfigError("AGEGATE_REPLICA_DATABASE_URL: expected a postgresql+psycopg:// URL")
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


def _seconds(name: str, value: str, maximum: int, minimum: int = 1) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number of seconds") from None
    if not minimum <= seconds <= maximum:
        raise ConfigError(f"{name}: expected {minimum} to {maximum} seconds")
    return seconds


def _rate_limit_storage(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in {"memory", "redis", "rediss"}:
        raise ConfigError("AGEGATE_RATE_LIMIT_STORAGE: expected memory:// or a redis:// URL")
    return value


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


def _guardian_oidc(value: str | None) -> dict[str, str] | None:
    if value is None or not value.strip():
        return None
    problem = "AGEGATE_GUARDIAN_OIDC: expected a JSON object with issuer (http(s) URL), client_id and client_secret"
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(problem) from None
    if (
        not isinstance(parsed, dict)
        or set(parsed) != {"issuer", "client_id", "client_secret"}
        or not all(isinstance(v, str) and v for v in parsed.values())
        or urlsplit(parsed["issuer"]).scheme not in {"http", "https"}
    ):
        raise ConfigError(problem)
    return parsed
