"""AGEGATE_GUARDIAN_OIDC: the real-name identity provider guardians may log in with."""

from __future__ import annotations

import json

import pytest

from service.config import ConfigError, Settings

PROVIDER = {"issuer": "https://idp.example", "client_id": "agegate", "client_secret": "s3cret"}


def test_unset_means_no_identity_provider_login() -> None:
    assert Settings.from_env({}).guardian_oidc is None


def test_a_provider_is_read_and_its_secret_kept_out_of_repr() -> None:
    settings = Settings.from_env({"AGEGATE_GUARDIAN_OIDC": json.dumps(PROVIDER)})
    assert settings.guardian_oidc == PROVIDER
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    "value",
    ["not json", json.dumps({**PROVIDER, "issuer": "ftp://idp"}), json.dumps({"issuer": "https://idp.example"}), json.dumps({**PROVIDER, "extra": "x"})],
)
def test_a_bad_provider_refuses_to_start_with_one_line(value: str) -> None:
    with pytest.raises(ConfigError, match="AGEGATE_GUARDIAN_OIDC"):
        Settings.from_env({"AGEGATE_GUARDIAN_OIDC": value})
