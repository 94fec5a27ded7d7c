"""The `agegate` command line (CONTRACT §1): thin, calling what the API calls."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

import click

from service.config import ConfigError, Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        click.echo(f"agegate: {error}", err=True)
        sys.exit(2)


@click.group()
def main() -> None:
    """agegate: age brackets, age tokens and guardian consent."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the service with the development server (production: gunicorn service.wsgi:app)."""
    from service.app import checked_settings, create_app

    try:
        settings = checked_settings()
    except ConfigError as error:
        click.echo(f"agegate: {error}", err=True)
        sys.exit(2)
    create_app(settings).run(host=host, port=port, threaded=True)


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply the Alembic migrations to AGEGATE_DATABASE_URL."""
    settings = _settings()  # before importing alembic, whose set-up logging would precede the error
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from service.store import migrate

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    click.echo("agegate: database at head")


@main.group()
def clients() -> None:
    """OAuth2 clients."""


@clients.command("create")
@click.option("--tenant", required=True)
@click.option("--name", required=True)
@click.option("--scopes", required=True, help='space-separated, e.g. "subjects:write tokens:issue"')
@click.option("--audience", default=None, help="the persona service id this client verifies tokens for")
@click.option("--json", "as_json", is_flag=True, help="print the credentials as JSON")
def create_client(tenant: str, name: str, scopes: str, audience: str | None, as_json: bool) -> None:
    """Register a client; its secret is printed once and stored only hashed."""
    from service.store import clients as client_store
    from service.store.db import make_engine, make_sessionmaker, transaction

    settings = _settings()
    try:
        with transaction(make_sessionmaker(make_engine(settings.database_url))) as session:
            new = client_store.create_client(
                session, tenant=tenant, name=name, scopes=scopes.split(), audience=audience, now=datetime.now(timezone.utc)
            )
    except ValueError as error:
        click.echo(f"agegate: {error}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({"client_id": new.client_id, "client_secret": new.client_secret}))
    else:
        click.echo(f"client_id:     {new.client_id}\nclient_secret: {new.client_secret}  (shown once)")


@main.group()
def keys() -> None:
    """Token-signing keys."""


@keys.command()
def rotate() -> None:
    """Make a new signing key active; running instances pick it up within seconds."""
    from service.kek import KeyEncryptionKey
    from service.store.db import make_engine, make_sessionmaker, transaction
    from service.tokens.keys import create_key

    settings = _settings()
    with transaction(make_sessionmaker(make_engine(settings.database_url))) as session:
        kid = create_key(session, KeyEncryptionKey(settings.kek), datetime.now(timezone.utc))
    click.echo(f"agegate: new active key {kid}; older keys stay published until their tokens expire")


@main.group()
def audit() -> None:
    """The regulator's tools."""


@audit.command("verify", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def audit_verify(arguments: tuple[str, ...]) -> None:
    """Alias of `agegate-verify log FILE --jwks ... [--issuer ...] [--since-checkpoint OLD]`."""
    from agegate_verifier.cli import main as verify_main

    sys.exit(verify_main(["log", *arguments]))


@main.group()
def consents() -> None:
    """Guardian consents."""


@consents.command("expire")
def expire() -> None:
    """Record `expired` for every consent past its expires_at (idempotent; run from cron)."""
    from service.store import consents as consent_store
    from service.store.db import make_engine, make_sessionmaker, transaction

    settings = _settings()
    with transaction(make_sessionmaker(make_engine(settings.database_url))) as session:
        count = consent_store.expire_due(session, datetime.now(timezone.utc))
    click.echo(f"agegate: {count} consent(s) expired")
