"""Export options: `from_seq` (CONTRACT §16) and gzip when the caller accepts it."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from agegate_verifier.log import verify_export
from tests.api.test_audit import auth, export, history, regulator  # noqa: F401  (fixtures)


def jwks(http: Any) -> Any:
    return http.get("/.well-known/jwks.json").get_json()


def seqs(lines: list[bytes]) -> list[int]:
    return [json.loads(line)["seq"] for line in lines]


def test_from_seq_starts_the_export_at_that_seq_and_still_verifies(http: Any, regulator: Any, history: Any) -> None:  # noqa: F811
    whole = export(http, regulator)
    last = len(whole) - 1
    lines = export(http, regulator, from_seq="4")
    assert seqs(lines) == [*range(4, last + 1), last]
    assert json.loads(lines[0])["prev"] == json.loads(whole[2])["hash"]
    verify_export(lines, jwks(http))


def test_from_seq_and_since_together_start_at_the_later_bound(http: Any, regulator: Any, history: Any) -> None:  # noqa: F811
    last = len(export(http, regulator)) - 1
    # since excludes seq 1-2 (recorded before 03:01:30); from_seq=5 excludes 1-4
    assert seqs(export(http, regulator, from_seq="5", since="2026-11-27T03:01:30Z")) == [*range(5, last + 1), last]
    assert seqs(export(http, regulator, from_seq="2", since="2026-11-27T03:01:30Z")) == [*range(3, last + 1), last]


def test_from_seq_past_the_end_exports_only_the_checkpoint_at_the_head(http: Any, regulator: Any, history: Any) -> None:  # noqa: F811
    last = len(export(http, regulator)) - 1
    lines = export(http, regulator, from_seq="99")
    assert len(lines) == 1 and json.loads(lines[0])["seq"] == last and json.loads(lines[0])["count"] == 0
    verify_export(lines, jwks(http))


@pytest.mark.parametrize("from_seq", ["0", "-1", "x", "1.5"])
def test_a_bad_from_seq_is_422(http: Any, regulator: Any, from_seq: str) -> None:  # noqa: F811
    response = http.get("/v1/audit/consent-log", query_string={"tenant": "tenant-a", "from_seq": from_seq}, headers=regulator)
    assert response.status_code == 422 and "from_seq" in response.get_json()["errors"]


def test_the_export_is_gzipped_when_accepted_and_unzips_to_the_same_bytes(http: Any, regulator: Any, history: Any) -> None:  # noqa: F811
    plain = http.get("/v1/audit/consent-log", query_string={"tenant": "tenant-a"}, headers=regulator)
    zipped = http.get(
        "/v1/audit/consent-log", query_string={"tenant": "tenant-a"},
        headers={**regulator, "Accept-Encoding": "gzip, deflate"},
    )
    assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    assert zipped.mimetype == "application/x-ndjson"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    refused = http.get(
        "/v1/audit/consent-log", query_string={"tenant": "tenant-a"}, headers={**regulator, "Accept-Encoding": "gzip;q=0"}
    )
    assert "Content-Encoding" not in refused.headers and refused.get_data() == plain.get_data()
