"""The domain layer imports only the standard library and itself (STYLE.md, "Layout")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import service.domain

DOMAIN = Path(service.domain.__file__).parent
DOMAIN_PACKAGE = "service.domain"


def _module_name(path: Path) -> str:
    parts = path.relative_to(DOMAIN).with_suffix("").parts
    return ".".join((DOMAIN_PACKAGE, *parts)).removesuffix(".__init__")


def _allowed(module: str) -> bool:
    top = module.partition(".")[0]
    return top in sys.stdlib_module_names or module == DOMAIN_PACKAGE or module.startswith(DOMAIN_PACKAGE + ".")


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """Resolve a relative ``from`` import the way the import system does."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def forbidden_imports(source: str, importer: str, is_package: bool = False) -> list[str]:
    """Return every module ``source`` imports from outside the standard library and the domain.

    Covers ``import x``, ``from x import y``, relative imports that climb out of the domain,
    and ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [_absolute(node, importer, is_package)]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        else:
            continue
        found += [name for name in names if not _allowed(name)]
    return found


DOMAIN_MODULES = sorted(DOMAIN.rglob("*.py"))


def test_the_domain_has_the_modules_style_md_names() -> None:
    names = {path.name for path in DOMAIN_MODULES}
    assert {"brackets.py", "evidence.py", "policy.py", "consent.py", "errors.py"} <= names


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: p.name)
def test_a_domain_module_imports_only_the_standard_library_and_the_domain(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert forbidden_imports(source, _module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import flask", ["flask"]),
        ("import os, sqlalchemy.orm", ["sqlalchemy.orm"]),
        ("from cryptography.hazmat import primitives", ["cryptography.hazmat"]),
        ("from joserfc import jws", ["joserfc"]),
        ("from service.store import models", ["service.store"]),
        ("from service import config", ["service"]),
        ("from .. import api", ["service"]),
        ("from ..tokens.keys import Key", ["service.tokens.keys"]),
        ("import importlib\nimportlib.import_module('flask')", ["flask"]),
        ("__import__('sqlalchemy')", ["sqlalchemy"]),
        ("import datetime, zoneinfo, json, enum", []),
        ("from importlib import resources", []),
        ("from . import errors\nfrom .errors import DomainError", []),
        ("from service.domain.brackets import Bracket", []),
        ("import importlib\nimportlib.import_module('service.domain.policy')", []),
    ],
)
def test_the_import_check_catches_what_it_must(source: str, found: list[str]) -> None:
    assert forbidden_imports(source, "service.domain.policy") == found
