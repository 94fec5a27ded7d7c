"""Every `agegate` command fails with one line and no traceback against a database that is
missing, unreachable or not migrated; `db upgrade` prints no Alembic chatter."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.integration.conftest import POSTGRES_URL, needs_postgres
from tests.integration.test_cli import run

DATABASE_COMMANDS = [
    pytest.param(["db", "upgrade"], id="db-upgrade"),
    pytest.param(["clients", "create", "--tenant", "t", "--name", "n", "--scopes", "consent:read"], id="clients-create"),
    pytest.param(["clients", "create", "--regulator", "--name", "n"], id="clients-create-regulator"),
    pytest.param(["clients", "list"], id="clients-list"),
    pytest.param(["clients", "revoke", "cl_x"], id="clients-revoke"),
    pytest.param(["clients", "rotate-secret", "cl_x"], id="clients-rotate-secret"),
    pytest.param(["keys", "rotate"], id="keys-rotate"),
    pytest.param(["consents", "expire"], id="consents-expire"),
]
SCHEMA_COMMANDS = [c for c in DATABASE_COMMANDS if c.id != "db-upgrade"]


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("agegate: ")
    return lines[0]


@needs_postgres
@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_a_missing_postgres_database_is_one_line(command: list[str]) -> None:
    missing = make_url(POSTGRES_URL).set(database="agegate_no_such_database_xyz").render_as_string(hide_password=False)
    line = one_line(run(missing, *command))
    assert line.startswith("agegate: AGEGATE_DATABASE_URL: database unreachable: ")
    assert "agegate_no_such_database_xyz" in line


@pytest.mark.parametrize("command", SCHEMA_COMMANDS)
def test_a_sqlite_file_in_a_missing_folder_is_one_line(tmp_path: Path, command: list[str]) -> None:
    line = one_line(run(f"sqlite:///{tmp_path / 'no-such-dir' / 'agegate.db'}", *command))
    assert line == "agegate: AGEGATE_DATABASE_URL: database unreachable: unable to open database file"


@pytest.mark.parametrize("command", SCHEMA_COMMANDS)
def test_an_unmigrated_database_is_one_line_naming_the_upgrade(tmp_path: Path, command: list[str]) -> None:
    line = one_line(run(f"sqlite:///{tmp_path / 'empty.db'}", *command))
    assert "run `agegate db upgrade`" in line


def test_db_upgrade_says_where_it_left_the_database_without_alembic_chatter(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path / 'agegate.db'}", "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("agegate: database at head (")
