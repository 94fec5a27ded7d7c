"""The real `agegate` console script (CONTRACT §1), run as a subprocess against a SQLite file."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.store import migrate
from service.store.db import make_engine, make_sessionmaker, transaction
from service.store.models import Client
from tests.conftest import TEST_KEK
from tests.integration.conftest import (
    CHILD_BIRTH_DATE,
    GUARDIAN_RESIDENT_ID,
    bearer_for,
    consent_body,
    make_client,
    register,
    settings_for,
)

AGEGATE = Path(sys.executable).with_name("agegate")
KEK_TEXT = base64.urlsafe_b64encode(TEST_KEK).decode().rstrip("=")


def agegate_env(url: str, **overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGEGATE_")}
    env.update(AGEGATE_DATABASE_URL=url, AGEGATE_KEK=KEK_TEXT, AGEGATE_ISSUER="https://agegate.test")
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(url: str, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGEGATE), *args], env=agegate_env(url, **env), capture_output=True, text=True, timeout=60, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'agegate.db'}"


@pytest.fixture
def migrated(url: str) -> str:
    migrate.upgrade(url)
    return url


def test_the_console_script_is_installed() -> None:
    assert AGEGATE.is_file() and os.access(AGEGATE, os.X_OK)


def test_db_upgrade_creates_the_schema_and_the_first_signing_key_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'agegate.db'}"  # the folder does not exist yet
    first = ok(run(url, "db", "upgrade"))
    assert "database at head" in first and "created the first signing key" in first
    again = ok(run(url, "db", "upgrade"))
    assert "database at head" in again and "signing key" not in again
    engine = make_engine(url)
    try:
        from sqlalchemy import inspect

        from service.store.base import Base

        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def client_rows(url: str) -> list[Client]:
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return list(session.scalars(select(Client)))
    finally:
        engine.dispose()


def test_clients_create_prints_the_credentials_once_and_stores_only_a_hash(migrated: str, tmp_path: Path) -> None:
    out = ok(
        run(
            migrated, "clients", "create", "--tenant", "t", "--name", "n",
            "--scopes", "subjects:write tokens:issue", "--audience", "persona-chat", "--json",
        )
    )
    printed = json.loads(out)
    assert set(printed) == {"client_id", "client_secret"}
    secret = printed["client_secret"]
    assert len(secret) >= 32

    [row] = client_rows(migrated)
    assert row.client_id == printed["client_id"]
    assert (row.tenant, row.name, row.audience) == ("t", "n", "persona-chat")
    assert set(row.scopes.split()) == {"subjects:write", "tokens:issue"}
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {row.client_id, row.tenant, row.name, row.scopes, row.audience, row.secret_hash}
    for path in tmp_path.glob("agegate.db*"):  # the file, and the WAL it may still sit in
        assert secret.encode() not in path.read_bytes(), path


def test_created_credentials_get_an_access_token(migrated: str) -> None:
    from service.app import create_app

    printed = json.loads(
        ok(run(migrated, "clients", "create", "--tenant", "t", "--name", "n", "--scopes", "consent:read", "--json"))
    )
    app = create_app(settings_for(migrated))
    try:
        bearer_for(app.test_client(), printed["client_id"], printed["client_secret"])
    finally:
        app.extensions["agegate"].engine.dispose()


@pytest.mark.parametrize(
    "scopes", ["subjects:write bogus:scope", "admin", "", "SUBJECTS:WRITE"], ids=["unknown", "admin", "none", "case"]
)
def test_clients_create_refuses_a_bad_scope_with_one_line_and_writes_nothing(migrated: str, scopes: str) -> None:
    result = run(migrated, "clients", "create", "--tenant", "t", "--name", "n", "--scopes", scopes, "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "scope" in result.stderr
    assert client_rows(migrated) == []


def rotated_kid(result: subprocess.CompletedProcess[str], realm: str = "") -> str:
    out = ok(result)
    return out.split(f"new active {realm}key ", 1)[1].split(";", 1)[0]


def test_keys_rotate_twice_publishes_both_keys(migrated: str) -> None:
    from service.app import create_app

    first = rotated_kid(run(migrated, "keys", "rotate"))
    second = rotated_kid(run(migrated, "keys", "rotate"))
    assert first != second

    app = create_app(settings_for(migrated))
    try:
        jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    finally:
        app.extensions["agegate"].engine.dispose()
    assert sorted(key["kid"] for key in jwks["keys"]) == sorted([first, second])
    assert all("d" not in key for key in jwks["keys"])  # public halves only


def test_keys_rotate_sandbox_rotates_only_the_sandbox_keys(migrated: str) -> None:
    from service.app import create_app

    app = create_app(settings_for(migrated))
    try:
        before = app.test_client().get("/.well-known/jwks.json").get_json()
        kid = rotated_kid(run(migrated, "keys", "rotate", "--sandbox"), "sandbox ")
        sandbox = {key["kid"] for key in app.test_client().get("/sandbox/.well-known/jwks.json").get_json()["keys"]}
        after = app.test_client().get("/.well-known/jwks.json").get_json()
    finally:
        app.extensions["agegate"].engine.dispose()
    assert kid in sandbox and len(sandbox) == 2  # the first sandbox key (db upgrade) and the new one
    assert after == before and kid not in {key["kid"] for key in after["keys"]}


def seed_due_consent(url: str) -> None:
    """A consent whose expires_at has passed and that has no ending yet."""
    from service.domain.consent import ConsentTerms, Relationship
    from service.store import consents as consent_store

    now = datetime.now(timezone.utc)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            terms = ConsentTerms(
                child_ref="child", guardian_ref="parent", relationship=Relationship.PARENT, scopes=("pi_processing",),
                method="in_app_parent_account", evidence_ref="ev-1", notice_version="privacy-notice-v3",
                expires_at=now - timedelta(days=1),
            )
            consent_store.grant(
                session, tenant="t", client_id="cl_test", terms=terms, policy_version="2026-07-15.1", now=now - timedelta(days=30)
            )
    finally:
        engine.dispose()


def test_consents_expire_prints_a_count_and_is_idempotent(migrated: str) -> None:
    seed_due_consent(migrated)
    assert "agegate: 1 consent(s) expired" in ok(run(migrated, "consents", "expire"))
    assert "agegate: 0 consent(s) expired" in ok(run(migrated, "consents", "expire"))


@pytest.fixture
def export(migrated: str, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A consent-log export (4 events) and the JWKS, both fetched through the app."""
    from service.app import create_app

    app = create_app(settings_for(migrated))
    try:
        http = app.test_client()
        auth = bearer_for(http, *make_client(migrated, "subjects:write", "consent:write", "audit:export", tenant="t"))
        register(http, auth, "child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
        register(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
        ids = []
        for n in range(3):
            response = http.post("/v1/consents", json=consent_body(evidence_ref=f"ev-{n}"), headers=auth)
            assert response.status_code == 201, response.get_json()
            ids.append(response.get_json()["consent_id"])
        assert http.post(f"/v1/consents/{ids[1]}/withdraw", json={"reason": "moved"}, headers=auth).status_code == 200
        response = http.get("/v1/audit/consent-log?tenant=t", headers=auth)
        assert response.status_code == 200
        log_path, jwks_path = tmp_path / "export.ndjson", tmp_path / "jwks.json"
        log_path.write_bytes(response.get_data())
        jwks_path.write_bytes(http.get("/.well-known/jwks.json").get_data())
        yield log_path, jwks_path
    finally:
        app.extensions["agegate"].engine.dispose()


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_audit_verify_accepts_an_export_made_by_the_app(migrated: str, export: tuple[Path, Path]) -> None:
    log_path, jwks_path = export
    assert [line["kind"] for line in lines_of(log_path)] == ["event"] * 4 + ["checkpoint"]
    out = ok(run(migrated, "audit", "verify", str(log_path), "--jwks", str(jwks_path)))
    assert out.startswith("OK:")
    assert "4 events" in out
    ok(run(migrated, "audit", "verify", str(log_path), "--jwks", str(jwks_path), "--issuer", "https://agegate.test"))


def tamper_edit(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines[1]["event"]["scopes"] = ["pi_processing", "companion", "virtual_intimacy"]
    return lines


def tamper_drop(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return lines[:1] + lines[2:]


def tamper_swap(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


def tamper_rehash(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An editor who also recomputes the edited event's hash still breaks the next link."""
    from service.auditlog.chain import link_hash

    lines[1]["event"]["evidence_ref"] = "forged"
    lines[1]["hash"] = link_hash(lines[1]["prev"], lines[1]["event"])
    return lines


@pytest.mark.parametrize("tamper", [tamper_edit, tamper_drop, tamper_swap, tamper_rehash], ids=lambda f: f.__name__)
def test_audit_verify_fails_a_tampered_copy_and_names_the_seq(
    migrated: str, export: tuple[Path, Path], tmp_path: Path, tamper: Any
) -> None:
    log_path, jwks_path = export
    tampered = tmp_path / "tampered.ndjson"
    write_lines(tampered, tamper(lines_of(log_path)))
    result = run(migrated, "audit", "verify", str(tampered), "--jwks", str(jwks_path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout.startswith("FAIL at seq 2 "), result.stdout


def test_audit_verify_fails_against_another_services_keys(migrated: str, export: tuple[Path, Path], tmp_path: Path) -> None:
    log_path, _ = export
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from service.tokens.keys import public_jwk

    other = tmp_path / "other-jwks.json"
    other.write_text(json.dumps({"keys": [public_jwk(Ed25519PrivateKey.generate())]}))
    result = run(migrated, "audit", "verify", str(log_path), "--jwks", str(other))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout.startswith("FAIL at seq 4 ")


def test_audit_verify_exits_2_when_the_file_is_missing(migrated: str, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    result = run(migrated, "audit", "verify", str(tmp_path / "nope.ndjson"), "--jwks", str(jwks))
    assert result.returncode == 2


COMMANDS = [
    pytest.param(["db", "upgrade"], id="db-upgrade"),
    pytest.param(["clients", "create", "--tenant", "t", "--name", "n", "--scopes", "consent:read", "--json"], id="clients-create"),
    pytest.param(["keys", "rotate"], id="keys-rotate"),
    pytest.param(["consents", "expire"], id="consents-expire"),
    pytest.param(["serve", "--port", "1"], id="serve"),
    pytest.param(["worker"], id="worker"),
]


def assert_one_line_naming(result: subprocess.CompletedProcess[str], variable: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"agegate: {variable}: "), lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_malformed_kek_with_one_line_naming_it(migrated: str, command: list[str]) -> None:
    assert_one_line_naming(run(migrated, *command, AGEGATE_KEK="too-short"), "AGEGATE_KEK")


@pytest.mark.parametrize(
    "kek",
    ["not-base64-at-all-but-quite-long-indeed-xyz!", base64.urlsafe_b64encode(bytes(16)).decode(), ""],
    ids=["junk", "16-bytes", "empty"],
)
def test_a_malformed_kek_exits_non_zero_with_one_line_that_does_not_echo_it(migrated: str, kek: str) -> None:
    line = assert_one_line_naming(run(migrated, "consents", "expire", AGEGATE_KEK=kek), "AGEGATE_KEK")
    assert not kek or kek not in line


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_mysql_url_with_one_clear_line(command: list[str]) -> None:
    assert_one_line_naming(run("mysql://x", *command), "AGEGATE_DATABASE_URL")


@pytest.mark.parametrize("bad_url", ["postgresql+psycopg2://u@h/db", "not a url"], ids=["psycopg2", "garbage"])
def test_an_unsupported_database_url_exits_with_one_clear_line(bad_url: str) -> None:
    assert_one_line_naming(run(bad_url, "consents", "expire"), "AGEGATE_DATABASE_URL")


def test_a_database_url_with_a_password_is_not_echoed_on_error() -> None:
    line = assert_one_line_naming(run("mysql://agegate:hunter2@db/agegate", "consents", "expire"), "AGEGATE_DATABASE_URL")
    assert "hunter2" not in line


def test_an_unset_kek_warns_loudly_on_stderr_but_runs(migrated: str) -> None:
    result = run(migrated, "consents", "expire", AGEGATE_KEK=None)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line and "AGEGATE_KEK" in line]
    assert len(warnings) == 1, result.stderr
    assert "development key" in warnings[0] and "production" in warnings[0]
    assert "consent(s) expired" in result.stdout


def test_a_set_kek_runs_without_a_warning(migrated: str) -> None:
    result = run(migrated, "consents", "expire")
    assert result.returncode == 0
    assert "WARNING" not in result.stderr


def test_clients_create_refuses_an_audience_of_another_tenant(migrated: str) -> None:
    """CONTRACT §16: an audience belongs to the tenant that registered it."""
    ok(run(migrated, "clients", "create", "--tenant", "tenant-b", "--name", "persona", "--scopes", "tokens:verify", "--audience", "persona-b", "--json"))
    refused = run(migrated, "clients", "create", "--tenant", "tenant-a", "--name", "x", "--scopes", "tokens:verify", "--audience", "persona-b", "--json")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "agegate: audience persona-b belongs to another tenant"
    assert refused.stdout == ""  # no credentials printed, none stored
    ok(run(migrated, "clients", "create", "--tenant", "tenant-b", "--name", "second", "--scopes", "tokens:verify", "--audience", "persona-b", "--json"))
