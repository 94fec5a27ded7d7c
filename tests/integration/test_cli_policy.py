"""`agegate policy set|show` (CONTRACT §13): tenant overrides installed, shown, and refused
when they would loosen the policy."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_cli import migrated, ok, run, url  # noqa: F401 (fixtures)


def write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "override.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_policy_set_installs_revisions_and_show_prints_the_effective_policy(migrated: str, tmp_path: Path) -> None:
    override = {"rules": {"adult": {"paid_interaction": {"decision": "deny", "basis": "no payments"}}}}
    assert "2026-07-15.2+acme.1" in ok(run(migrated, "policy", "set", "--tenant", "acme", write(tmp_path, override)))
    assert "2026-07-15.2+acme.2" in ok(run(migrated, "policy", "set", "--tenant", "acme", write(tmp_path, override)))
    shown = json.loads(ok(run(migrated, "policy", "show", "--tenant", "acme")))
    assert shown["version"] == "2026-07-15.2+acme.2"
    assert shown["rules"]["adult"]["paid_interaction"]["decision"] == "deny"
    assert json.loads(ok(run(migrated, "policy", "show", "--tenant", "other")))["version"] == "2026-07-15.2"


def test_policy_set_refuses_loosening_with_one_line_naming_it_and_installs_nothing(migrated: str, tmp_path: Path) -> None:
    override = {"rules": {"minor": {"virtual_intimacy": {"decision": "allow", "basis": "we want it"}}}}
    result = run(migrated, "policy", "set", "--tenant", "acme", write(tmp_path, override))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["agegate: refused: rules.minor.virtual_intimacy.decision: deny cannot become allow"]
    assert json.loads(ok(run(migrated, "policy", "show", "--tenant", "acme")))["version"] == "2026-07-15.2"


def test_policy_set_refuses_a_file_that_is_not_json(migrated: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{", encoding="utf-8")
    result = run(migrated, "policy", "set", "--tenant", "acme", str(path))
    assert result.returncode == 2 and "not JSON" in result.stderr
