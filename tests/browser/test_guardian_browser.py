"""The guardian pages in a real browser (headless Debian chromium, phone width, JS off and on).

Screenshots of the zh-CN consent page and receipt go to $AGEGATE_SCREENSHOT_DIR when set
(docs/ holds the ones the README shows).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from agegate_verifier.statuslist import decode_statuses, status_at

from service.guardian.receipts import read_receipt
from service.store.status import LIST_CAPACITY
from service.tokens.online import STATUS_REFRESH_SECONDS
from tests.browser.conftest import Live

_families = itertools.count(1)


def screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("AGEGATE_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def open_and_enter_code(page: Any, created: dict[str, Any]) -> None:
    page.goto(created["consent_url"])
    page.get_by_label("6 位验证码").fill(created["guardian_code"])
    page.get_by_role("button", name="继续").click()


def choose(page: Any, category_title: str, choice: str) -> None:
    page.get_by_role("group", name=category_title).get_by_text(choice, exact=True).click()


def allow_two_refuse_one(page: Any) -> None:
    choose(page, "处理孩子的个人信息", "同意")
    choose(page, "AI 陪伴聊天", "同意")
    choose(page, "付费互动（购买、打赏、虚拟礼物）", "不同意")
    page.get_by_label("我是这个孩子的监护人", exact=False).check()


def test_a_guardian_allows_two_categories_refuses_one_and_gets_a_receipt(page: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent)

    open_and_enter_code(page, created)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_text("《个人信息保护法》第三十一条").count() == 1
    assert page.get_by_role("link", name="隐私政策（版本 privacy-notice-v3）").count() == 1
    allow_two_refuse_one(page)
    screenshot(page, "guardian-consent-zh-CN.png")
    page.get_by_role("button", name="提交我的选择").click()

    assert page.get_by_role("heading", name="同意回执").is_visible()
    assert page.get_by_role("status").inner_text() == "已记录您的选择。"
    allowed = page.locator("#allowed + ul li").all_inner_texts()
    refused = page.locator("#refused + ul li").all_inner_texts()
    assert allowed == ["处理孩子的个人信息", "AI 陪伴聊天"] and refused == ["付费互动（购买、打赏、虚拟礼物）"]
    screenshot(page, "guardian-receipt-zh-CN.png")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载签名回执（JWS 文件）").click()
    receipt = Path(download_info.value.path()).read_text().strip()
    claims = read_receipt(receipt, live.http.get("/.well-known/jwks.json").get_json(), live.base)
    assert claims["granted"] == ["pi_processing", "companion"] and claims["declined"] == ["paid_interaction"]
    status = live.http.get(f"/v1/consent-requests/{created['request_id']}", headers=live.auth).get_json()
    assert status["status"] == "completed" and status["consent_id"] == claims["consent_id"]


def test_five_wrong_codes_lock_the_request(no_js_page: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent, locale="en")
    wrong = "000000" if created["guardian_code"] != "000000" else "111111"
    page = no_js_page
    page.goto(created["consent_url"])
    assert page.locator("html").get_attribute("lang") == "en"
    for left in (4, 3, 2, 1):
        page.get_by_label("6-digit code").fill(wrong)
        page.get_by_role("button", name="Continue").click()
        assert page.get_by_role("alert").inner_text() == f"That code is not right. {left} tries left."
    page.get_by_label("6-digit code").fill(wrong)
    page.get_by_role("button", name="Continue").click()
    assert "this request is locked" in page.get_by_role("alert").inner_text()
    page.goto(created["consent_url"])
    assert page.get_by_label("6-digit code").count() == 0
    assert live.http.get(f"/v1/consent-requests/{created['request_id']}", headers=live.auth).get_json()["status"] == "locked"


def _token(live: Live, child: str) -> dict[str, Any]:
    response = live.http.post("/v1/tokens", json={"subject_ref": child, "audience": "persona-chat"}, headers=live.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _claims(issued: dict[str, Any]) -> dict[str, Any]:
    payload = issued["token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def _published_status(live: Live, issued: dict[str, Any]) -> int:
    """The token's bit in its status list as served now (what offline verifiers fetch; read
    from the database on each request, 1 = revoked)."""
    where = _claims(issued)["status"]["status_list"]
    listed = _claims({"token": live.http.get(where["uri"][len(live.base):]).get_data(as_text=True)})["status_list"]
    return status_at(decode_statuses(listed["lst"], max_bytes=LIST_CAPACITY // 8), where["idx"], listed["bits"])


def _verified_revoked_within_the_refresh(live: Live, issued: dict[str, Any], changed_by: float) -> None:
    """POST /v1/tokens/verify answers `revoked` once its status cache has refreshed: every call
    made more than STATUS_REFRESH_SECONDS after `changed_by` (a moment the revocation had
    committed by) reads the list again (README: "the online endpoint within a second"). A
    verify of the same list just before the change may keep an earlier answer until then."""
    while True:
        asked_at = time.monotonic()
        verified = live.http.post("/v1/tokens/verify", json={"token": issued["token"]}, headers=live.auth).get_json()
        if verified == {"active": False, "reason": "revoked"}:
            return
        assert verified["active"] is True, verified
        assert asked_at - changed_by <= STATUS_REFRESH_SECONDS, f"still active {asked_at - changed_by:.2f} s after the change"
        time.sleep(0.05)


def test_withdrawal_on_the_management_page_revokes_the_childs_tokens(no_js_page: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent)
    page = no_js_page
    open_and_enter_code(page, created)
    allow_two_refuse_one(page)
    page.get_by_role("button", name="提交我的选择").click()

    before = _token(live, child)
    assert before["features"]["companion"]["decision"] == "allow"

    page.get_by_role("link", name="管理或撤回同意").click()
    assert page.get_by_role("heading", name="管理您的同意").is_visible()
    page.get_by_role("button", name="撤回这项同意").click()
    assert page.get_by_role("heading", name="确认撤回").is_visible()
    page.get_by_role("button", name="确定撤回").click()
    assert page.get_by_role("status").inner_text() == "已撤回同意。"
    assert page.get_by_text("目前没有有效的同意。").is_visible()

    verified = live.http.post("/v1/tokens/verify", json={"token": before["token"]}, headers=live.auth).get_json()
    assert verified == {"active": False, "reason": "revoked"}
    after = _token(live, child)
    assert after["features"]["companion"]["decision"] == "needs_consent"
    assert after["features"]["pi_processing"]["decision"] == "needs_consent"


def test_a_guardian_sets_controls_on_the_management_page_and_a_loosening_is_refused(page: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent)
    open_and_enter_code(page, created)
    allow_two_refuse_one(page)
    page.get_by_role("button", name="提交我的选择").click()
    before = _token(live, child)
    assert _claims(before)["limits"]["daily_minutes"] == 60

    page.get_by_role("link", name="管理或撤回同意").click()
    controls = page.locator("#controls")
    assert controls.get_by_role("heading", name="8–15 周岁的默认限制（您只能设得更严格）").is_visible()
    assert "22:00–06:00 (草案数字)" in controls.inner_text()  # the curfew default is a draft figure
    assert page.evaluate(_UNLABELLED) == []

    page.get_by_label("每日使用时长（分钟）").fill("90")  # looser than the 60 minutes of ages 8-15
    page.get_by_role("button", name="保存设置").click()
    assert page.get_by_role("alert").inner_text() == "每日使用时长不能放宽：孩子这个年龄的默认上限是 60 分钟，监护人只能设得更严格。"
    assert page.get_by_label("每日使用时长（分钟）").input_value() == "90"  # kept as typed, to correct
    assert _published_status(live, before) == 0  # a refused change revokes nothing
    assert live.http.post("/v1/tokens/verify", json={"token": before["token"]}, headers=live.auth).get_json()["active"] is True

    page.get_by_label("每日使用时长（分钟）").fill("30")
    page.get_by_label("宵禁开始（时:分）").fill("21:00")
    page.get_by_label("宵禁结束（时:分）").fill("07:00")
    page.get_by_label("单笔消费上限（元）").fill("20")
    page.get_by_role("group", name="关闭的功能类别").get_by_label("AI 陪伴聊天").check()
    screenshot(page, "guardian-controls-zh-CN.png")
    page.get_by_role("button", name="保存设置").click()

    assert page.get_by_role("status").inner_text() == "已保存。新的限制已生效，应用会收到通知。"
    saved_by = time.monotonic()  # the page says saved: the change and its revocation have committed
    assert _published_status(live, before) == 1  # the status bit flipped in the same transaction
    in_force = page.locator("#controls dl.limits").first.inner_text()
    for shown in ("30 分钟", "21:00–07:00", "20 元", "200 元", "AI 陪伴聊天"):
        assert shown in in_force, in_force
    assert page.get_by_label("每日使用时长（分钟）").input_value() == "30"
    assert page.get_by_label("宵禁开始（时:分）").input_value() == "21:00"
    boxes = [element.bounding_box() for element in page.locator("#controls, #controls input:not([type=hidden]), #controls label, #controls button").all()]
    assert all(box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360 for box in boxes), boxes

    # the verify above (after the refusal) read the status list moments ago: the online
    # endpoint may answer from that read for up to STATUS_REFRESH_SECONDS, not longer
    _verified_revoked_within_the_refresh(live, before, saved_by)
    after = _token(live, child)
    assert _claims(after)["limits"] == {"daily_minutes": 30, "curfew": {"start": "21:00", "end": "07:00"},
                                        "single_payment_max_cny": 20, "monthly_payment_max_cny": 200}
    assert after["features"]["companion"] == {"decision": "deny", "reason": "guardian_blocked"}
    export = live.http.get("/v1/audit/consent-log", headers=live.auth).get_data(as_text=True).splitlines()
    changes = [line for line in export if '"controls_changed"' in line and f'"child_ref":"{child}"' in line]
    assert len(changes) == 1


def test_the_app_reissues_a_management_link(no_js_page: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent, locale="en")
    page = no_js_page
    page.goto(created["consent_url"])
    page.get_by_label("6-digit code").fill(created["guardian_code"])
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("group", name="Processing your child's personal information").get_by_text("Allow", exact=True).click()
    page.get_by_role("group", name="AI companion chat").get_by_text("Refuse", exact=True).click()
    page.get_by_role("group", name="Paid interaction (purchases, tips, virtual gifts)").get_by_text("Refuse", exact=True).click()
    page.get_by_label("I am this child's guardian", exact=False).check()
    page.get_by_role("button", name="Submit my choices").click()
    assert page.locator("#refused + ul li").all_inner_texts() == ["AI companion chat", "Paid interaction (purchases, tips, virtual gifts)"]

    link = live.http.post(f"/v1/consent-requests/{created['request_id']}/manage-link", headers=live.auth).get_json()
    fresh = page.context.browser.new_context(java_script_enabled=False).new_page()
    fresh.goto(link["manage_url"])
    assert fresh.locator("html").get_attribute("lang") == "en"
    assert fresh.get_by_role("heading", name="Processing your child's personal information").is_visible()
    fresh.context.close()


def test_the_page_switches_between_chinese_and_english(no_js_page: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent)
    page = no_js_page
    page.goto(created["consent_url"])
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", name="监护人同意").is_visible()
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Guardian consent").is_visible()
    page.get_by_label("6-digit code").fill(created["guardian_code"])
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("group", name="AI companion chat").is_visible()  # still English after the form
    page.get_by_role("link", name="中文").click()
    assert page.get_by_role("group", name="AI 陪伴聊天").is_visible()


def test_the_page_fits_a_360_pixel_screen(no_js_page: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent)
    page = no_js_page
    open_and_enter_code(page, created)
    # layout boxes, not script: JavaScript is off in this page
    boxes = [page.locator("html").bounding_box()]
    boxes += [element.bounding_box() for element in page.locator("main, fieldset, label, button, p, a").all()]
    assert all(box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360 for box in boxes), boxes


def test_a_guardian_logs_in_with_the_identity_provider(no_js_page: Any, live: Live, provider: Any) -> None:
    child, parent = live.family(next(_families))
    provider.subject = f"idp-{child}"
    created = live.ask(child, parent, guardian_idp_subject=f"idp-{child}")
    page = no_js_page
    page.goto(created["consent_url"])
    page.get_by_role("link", name="使用实名身份登录").click()
    assert page.get_by_role("group", name="AI 陪伴聊天").is_visible()
    allow_two_refuse_one(page)
    page.get_by_role("button", name="提交我的选择").click()
    assert page.get_by_role("heading", name="同意回执").is_visible()
    consent_id = live.http.get(f"/v1/consent-requests/{created['request_id']}", headers=live.auth).get_json()["consent_id"]
    consents = live.http.get(f"/v1/consents?child_ref={child}", headers=live.auth).get_json()["items"]
    assert [(c["consent_id"], c["method"]) for c in consents] == [(consent_id, "hosted_page_oidc")]


def test_the_identity_provider_must_name_the_guardian(no_js_page: Any, live: Live, provider: Any) -> None:
    child, parent = live.family(next(_families))
    provider.subject = "someone-else"
    created = live.ask(child, parent, guardian_idp_subject=f"idp-{child}")
    page = no_js_page
    page.goto(created["consent_url"])
    page.get_by_role("link", name="使用实名身份登录").click()
    assert "没有确认您是这位监护人" in page.get_by_role("alert").inner_text()
    page.goto(created["consent_url"])
    assert page.get_by_label("6 位验证码").is_visible()  # not logged in: the code is still needed
    assert live.http.get(f"/v1/consent-requests/{created['request_id']}", headers=live.auth).get_json()["status"] == "pending"


_CONTRAST = """() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll('h1, h2, p, label, legend, a, button, li, dt, dd, span')) {
    if (!el.textContent.trim() || el.getClientRects().length === 0) continue;
    const [l1, l2] = [luminance(rgb(getComputedStyle(el).color).slice(0, 3)), luminance(background(el))];
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (ratio < 4.5) worst.push([el.tagName, el.textContent.trim().slice(0, 30), ratio.toFixed(2)]);
  }
  return worst;
}"""

_UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label')).map((el) => el.outerHTML)"""


def test_labels_contrast_and_keyboard_order(browser: Any, live: Live) -> None:
    child, parent = live.family(next(_families))
    created = live.ask(child, parent)
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto(created["consent_url"])
        assert page.evaluate(_UNLABELLED) == [] and page.evaluate(_CONTRAST) == []
        page.keyboard.press("Tab")  # the language switch comes first, then the form in reading order
        assert page.evaluate("() => document.activeElement.textContent") == "English"
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.id") == "code"
        page.keyboard.type(created["guardian_code"])
        with page.expect_navigation():
            page.keyboard.press("Enter")

        assert page.evaluate(_UNLABELLED) == [] and page.evaluate(_CONTRAST) == []
        page.keyboard.press("Tab")
        focused = []
        for _ in range(6):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("() => document.activeElement.id || document.activeElement.textContent.trim()"))
        # one stop per category (arrow keys move inside a radio group), then the notice, the confirmation, submit
        assert focused == ["pi_processing-allow", "companion-allow", "paid_interaction-allow", "隐私政策（版本 privacy-notice-v3）", "confirm", "提交我的选择"]
        for _ in range(3):
            page.keyboard.press("Shift+Tab")
        assert page.evaluate("() => document.activeElement.id") == "paid_interaction-allow"
        page.keyboard.press("ArrowRight")  # refuse paid interaction with the keyboard alone
        assert page.locator("#paid_interaction-refuse").is_checked()
    finally:
        context.close()
