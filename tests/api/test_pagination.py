"""Cursor pagination (`limit`, `cursor`, `next_cursor`), first on GET /v1/consents."""

from __future__ import annotations

from typing import Any

import pytest

from service.api.pagination import decode_cursor, encode_cursor
from tests.conftest import ALL_SCOPES

GUARDIAN_ID = "11010219840406970X"


@pytest.fixture
def auth(api: Any) -> dict[str, str]:
    return api.bearer(*ALL_SCOPES)  # type: ignore[no-any-return]


def grant(http: Any, auth: dict[str, str]) -> str:
    body = {"child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"],
            "method": "in_app", "evidence_ref": "e", "notice_version": "v3"}
    response = http.post("/v1/consents", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["consent_id"]  # type: ignore[no-any-return]


@pytest.fixture
def five_consents(http: Any, auth: dict[str, str], clock: Any) -> list[str]:
    for ref, evidence in (("kid", {"method": "self_declared", "birth_date": "2016-03-01"}),
                          ("mum", {"method": "resident_id", "resident_id": GUARDIAN_ID})):
        assert http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth).status_code == 201
    ids = [grant(http, auth), grant(http, auth)]  # two at the same instant: consent_id breaks the tie
    for _ in range(3):
        clock.advance(seconds=1)
        ids.append(grant(http, auth))
    return ids


def pages(http: Any, auth: dict[str, str], limit: int) -> list[list[str]]:
    seen, cursor = [], None
    while True:
        query = {"child_ref": "kid", "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        body = http.get("/v1/consents", query_string=query, headers=auth).get_json()
        seen.append([item["consent_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_pages_follow_next_cursor_through_every_item_once_in_order(http: Any, auth: Any, five_consents: list[str]) -> None:
    whole = http.get("/v1/consents", query_string={"child_ref": "kid"}, headers=auth).get_json()
    assert whole["next_cursor"] is None and len(whole["items"]) == 5
    in_order = [item["consent_id"] for item in whole["items"]]
    assert sorted(in_order[:2]) == in_order[:2] and set(in_order) == set(five_consents)
    assert pages(http, auth, 2) == [in_order[0:2], in_order[2:4], in_order[4:5]]
    assert pages(http, auth, 5) == [in_order]
    assert pages(http, auth, 1) == [[i] for i in in_order]


def test_an_item_added_between_pages_is_neither_repeated_nor_skipped(
    http: Any, auth: Any, five_consents: list[str], clock: Any
) -> None:
    first = http.get("/v1/consents", query_string={"child_ref": "kid", "limit": "3"}, headers=auth).get_json()
    clock.advance(seconds=1)
    newest = grant(http, auth)
    rest = http.get("/v1/consents", query_string={"child_ref": "kid", "limit": "10", "cursor": first["next_cursor"]},
                    headers=auth).get_json()
    ids = [i["consent_id"] for i in first["items"]] + [i["consent_id"] for i in rest["items"]]
    assert len(ids) == len(set(ids)) == 6 and ids[-1] == newest


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"cursor": "not-a-cursor"}, {"cursor": encode_cursor(["only-one"])},
     {"cursor": encode_cursor([True, "x"])}, {"cursor": ""}],
)
def test_a_bad_limit_or_cursor_is_422_naming_it(http: Any, auth: Any, query: dict[str, str]) -> None:
    response = http.get("/v1/consents", query_string={"child_ref": "kid", **query}, headers=auth)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(query)


def test_a_cursor_round_trips_timestamps_and_strings() -> None:
    from datetime import datetime, timezone

    key = (datetime(2026, 11, 27, 3, 0, 0, 123456, tzinfo=timezone.utc), "c-1", 7)
    assert decode_cursor(encode_cursor(key), 3) == key
