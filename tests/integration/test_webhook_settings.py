"""AGEGATE_WEBHOOK_ALLOW_PRIVATE: off in production, on by default when the issuer is loopback."""

from __future__ import annotations

import pytest

from service.config import ConfigError, Settings


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, True),  # the default issuer is http://127.0.0.1:8000
        ({"AGEGATE_ISSUER": "http://localhost:8000"}, True),
        ({"AGEGATE_ISSUER": "http://[::1]:8000"}, True),
        ({"AGEGATE_ISSUER": "https://agegate.example"}, False),
        ({"AGEGATE_ISSUER": "https://agegate.example", "AGEGATE_WEBHOOK_ALLOW_PRIVATE": "1"}, True),
        ({"AGEGATE_WEBHOOK_ALLOW_PRIVATE": "0"}, False),
    ],
)
def test_private_webhook_destinations_are_allowed_only_for_development(env: dict[str, str], allowed: bool) -> None:
    assert Settings.from_env(env).webhook_allow_private is allowed


def test_a_bad_allow_private_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="AGEGATE_WEBHOOK_ALLOW_PRIVATE"):
        Settings.from_env({"AGEGATE_WEBHOOK_ALLOW_PRIVATE": "yes"})
