"""Code entry on the guardian pages is rate-limited per address (issue 12 item 7), on top of
the five-wrong-codes lock of each request."""

from __future__ import annotations

from tests.guardian.conftest import ask, csrf_of, page_path


def test_an_address_entering_codes_too_fast_gets_429_across_requests(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    statuses = []
    for _ in range(3):  # several requests: the lock of one request is not what stops it
        path = page_path(ask(http, auth))
        for _ in range(4):
            csrf = csrf_of(http.get(path).get_data(as_text=True))
            statuses.append(http.post(path + "/code", data={"csrf": csrf, "code": "000000"}).status_code)
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]
