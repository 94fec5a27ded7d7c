"""The `agegate` command line (CONTRACT §1): thin, calling what the API calls."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NoReturn, TypeVar
from urllib.parse import urlsplit

import click

from service.config import ConfigError, Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.runtime import Runtime

T = TypeVar("T")


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"agegate: {message}", err=True)
    sys.exit(code)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        _fail(str(error))


def _in_transaction(work: Callable[[Session], T]) -> T:
    """`work(session)` in one transaction on AGEGATE_DATABASE_URL, for a command that needs
    only the database (no keys, policy or verifiers)."""
    from service.store.db import make_engine, make_sessionmaker
    from service.store.transactions import run_in_transaction

    engine = make_engine(_settings().database_url)
    try:
        return run_in_transaction(make_sessionmaker(engine), work)
    finally:
        engine.dispose()


def _runtime() -> Runtime:
    """The service's parts, as `agegate serve` builds them, for a command to call the flows."""
    from service.app import build_runtime

    return build_runtime(_settings())


class _OneLineErrors(click.Group):
    """Every command fails with one line on stderr, never a traceback (CONTRACT §1)."""

    def invoke(self, ctx: click.Context) -> object:
        from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

        from service.store.db import DatabaseUnavailable

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (OperationalError, ProgrammingError) as error:
            if _is_missing_schema(error):
                _fail("the database has no agegate schema, or an older one: run `agegate db upgrade`", 1)
            _fail(f"AGEGATE_DATABASE_URL: database unreachable: {_first_line(error)}", 1)
        except (DatabaseUnavailable, DBAPIError) as error:
            _fail(f"AGEGATE_DATABASE_URL: database error: {_first_line(error)}", 1)
        except Exception as error:
            logging.getLogger("agegate.cli").debug("traceback", exc_info=True)
            _fail(f"unexpected {type(error).__name__}; AGEGATE_LOG_LEVEL=debug logs the traceback", 1)


def _first_line(error: Exception) -> str:
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _is_missing_schema(error: Exception) -> bool:
    text = str(getattr(error, "orig", error)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text) or "no such column" in text or (
        "column" in text and "does not exist" in text
    )


@click.group(cls=_OneLineErrors)
def main() -> None:
    """agegate: age brackets, age tokens and guardian consent."""
    from service.config import logging_from_env
    from service.logs import configure_logging

    try:
        log_format, level = logging_from_env()
    except ConfigError as error:
        _fail(str(error))
    configure_logging(log_format, level)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the service with the development server (production: gunicorn service.wsgi:app)."""
    from service.app import checked_settings, create_app

    try:
        settings = checked_settings()
    except ConfigError as error:
        _fail(str(error))
    settings = dataclasses.replace(settings, issuer=serving_issuer(settings.issuer, host, port, os.environ))
    from service.app import build_runtime
    from service.worker import build_worker, start_in_background

    app = create_app(settings)
    start_in_background(build_worker(build_runtime(settings), concurrency=4))  # development: webhooks in this process
    app.run(host=host, port=port, threaded=True)


@main.command()
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256), help="deliveries in flight at once")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 10.0), help="seconds per attempt")
def worker(concurrency: int, timeout: float) -> None:
    """Deliver webhooks and run scheduled steps (bracket changes, expiries) until SIGTERM/SIGINT."""
    import signal
    import threading

    from service.app import build_runtime, checked_settings
    from service.worker import build_worker

    try:
        settings = checked_settings()
    except ConfigError as error:
        click.echo(f"agegate: {error}", err=True)
        sys.exit(2)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    build_worker(build_runtime(settings), concurrency=concurrency, timeout=timeout).run(stop)


def serving_issuer(configured: str, host: str, port: int, env: Mapping[str, str]) -> str:
    """The issuer `serve --host --port` publishes: AGEGATE_ISSUER when set, else derived from
    the address served, so tokens and URLs name a port that answers."""
    log = logging.getLogger("agegate.cli")
    if "AGEGATE_ISSUER" in env:
        parts = urlsplit(configured)
        if parts.hostname in ("127.0.0.1", "localhost", "::1") and (parts.port or 80) != port:
            log.warning("AGEGATE_ISSUER %s names port %s but the service listens on %s", configured, parts.port, port)
        return configured
    if host in ("0.0.0.0", "::", ""):
        derived = f"http://127.0.0.1:{port}"
        log.warning(
            "AGEGATE_ISSUER is not set and --host %s listens on every address: publishing %s; "
            "set AGEGATE_ISSUER to the URL clients and verifiers use", host or "''", derived,
        )
        return derived
    derived = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    log.info("AGEGATE_ISSUER is not set: publishing %s (from --host and --port)", derived)
    return derived


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
    click.echo(f"agegate: database at head ({migrate.head_revision()})")
    from service.app import build_runtime
    from service.store.transactions import run_in_transaction
    from service.tokens.keys import ensure_signing_key

    # The first signing key is made here, wrapped under this AGEGATE_KEK: run the upgrade
    # with the service's own KEK.
    runtime = build_runtime(settings)
    from service.store.keys import PRODUCTION, REALMS

    for realm in REALMS:  # production keys, and the sandbox tenants' own (CONTRACT §15)
        kid = run_in_transaction(runtime.sessions, lambda session: ensure_signing_key(session, runtime.kek, runtime.clock(), realm))
        if kid is not None:
            click.echo(f"agegate: created the first {'' if realm == PRODUCTION else realm + ' '}signing key {kid}")
    runtime.engine.dispose()


@db.command()
@click.argument("role")
def grant(role: str) -> None:
    """Grant the runtime ROLE exactly what the service needs (run as the schema's owner,
    after every `agegate db upgrade`); the service then connects as ROLE."""
    from sqlalchemy import create_engine

    from service.store.roles import RoleRefused, grant_runtime_role

    settings = _settings()
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            statements = grant_runtime_role(connection, role)
    except RoleRefused as error:
        click.echo(f"agegate: {error}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    for statement in statements:
        click.echo(statement)
    click.echo(f"agegate: {role} may now run the service; it cannot rewrite consents or the log")


@main.group()
def clients() -> None:
    """OAuth2 clients."""


@clients.command("create")
@click.option("--tenant", default=None, help="the tenant (app) the client belongs to")
@click.option("--regulator", is_flag=True, help="a regulator's client: no tenant, only audit:export, names ?tenant= on each call")
@click.option("--name", required=True)
@click.option("--scopes", default=None, help='space-separated, e.g. "subjects:write tokens:issue"')
@click.option("--audience", default=None, help="the persona service id this client verifies tokens for")
@click.option("--sandbox", is_flag=True, help="the tenant is a sandbox tenant: test mode, its own issuer, keys and clock")
@click.option("--json", "as_json", is_flag=True, help="print the credentials as JSON")
def create_client(
    tenant: str | None,
    regulator: bool,
    name: str,
    scopes: str | None,
    audience: str | None,
    sandbox: bool,
    as_json: bool,
) -> None:
    """Register a client; its secret is printed once and stored only hashed."""
    from service.store import clients as client_store

    if regulator and (tenant is not None or audience is not None or sandbox):
        _fail("--regulator clients belong to no tenant, sandbox or not, and have no audience")
    if regulator and scopes is not None and scopes.split() != ["audit:export"]:
        _fail("--regulator clients may hold only the scope audit:export")
    if not regulator and (tenant is None or scopes is None):
        _fail("--tenant and --scopes are required (or --regulator)")
    now = datetime.now(timezone.utc)

    def create(session: Session) -> client_store.NewClient:
        if regulator:
            return client_store.create_regulator_client(session, name=name, now=now)
        assert tenant is not None and scopes is not None
        return client_store.create_client(
            session, tenant=tenant, name=name, scopes=scopes.split(), audience=audience, now=now, sandbox=sandbox
        )

    try:
        new = _in_transaction(create)
    except ValueError as error:
        _fail(str(error))
    _print_credentials(new.client_id, new.client_secret, as_json)


def _print_credentials(client_id: str, client_secret: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": client_secret}))
    else:
        click.echo(f"client_id:     {client_id}\nclient_secret: {client_secret}  (shown once)")


@clients.command("list")
@click.option("--tenant", default=None, help="only this tenant's clients")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_clients(tenant: str | None, as_json: bool) -> None:
    """List clients (never their secrets), revoked ones marked."""
    from service.store import clients as client_store

    from service.store import sandbox as sandbox_store

    def listed(session: Session) -> list[dict[str, object]]:
        sandboxes = sandbox_store.sandbox_tenants(session)
        return [
            {
                "client_id": c.client_id,
                "tenant": c.tenant,
                "regulator": c.tenant is None,
                "sandbox": c.tenant in sandboxes,
                "name": c.name,
                "scopes": c.scopes.split(),
                "audience": c.audience,
                "created_at": c.created_at.isoformat(),
                "secret_rotated_at": None if c.secret_rotated_at is None else c.secret_rotated_at.isoformat(),
                "revoked_at": None if c.revoked_at is None else c.revoked_at.isoformat(),
            }
            for c in client_store.list_clients(session, tenant)
        ]

    for row in _in_transaction(listed):
        if as_json:
            click.echo(json.dumps(row))
        else:
            state = "revoked " + row["revoked_at"] if row["revoked_at"] else "active"
            owner = "(regulator)" if row["regulator"] else f"{row['tenant']}{' (sandbox)' if row['sandbox'] else ''}"
            click.echo(f"{row['client_id']}  {owner}  {row['name']}  [{' '.join(row['scopes'])}]  {state}")


@clients.command("revoke")
@click.argument("client_id")
def revoke_client(client_id: str) -> None:
    """Revoke a client and its access tokens (every instance within 60 s, its token cache)."""
    from service.store import clients as client_store
    from service.store.errors import NotFound

    try:
        _in_transaction(lambda session: client_store.revoke_client(session, client_id, datetime.now(timezone.utc)))
    except NotFound:
        _fail(f"no client {client_id}")
    click.echo(f"agegate: client {client_id} revoked; its access tokens stop working within 60 s")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help="print the credentials as JSON")
def rotate_client_secret(client_id: str, as_json: bool) -> None:
    """Give a client a new secret (printed once); the old secret and its access tokens stop working."""
    from service.store import clients as client_store
    from service.store.errors import NotFound

    try:
        new = _in_transaction(lambda session: client_store.rotate_secret(session, client_id, datetime.now(timezone.utc)))
    except NotFound:
        _fail(f"no client {client_id}")
    except ValueError as error:
        _fail(str(error))
    _print_credentials(new.client_id, new.client_secret, as_json)


@main.group()
def keys() -> None:
    """Token-signing keys."""


@keys.command()
@click.option("--sandbox", is_flag=True, help="rotate the sandbox tenants' keys instead of the production keys")
def rotate(sandbox: bool) -> None:
    """Make a new signing key active in one realm (production, or with --sandbox the sandbox
    tenants'); running instances pick it up within seconds."""
    from service.store.keys import PRODUCTION, SANDBOX
    from service.store.transactions import run_in_transaction
    from service.tokens.keys import create_key

    runtime = _runtime()
    realm = SANDBOX if sandbox else PRODUCTION
    kid = run_in_transaction(runtime.sessions, lambda session: create_key(session, runtime.kek, runtime.clock(), realm))
    named = "sandbox " if sandbox else ""
    click.echo(f"agegate: new active {named}key {kid}; older {named}keys stay published until their tokens expire")


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
    from service.flows.consents import ConsentExpiry, expire_consents

    count = _runtime().run(expire_consents, ConsentExpiry())
    click.echo(f"agegate: {count} consent(s) expired")


@main.group()
def policy() -> None:
    """The policy: its readable reference, and a tenant's overrides (which may only make it stricter)."""


@policy.command("set")
@click.option("--tenant", required=True)
@click.argument("file", type=click.File("rb"))
def policy_set(tenant: str, file: click.utils.LazyFile) -> None:
    """Install FILE (JSON overrides) as the tenant's next policy revision; refuses any loosening."""
    from service.domain.errors import PolicyInvalid, PolicyLoosened
    from service.flows.policies import TenantPolicyInstall, install_tenant_policy

    try:
        document = json.loads(file.read())
    except ValueError as error:
        click.echo(f"agegate: {file.name}: not JSON: {error}", err=True)
        sys.exit(2)
    try:
        installed = _runtime().run(install_tenant_policy, TenantPolicyInstall(tenant, document))
    except (PolicyInvalid, PolicyLoosened) as error:
        click.echo(f"agegate: refused: {error}", err=True)
        sys.exit(1)
    click.echo(f"agegate: tenant {tenant} now runs policy {installed.policy.version}")


@policy.command("show")
@click.option("--tenant", required=True)
def policy_show(tenant: str) -> None:
    """Print the policy in force for the tenant's users (JSON, as GET /v1/policy?tenant=T)."""
    from service.flows.policies import policy_for

    runtime = _runtime()
    in_force = runtime.read(lambda session, deps, _: policy_for(session, deps, tenant), None)
    click.echo(json.dumps(in_force.document(), ensure_ascii=False, indent=2))


@main.group()
def tenants() -> None:
    """How tenants appear to guardians."""


@tenants.command("page")
@click.option("--tenant", required=True)
@click.option("--display-name", required=True, help="the name guardians see on the consent page")
@click.option("--frame-origin", "frame_origins", multiple=True, help="an https origin allowed to frame the pages (repeatable)")
def tenant_page(tenant: str, display_name: str, frame_origins: tuple[str, ...]) -> None:
    """Set the tenant's display name and the origins that may embed the guardian pages."""
    from urllib.parse import urlsplit

    from service.store import consent_requests as request_store
    from service.store.db import make_engine, make_sessionmaker, transaction

    for origin in frame_origins:
        parts = urlsplit(origin)
        if parts.scheme not in {"https", "http"} or not parts.netloc or parts.path not in {"", "/"} or parts.query:
            click.echo(f"agegate: --frame-origin {origin!r}: expected an origin such as https://app.example", err=True)
            sys.exit(2)
    settings = _settings()
    with transaction(make_sessionmaker(make_engine(settings.database_url))) as session:
        request_store.set_tenant_page(
            session, tenant, display_name=display_name, frame_origins=[o.rstrip("/") for o in frame_origins]
        )
    click.echo(f"agegate: guardian pages of {tenant} show {display_name!r}")


@main.group()
def guardian() -> None:
    """Hosted guardian consent."""


@guardian.command("sweep")
def guardian_sweep() -> None:
    """Expire due consent requests and erase under-14s nobody consented for (idempotent; cron)."""
    from service.app import build_runtime
    from service.guardian.keep_little import Sweep, keep_little

    result = keep_little(build_runtime(_settings()), Sweep())
    click.echo(f"agegate: {result.expired_requests} consent request(s) expired, {len(result.erased)} unconsented child(ren) erased")


@main.command("report")
@click.option("--tenant", required=True)
@click.option("--year", required=True, type=int, help="calendar year in AGEGATE_TIMEZONE, up to the current one")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="the HTML file to write")
def report(tenant: str, year: int, out: str) -> None:
    """Write a self-contained HTML compliance report: brackets, consents, deletions, thresholds."""
    from pathlib import Path

    from service.reports import annual, page
    from service.reports.summary import summary
    from service.store import sandbox as sandbox_store

    runtime = _runtime()
    tz = runtime.settings.timezone
    now = runtime.clock()
    local_now = now.astimezone(tz)
    if not 2000 <= year <= local_now.year:
        click.echo(f"agegate: --year: expected 2000 to {local_now.year}", err=True)
        sys.exit(2)
    with runtime.reporting.transaction() as session:
        if sandbox_store.is_sandbox(session, tenant):
            # CONTRACT §15: nothing of a sandbox tenant appears in production reports
            _fail(f"tenant {tenant} is a sandbox tenant: its figures are test data, never a compliance report")
        summary_document = summary(session, runtime.kek, runtime.policy, tenant, now, local_now)
        annual_document = annual.minors_pi(session, runtime.kek, runtime.policy, tenant, year, tz, now)
    generated = local_now.replace(microsecond=0).isoformat()
    Path(out).write_text(page.render(summary_document, annual_document, generated), encoding="utf-8")
    click.echo(f"agegate: report for {tenant} {year} written to {out}")


@policy.command("reference")
@click.option("--version", "version", default=None, help="a packaged policy version (default: the one in force)")
def policy_reference_command(version: str | None) -> None:
    """Print the packaged policy as a Markdown reference, generated from the policy file."""
    from service.domain.policy import DEFAULT_POLICY_VERSION, load_policy
    from service.policy_reference import policy_reference

    click.echo(policy_reference(load_policy(version=version or DEFAULT_POLICY_VERSION)), nl=False)
