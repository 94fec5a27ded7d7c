"""GET /v1/audit/consent-log reads the log page by page and writes lines in chunks: neither
may change a byte of the export (a page or chunk edge must not drop, repeat or split a line)."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any

import pytest
from agegate_verifier.log import verify_export

from service.api import audit
from service.store import audit_log
from service.store.db import transaction
from tests.unit.auditlog.conftest import make_event

TENANT = "tenant-a"
N = 7


@pytest.fixture
def logged(runtime: Any) -> None:
    with transaction(runtime.sessions) as session:
        audit_log.append(session, TENANT, [make_event(i, TENANT) for i in range(1, N + 1)],
                         datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))


def export(http: Any, headers: dict[str, str]) -> bytes:
    response = http.get("/v1/audit/consent-log", query_string={"tenant": TENANT}, headers=headers)
    assert response.status_code == 200
    return response.get_data()  # type: ignore[no-any-return]


def test_small_pages_and_chunks_export_the_same_bytes(
    http: Any, api: Any, logged: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    regulator = api.bearer("audit:export", tenant=TENANT)
    whole = export(http, regulator)
    monkeypatch.setattr(audit, "EXPORT_CHUNK_LINES", 2)
    monkeypatch.setattr(audit_log, "entries", functools.partial(audit_log.entries, batch=3))
    assert export(http, regulator) == whole
    lines = whole.splitlines()
    assert len(lines) == N + 1
    report = verify_export(lines, http.get("/.well-known/jwks.json").get_json())
    assert (report.first_seq, report.last_seq, report.count) == (1, N, N)
