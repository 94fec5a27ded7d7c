"""The service layer sits below every entry point (README "Layout"): a flow imports neither
Flask nor `service.api`, so pages, the CLI and the worker can call it as views do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import service.flows

FLOWS = Path(service.flows.__file__).parent
FORBIDDEN = ("flask", "werkzeug", "marshmallow", "service.api", "service.web", "service.cli", "service.app")


def imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted(FLOWS.glob("*.py")), ids=lambda path: path.name)
def test_a_flow_module_imports_no_entry_point(path: Path) -> None:
    bad = [name for name in imported_modules(path) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"{path.name} imports {bad}"
