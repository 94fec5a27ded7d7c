"""Settings.from_env (CONTRACT §1): defaults, one ConfigError naming each bad variable, masking."""

from __future__ import annotations

import base64
import dataclasses
import logging
from zoneinfo import ZoneInfo

import pytest

from service.config import DEFAULT_DATABASE_URL, DEFAULT_ISSUER, DEVELOPMENT_KEK, MAX_TOKEN_TTL, ConfigError, Settings

KEK = bytes(range(100, 132))
KEK_TEXT = base64.urlsafe_b64encode(KEK).decode().rstrip("=")


def from_env(**env: str) -> Settings:
    return Settings.from_env({"AGEGATE_KEK": KEK_TEXT, **env})


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///var/agegate.db"
    assert settings.issuer == DEFAULT_ISSUER == "http://127.0.0.1:8000"
    assert settings.kek == DEVELOPMENT_KEK
    assert settings.using_development_kek is True
    assert settings.timezone == ZoneInfo("Asia/Shanghai")
    assert settings.token_ttl == 3600
    assert settings.status_ttl == 60
    assert dict(settings.attesters) == {}
    assert settings.group_commit_batch == 32


def test_an_unset_kek_logs_a_loud_warning_naming_the_variable(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agegate.config"):
        Settings.from_env({})
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "AGEGATE_KEK" in warnings[0].getMessage()
    assert "production" in warnings[0].getMessage()


def test_a_set_kek_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agegate.config"):
        settings = from_env()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert settings.kek == KEK
    assert settings.using_development_kek is False


def test_every_variable_is_read() -> None:
    settings = from_env(
        AGEGATE_DATABASE_URL="postgresql+psycopg://agegate:pw@db.internal:5432/agegate",
        AGEGATE_ISSUER="https://age.example.com/",
        AGEGATE_TIMEZONE="Asia/Hong_Kong",
        AGEGATE_TOKEN_TTL="900",
        AGEGATE_STATUS_TTL="30",
        AGEGATE_ATTESTERS='{"https://idv.example.com": "/etc/agegate/idv-jwks.json"}',
        AGEGATE_GROUP_COMMIT_BATCH="1",
    )
    assert settings.database_url == "postgresql+psycopg://agegate:pw@db.internal:5432/agegate"
    assert settings.issuer == "https://age.example.com"  # no trailing slash: it prefixes published URLs
    assert settings.timezone == ZoneInfo("Asia/Hong_Kong")
    assert settings.token_ttl == 900
    assert settings.status_ttl == 30
    assert dict(settings.attesters) == {"https://idv.example.com": "/etc/agegate/idv-jwks.json"}
    assert settings.group_commit_batch == 1


@pytest.mark.parametrize(
    "url",
    ["sqlite:///var/agegate.db", "sqlite:////abs/path.db", "sqlite://", "postgresql+psycopg://u@h/db"],
)
def test_sqlite_and_psycopg_urls_are_accepted(url: str) -> None:
    assert from_env(AGEGATE_DATABASE_URL=url).database_url == url


@pytest.mark.parametrize(
    "variable, value",
    [
        ("AGEGATE_DATABASE_URL", "not a url"),
        ("AGEGATE_DATABASE_URL", ""),
        ("AGEGATE_DATABASE_URL", "mysql://x"),
        ("AGEGATE_DATABASE_URL", "oracle+oracledb://u:p@h/db"),
        ("AGEGATE_DATABASE_URL", "postgresql+psycopg2://u@h/db"),  # not installed
        ("AGEGATE_DATABASE_URL", "postgresql+asyncpg://u@h/db"),
        ("AGEGATE_ISSUER", "ftp://agegate.example.com"),
        ("AGEGATE_ISSUER", "agegate.example.com"),
        ("AGEGATE_ISSUER", "https://"),
        ("AGEGATE_ISSUER", "https://agegate.example.com/?x=1"),
        ("AGEGATE_ISSUER", "https://agegate.example.com/#frag"),
        ("AGEGATE_ISSUER", ""),
        ("AGEGATE_KEK", ""),
        ("AGEGATE_KEK", "c2hvcnQ"),  # 5 bytes
        ("AGEGATE_KEK", base64.urlsafe_b64encode(bytes(31)).decode()),
        ("AGEGATE_KEK", base64.urlsafe_b64encode(bytes(33)).decode()),
        ("AGEGATE_KEK", base64.urlsafe_b64encode(bytes(64)).decode()),
        ("AGEGATE_KEK", KEK_TEXT[:-1]),  # a character short: not whole bytes
        ("AGEGATE_KEK", "x" * 43 + "!"),
        ("AGEGATE_KEK", bytes(32).hex()),  # hex, not base64url: 48 bytes
        ("AGEGATE_TIMEZONE", "Mars/Olympus_Mons"),
        ("AGEGATE_TIMEZONE", ""),
        ("AGEGATE_TIMEZONE", "../../etc/passwd"),
        ("AGEGATE_TIMEZONE", "/etc/localtime"),
        ("AGEGATE_TOKEN_TTL", "abc"),
        ("AGEGATE_TOKEN_TTL", ""),
        ("AGEGATE_TOKEN_TTL", "1.5"),
        ("AGEGATE_TOKEN_TTL", "0"),
        ("AGEGATE_TOKEN_TTL", "-1"),
        ("AGEGATE_TOKEN_TTL", str(MAX_TOKEN_TTL + 1)),
        ("AGEGATE_TOKEN_TTL", "1e3"),
        ("AGEGATE_STATUS_TTL", "soon"),
        ("AGEGATE_STATUS_TTL", "0"),
        ("AGEGATE_STATUS_TTL", "-60"),
        ("AGEGATE_STATUS_TTL", "3601"),
        ("AGEGATE_ATTESTERS", "not json"),
        ("AGEGATE_ATTESTERS", "[]"),
        ("AGEGATE_ATTESTERS", '"https://idv.example.com"'),
        ("AGEGATE_ATTESTERS", '{"https://idv.example.com": 1}'),
        ("AGEGATE_ATTESTERS", '{"https://idv.example.com": ["a"]}'),
        ("AGEGATE_GROUP_COMMIT_BATCH", "0"),
        ("AGEGATE_GROUP_COMMIT_BATCH", "1025"),
        ("AGEGATE_GROUP_COMMIT_BATCH", "8.5"),
        ("AGEGATE_GROUP_COMMIT_BATCH", ""),
    ],
)
def test_a_bad_value_raises_one_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_env(**{variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "value",
    [
        KEK_TEXT[:10] + "!!" + KEK_TEXT[10:],  # junk inside
        KEK_TEXT[:20] + "\n" + KEK_TEXT[20:] + "=",  # a line break pasted in
        base64.b64encode(bytes(range(200, 232))).decode(),  # standard alphabet ('+', '/'), not base64url
    ],
    ids=["junk-inside", "line-break", "standard-alphabet"],
)
def test_a_kek_with_characters_outside_base64url_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="^AGEGATE_KEK: "):
        from_env(AGEGATE_KEK=value)


@pytest.mark.parametrize("value", [KEK_TEXT, KEK_TEXT + "="])
def test_a_kek_is_32_bytes_of_base64url_with_or_without_padding(value: str) -> None:
    assert from_env(AGEGATE_KEK=value).kek == KEK


def test_a_kek_using_the_url_safe_characters_decodes_to_its_bytes() -> None:
    raw = bytes([0xFB, 0xFF] * 16)  # encodes to '-' and '_' in base64url
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "-" in text and "_" in text
    assert from_env(AGEGATE_KEK=text).kek == raw


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("AGEGATE_TOKEN_TTL", "1", 1),
        ("AGEGATE_TOKEN_TTL", str(MAX_TOKEN_TTL), 86_400),
        ("AGEGATE_STATUS_TTL", "1", 1),
        ("AGEGATE_STATUS_TTL", "3600", 3600),
    ],
)
def test_ttls_accept_their_bounds(variable: str, value: str, expected: int) -> None:
    settings = from_env(**{variable: value})
    assert getattr(settings, variable.removeprefix("AGEGATE_").lower()) == expected


def test_the_config_error_of_a_bad_kek_does_not_echo_the_value() -> None:
    secret = "s3cret-kek-material-" * 3
    with pytest.raises(ConfigError) as raised:
        from_env(AGEGATE_KEK=secret)
    assert secret not in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_repr_masks_the_kek_and_the_database_password() -> None:
    settings = from_env(AGEGATE_DATABASE_URL="postgresql+psycopg://agegate:hunter2-pw@db:5432/agegate")
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert "hunter2-pw" not in text
        assert KEK_TEXT not in text
        assert repr(KEK) not in text
        assert KEK.hex() not in text
        assert "agegate@db:5432/agegate" in text or "***" in text
        assert "kek=<masked>" in text


def test_repr_masks_the_development_kek_too() -> None:
    text = repr(Settings.from_env({}))
    assert repr(DEVELOPMENT_KEK) not in text
    assert DEVELOPMENT_KEK.decode() not in text


def test_settings_are_frozen() -> None:
    settings = from_env()
    with pytest.raises(AttributeError):
        settings.kek = bytes(32)  # type: ignore[misc]


def test_database_timeouts_and_serving_settings_have_sane_defaults() -> None:
    settings = from_env(AGEGATE_DATABASE_URL="postgresql+psycopg://u@h/db")
    assert (settings.database_timeouts.connect, settings.database_timeouts.statement, settings.database_timeouts.lock) == (5, 30, 5)
    assert settings.metrics_token is None
    serving = settings.serving
    assert (serving.bind, serving.worker_class, serving.worker_connections, serving.timeout) == ("127.0.0.1:8000", "gevent", 1000, 30)
    assert serving.workers >= 1 and serving.access_log is None and serving.log_level == "warning"


def test_sqlite_serves_with_threads_not_an_event_loop() -> None:
    serving = from_env().serving  # the embedded SQLite default
    assert (serving.worker_class, serving.threads) == ("gthread", 8)


def test_every_serving_variable_is_read() -> None:
    settings = from_env(
        AGEGATE_DB_CONNECT_TIMEOUT="3",
        AGEGATE_DB_STATEMENT_TIMEOUT="60",
        AGEGATE_DB_LOCK_TIMEOUT="2",
        AGEGATE_METRICS_TOKEN="scrape-token-0123456789",
        AGEGATE_BIND="0.0.0.0:9000",
        AGEGATE_WORKER_CLASS="sync",
        AGEGATE_WORKERS="3",
        AGEGATE_THREADS="4",
        AGEGATE_WORKER_CONNECTIONS="50",
        AGEGATE_KEEPALIVE="5",
        AGEGATE_TIMEOUT="600",
        AGEGATE_ACCESS_LOG="-",
        AGEGATE_LOG_LEVEL="info",
        AGEGATE_DATABASE_WAIT="3",
    )
    assert dataclasses.astuple(settings.database_timeouts) == (3, 60, 2)
    assert settings.metrics_token == "scrape-token-0123456789"
    assert dataclasses.astuple(settings.serving) == ("0.0.0.0:9000", "sync", 3, 4, 50, 5, 600, "-", "info")
    assert settings.database_wait == 3
    assert "scrape-token" not in repr(settings)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("AGEGATE_DB_CONNECT_TIMEOUT", "1"),  # libpq waits 2 s at least
        ("AGEGATE_DB_CONNECT_TIMEOUT", "x"),
        ("AGEGATE_DB_STATEMENT_TIMEOUT", "0"),
        ("AGEGATE_DB_LOCK_TIMEOUT", "-1"),
        ("AGEGATE_METRICS_TOKEN", "short"),
        ("AGEGATE_METRICS_TOKEN", "has spaces in it, sixteen+"),
        ("AGEGATE_BIND", "8000"),
        ("AGEGATE_BIND", "host:port"),
        ("AGEGATE_BIND", "0.0.0.0:70000"),
        ("AGEGATE_BIND", "unix:"),
        ("AGEGATE_WORKER_CLASS", "eventlet"),
        ("AGEGATE_WORKERS", "0"),
        ("AGEGATE_WORKERS", "two"),
        ("AGEGATE_THREADS", "-4"),
        ("AGEGATE_WORKER_CONNECTIONS", "1e3"),
        ("AGEGATE_KEEPALIVE", "0"),  # would turn off the gevent worker's header deadline
        ("AGEGATE_DATABASE_WAIT", "0"),
        ("AGEGATE_TIMEOUT", "0"),
        ("AGEGATE_LOG_LEVEL", "loud"),
    ],
)
def test_a_bad_serving_value_raises_one_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_env(**{variable: value})
    assert str(raised.value).startswith(f"{variable}: ")
    assert "\n" not in str(raised.value)
