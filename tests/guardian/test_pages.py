"""The guardian pages through Flask's test client: code, choices, receipt, management, security.

The same flows run in a real browser in test_browser.py; these pin the details a browser
test would make slow to cover (headers, CSRF, the lock, the log entries, the receipt claims).
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from agegate_verifier.receipt import RECEIPT_CLAIMS, ReceiptInvalid

from service.guardian.receipts import read_receipt
from service.store.db import transaction
from service.store.models import ConsentLogEntry
from tests.guardian.conftest import ask, csrf_of, page_path


def log_events(runtime) -> list[dict]:  # type: ignore[no-untyped-def]
    with transaction(runtime.sessions) as session:
        rows = session.execute(select(ConsentLogEntry.seq, ConsentLogEntry.event, ConsentLogEntry.hash).order_by(ConsentLogEntry.seq)).all()
    return [{**json.loads(event), "_seq": seq, "_hash": digest} for seq, event, digest in rows]


def enter_code(http, path: str, code: str):  # type: ignore[no-untyped-def]
    page = http.get(path)
    return http.post(path + "/code", data={"csrf": csrf_of(page.get_data(as_text=True)), "code": code})


def answer(http, path: str, choices: dict[str, str], confirm: bool = True):  # type: ignore[no-untyped-def]
    page = http.get(path)
    form = {"csrf": csrf_of(page.get_data(as_text=True)), **{f"choice-{c}": v for c, v in choices.items()}}
    if confirm:
        form["confirm"] = "yes"
    return http.post(path + "/answer", data=form)


CHOICES = {"pi_processing": "allow", "companion": "allow", "paid_interaction": "refuse"}


def test_code_then_choices_then_receipt_records_granted_declined_and_completed(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    path = page_path(created)

    first = http.get(path)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and '<html lang="zh-CN">' in html
    assert 'name="code"' in html and "小明" in html and "choice-" not in html  # nothing to choose before the code

    assert enter_code(http, path, created["guardian_code"]).status_code == 303
    choices_page = http.get(path).get_data(as_text=True)
    assert "处理孩子的个人信息" in choices_page and "AI 陪伴聊天" in choices_page
    assert "《个人信息保护法》第三十一条" in choices_page and "privacy-notice-v3" in choices_page
    assert "https://app.example/privacy/v3" in choices_page

    unconfirmed = answer(http, path, CHOICES, confirm=False)
    assert unconfirmed.status_code == 422 and "请勾选确认后再提交" in unconfirmed.get_data(as_text=True)
    undecided = answer(http, path, {"pi_processing": "allow", "companion": "allow"})
    assert undecided.status_code == 422

    done = answer(http, path, CHOICES)
    assert done.status_code == 303 and done.headers["Location"].endswith(path + "/receipt")
    receipt_page = http.get(path + "/receipt").get_data(as_text=True)
    assert "已记录您的选择" in receipt_page and "付费互动" in receipt_page

    events = log_events(runtime)
    assert [e["type"] for e in events] == ["consent_request_created", "granted", "declined", "consent_request_completed"]
    granted, declined, completed = events[1:]
    assert granted["scopes"] == ["pi_processing", "companion"] and declined["scopes"] == ["paid_interaction"]
    assert completed["consent_id"] == granted["consent_id"]

    download = http.get(path + "/receipt.jwt")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    claims = read_receipt(download.get_data(as_text=True), runtime.keyring.snapshot().jwks, "https://agegate.test")
    assert set(claims) == RECEIPT_CLAIMS
    assert claims["granted"] == ["pi_processing", "companion"] and claims["declined"] == ["paid_interaction"]
    assert claims["log"] == {"seq": completed["_seq"], "hash": completed["_hash"]}
    assert claims["consent_id"] == granted["consent_id"] and claims["policy"] == runtime.policy.version

    status = http.get(f"/v1/consent-requests/{created['request_id']}", headers=auth).get_json()
    assert status["status"] == "completed" and status["consent_id"] == granted["consent_id"]
    assert status["declined"] == ["paid_interaction"]

    # single use: the link never submits twice
    again = http.post(path + "/answer", data={"csrf": csrf_of(choices_page), **{f"choice-{c}": v for c, v in CHOICES.items()}, "confirm": "yes"})
    assert again.status_code == 409
    assert len(log_events(runtime)) == 4


def test_a_tampered_receipt_fails_the_check(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    path = page_path(created)
    enter_code(http, path, created["guardian_code"])
    answer(http, path, CHOICES)
    receipt = http.get(path + "/receipt.jwt").get_data(as_text=True).strip()
    header, claims, signature = receipt.split(".")
    forged_claims = claims[:-4] + ("AAAA" if claims[-4:] != "AAAA" else "BBBB")
    jwks = runtime.keyring.snapshot().jwks
    with pytest.raises(ReceiptInvalid):
        read_receipt(f"{header}.{forged_claims}.{signature}", jwks, "https://agegate.test")
    with pytest.raises(ReceiptInvalid):
        read_receipt(receipt, {"keys": []}, "https://agegate.test")
    with pytest.raises(ReceiptInvalid):
        read_receipt(receipt, jwks, "https://another-issuer.example")


def test_five_wrong_codes_lock_the_request(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    path = page_path(created)
    wrong = "000000" if created["guardian_code"] != "000000" else "111111"
    csrf = csrf_of(http.get(path).get_data(as_text=True))
    for left in (4, 3, 2, 1):
        response = http.post(path + "/code", data={"csrf": csrf, "code": wrong})
        assert response.status_code == 422 and f"还可以再试 {left} 次" in response.get_data(as_text=True)
    locked = http.post(path + "/code", data={"csrf": csrf, "code": wrong})
    assert locked.status_code == 403 and "已被锁定" in locked.get_data(as_text=True)
    # now even the right code opens nothing
    assert http.post(path + "/code", data={"csrf": csrf, "code": created["guardian_code"]}).status_code == 403
    assert http.get(path).status_code == 403
    assert http.get(f"/v1/consent-requests/{created['request_id']}", headers=auth).get_json()["status"] == "locked"


def test_answering_without_the_code_is_refused(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    path = page_path(created)
    csrf = csrf_of(http.get(path).get_data(as_text=True))
    response = http.post(path + "/answer", data={"csrf": csrf, "choice-pi_processing": "allow", "confirm": "yes"})
    assert response.status_code == 403


def test_every_form_needs_its_csrf_token(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    path = page_path(created)
    http.get(path)
    assert http.post(path + "/code", data={"code": created["guardian_code"]}).status_code == 400
    assert http.post(path + "/code", data={"code": created["guardian_code"], "csrf": "forged"}).status_code == 400


def test_page_headers_cookies_and_framing(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    from service.store import consent_requests as store

    created = ask(http, auth)
    response = http.get(page_path(created))
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie  # the test issuer is https
    assert "https://" not in re.sub(r'href="https://app\.example/privacy/v3"', "", response.get_data(as_text=True))

    with transaction(runtime.sessions) as session:
        store.set_tenant_page(session, "tenant-a", display_name="星伴 AI", frame_origins=["https://app.example"])
    framed = http.get(page_path(created))
    assert "frame-ancestors https://app.example" in framed.headers["Content-Security-Policy"]
    assert "星伴 AI" in framed.get_data(as_text=True)


def test_english_by_request_locale_and_switchable(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth, locale="en")
    path = page_path(created)
    english = http.get(path).get_data(as_text=True)
    assert '<html lang="en">' in english and "enter the 6-digit code" in english
    chinese = http.get(path + "?lang=zh-CN").get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese and "6 位验证码" in chinese
    assert '<html lang="zh-CN">' in http.get(path).get_data(as_text=True)  # remembered for the session


def test_unknown_and_malformed_links_show_a_page_not_an_error(http) -> None:  # type: ignore[no-untyped-def]
    for path in ("/guardian/r/" + "A" * 43, "/guardian/r/short", "/guardian/m/" + "B" * 43):
        response = http.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html"
        assert "链接无效" in response.get_data(as_text=True)


def test_the_qr_code_encodes_the_page_link(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    svg = http.get(page_path(created) + "/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and svg.get_data(as_text=True).startswith("<svg")


def test_the_receipt_checks_with_agegate_verify_and_against_the_log_export(http, auth, family, runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from pathlib import Path

    created = ask(http, auth)
    path = page_path(created)
    enter_code(http, path, created["guardian_code"])
    answer(http, path, CHOICES)
    receipt_file = tmp_path / "receipt.jwt"
    receipt_file.write_text(http.get(path + "/receipt.jwt").get_data(as_text=True))
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(http.get("/.well-known/jwks.json").get_data(as_text=True))

    verify = Path(sys.executable).with_name("agegate-verify")
    checked = subprocess.run(
        [str(verify), "receipt", str(receipt_file), "--jwks", str(jwks_file), "--issuer", "https://agegate.test"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert created["request_id"] in checked.stdout

    claims = read_receipt(receipt_file.read_text(), json.loads(jwks_file.read_text()), "https://agegate.test")
    export = http.get("/v1/audit/consent-log", headers=auth).get_data(as_text=True).splitlines()
    entry = next(json.loads(line) for line in export if json.loads(line).get("seq") == claims["log"]["seq"] and json.loads(line)["kind"] == "event")
    assert entry["hash"] == claims["log"]["hash"]
    assert entry["event"]["type"] == "consent_request_completed" and entry["event"]["request_id"] == created["request_id"]


def test_the_law_of_the_day_of_the_answer_decides(http, auth, family, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.guardian.conftest import register

    register(http, auth, "nearly-14", method="self_declared", birth_date="2012-11-28")  # 14 on 2026-11-28
    created = ask(http, auth, child_ref="nearly-14", scopes=["companion"])
    path = page_path(created)
    enter_code(http, path, created["guardian_code"])
    clock.advance(days=2)  # now a minor: companion needs no consent and cannot be consented to
    refused = answer(http, path, {"companion": "allow"})
    assert refused.status_code == 422 and refused.mimetype == "text/html"
    assert "情况已有变化" in refused.get_data(as_text=True)
    assert http.get(f"/v1/consent-requests/{created['request_id']}", headers=auth).get_json()["status"] == "pending"


def test_management_links_expire_and_open_only_the_guardians_own_consents(http, auth, family, clock) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    path = page_path(created)
    enter_code(http, path, created["guardian_code"])
    answer(http, path, CHOICES)
    link = http.post(f"/v1/consent-requests/{created['request_id']}/manage-link", headers=auth).get_json()
    assert link["expires_at"] == "2026-12-04T03:00:00.000000Z"  # 7 days
    manage = "/" + link["manage_url"].split("/", 3)[3]
    page = http.get(manage)
    assert page.status_code == 200 and "撤回这项同意" in page.get_data(as_text=True)
    csrf = csrf_of(page.get_data(as_text=True))
    # a consent id that is not this guardian's for this child opens nothing
    assert http.post(manage + "/withdraw", data={"csrf": csrf, "consent_id": "someone-elses"}).status_code == 404
    clock.advance(days=7)
    assert http.get(manage).status_code == 404


def test_input_the_edge_refuses_gets_a_page_too(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth)
    refused = http.post(page_path(created) + "/code", data={"csrf": "x", "code": "12\x003456"})
    assert refused.status_code == 400 and refused.mimetype == "text/html"


def test_api_calls_without_the_cookie_get_no_session_and_pages_keep_theirs(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    """security.CookieSessions skips the signer for requests without the cookie: API calls
    get no cookie and no Vary, pages still set, read and refuse a forged cookie as before."""
    api_call = http.get("/v1/policy", headers=auth)
    assert api_call.status_code == 200
    assert "Set-Cookie" not in api_call.headers and "Cookie" not in api_call.vary
    path = page_path(ask(http, auth, locale="en"))
    first = http.get(path + "?lang=zh-CN")
    assert "agegate_guardian=" in first.headers["Set-Cookie"] and "Cookie" in first.vary
    assert '<html lang="zh-CN">' in http.get(path).get_data(as_text=True)  # read back from the cookie
    http.set_cookie("agegate_guardian", "forged.value.signature", path="/guardian")
    assert '<html lang="en">' in http.get(path).get_data(as_text=True)  # a bad signature is an empty session
