"""A family registered through the API, and helpers to ask for consent and walk the pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ALL_SCOPES

GUARDIAN_ID = "11010219840406970X"  # born 1984-04-06: adult, document assurance
NOTICE = {"version": "privacy-notice-v3", "url": "https://app.example/privacy/v3"}


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def register(http: Any, auth: dict[str, str], ref: str, **evidence: str) -> None:
    response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth)
    assert response.status_code in (200, 201), response.get_json()


@pytest.fixture
def family(http, auth):  # type: ignore[no-untyped-def]
    register(http, auth, "child", method="self_declared", birth_date="2016-03-01")  # under_14
    register(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_ID)


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "child_ref": "child",
        "guardian_ref": "parent",
        "relationship": "parent",
        "scopes": ["pi_processing", "companion", "paid_interaction"],
        "notice": NOTICE,
        "child_label": "小明",
        "locale": "zh-CN",
        "expires_in": 259200,
    }
    body.update(overrides)
    return body


def ask(http: Any, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = http.post("/v1/consent-requests", json=request_body(**overrides), headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def page_path(created: dict[str, Any]) -> str:
    return "/" + created["consent_url"].split("/", 3)[3]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)
