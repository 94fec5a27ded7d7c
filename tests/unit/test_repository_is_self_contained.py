"""The repository stands on its own: an Apache-2.0 LICENSE, and a README that sends readers
to nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_is_apache_2_0() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


def test_the_readme_names_no_path_outside_the_repository() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in text and "shared/spec" not in text
    for path in re.findall(r"`((?:service|tests|perf|verifier)/[\w./-]+)`", text):
        assert (ROOT / path.rstrip("/")).exists() or "<" in path, f"README names {path}, which is not in the repository"
