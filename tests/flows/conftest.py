"""Flows called as the views, pages, CLI and worker call them: through the runtime, against
the real databases (each test inside the rolled-back connection of tests/conftest.py)."""

from __future__ import annotations

from datetime import date

import pytest

from service.domain.consent import ConsentTerms, Relationship
from service.flows.subjects import Evidence, SubjectRegistration, register_subject
from service.runtime import Runtime

TENANT = "tenant-a"
CLIENT = "client-1"
GUARDIAN_ID = "11010219840406970X"  # born 1984-04-06: adult, document assurance


def register(runtime: Runtime, ref: str, evidence: Evidence) -> None:
    runtime.run(register_subject, SubjectRegistration(TENANT, ref, evidence))


@pytest.fixture
def family(runtime: Runtime) -> Runtime:
    """A child under 14, a parent with document assurance, a self-declared adult."""
    register(runtime, "child", Evidence("self_declared", birth_date=date(2016, 3, 1)))
    register(runtime, "parent", Evidence("resident_id", resident_id=GUARDIAN_ID))
    register(runtime, "weak-parent", Evidence("self_declared", birth_date=date(1985, 1, 1)))
    return runtime


def terms(*scopes: str, guardian_ref: str = "parent", **overrides: object) -> ConsentTerms:
    values: dict[str, object] = {
        "child_ref": "child",
        "guardian_ref": guardian_ref,
        "relationship": Relationship.PARENT,
        "scopes": scopes or ("pi_processing", "companion"),
        "method": "hosted_page",
        "evidence_ref": "ev-1",
        "notice_version": "privacy-notice-v3",
        **overrides,
    }
    return ConsentTerms(**values)  # type: ignore[arg-type]
