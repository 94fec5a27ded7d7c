"""Alembic driven from code: `agegate db upgrade` and the tests build the Config here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection


def migrations_dir() -> Path:
    """The migrations folder shipped inside the package (AGEGATE_MIGRATIONS overrides it).

    Inside `service/` so that `pip install` anywhere can still run `agegate db upgrade`."""
    import os

    override = os.environ.get("AGEGATE_MIGRATIONS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation would choke on a '%' in a password
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head", connection: Connection | None = None) -> None:
    command.upgrade(alembic_config(url, connection), revision)


def downgrade(url: str, revision: str = "base", connection: Connection | None = None) -> None:
    command.downgrade(alembic_config(url, connection), revision)


def head_revision() -> str | None:
    """The newest revision this code ships (what `agegate db upgrade` brings a database to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
