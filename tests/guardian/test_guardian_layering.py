"""The guardian steps sit with the service layer: the pages, the API, the CLI and the worker
call them, so they import none of those (nor Flask), only flows, store, events and domain."""

from __future__ import annotations

from pathlib import Path

import pytest

import service.guardian
from tests.unit.test_flows_import_no_entry_point import FORBIDDEN, imported_modules

GUARDIAN = Path(service.guardian.__file__).parent


@pytest.mark.parametrize("path", sorted(GUARDIAN.glob("*.py")), ids=lambda path: path.name)
def test_a_guardian_step_imports_no_entry_point(path: Path) -> None:
    bad = [name for name in imported_modules(path) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"{path.name} imports {bad}"
