"""Guardian controls on the management page (CONTRACT §13) through Flask's test client.

The page calls the controls flow PUT /v1/subjects/{child_ref}/controls calls; these tests pin
that it does exactly what the API does (one `controls_changed` log entry, the child's live
tokens revoked, `controls.changed` delivered to webhooks), that a refused change writes
nothing and says why, and that the form is as guarded as the withdrawal form.
test_guardian_browser.py runs the same form in a real browser.
"""

from __future__ import annotations

import html as markup
import re
from typing import Any

import pytest

from tests.guardian.conftest import GUARDIAN_ID, ask, csrf_of, page_path, register
from tests.guardian.test_pages import CHOICES, answer, enter_code, log_events


def manage_path(http: Any, auth: dict[str, str], **overrides: Any) -> str:
    """A completed consent request's management page (companion allowed, paid_interaction refused)."""
    created = ask(http, auth, **overrides)
    path = page_path(created)
    enter_code(http, path, created["guardian_code"])
    answer(http, path, CHOICES)
    link = http.post(f"/v1/consent-requests/{created['request_id']}/manage-link", headers=auth).get_json()
    return "/" + link["manage_url"].split("/", 3)[3]


def post_controls(http: Any, manage: str, csrf: str | None = None, **fields: Any) -> Any:
    if csrf is None:
        csrf = csrf_of(http.get(manage).get_data(as_text=True))
    return http.post(manage + "/controls", data={"csrf": csrf, **fields})


def token_for(http: Any, auth: dict[str, str], child: str = "child") -> dict[str, Any]:
    response = http.post("/v1/tokens", json={"subject_ref": child, "audience": "persona-chat"}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def text_of(html: str) -> str:
    """The page's text with tags and runs of white space collapsed, as a reader sees it."""
    return re.sub(r"\s+", " ", markup.unescape(re.sub(r"<[^>]+>", " ", html)))


def controls_events(runtime: Any) -> list[dict[str, Any]]:
    return [e for e in log_events(runtime) if e["type"] == "controls_changed"]


def test_the_page_shows_the_limits_in_force_and_the_defaults_of_the_childs_age_band(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    page = http.get(manage_path(http, auth))
    assert page.status_code == 200
    text = text_of(page.get_data(as_text=True))
    assert "监护人控制（每日时长、宵禁、消费上限）" in text
    # the child (born 2016-03-01) is 10: the 8-15 band, each default with its source
    assert "8–15 周岁的默认限制" in text
    assert "每日使用时长 60 分钟 依据: 《移动互联网未成年人模式建设指南》（正式文本）" in text
    assert "宵禁时段 22:00–06:00 (草案数字) 依据: 《移动互联网未成年人模式建设指南》（2023 年征求意见稿）" in text
    assert "单笔消费上限 50 元" in text and "每月消费上限 200 元" in text
    assert "关闭的功能类别 （无）" in text  # nothing blocked yet
    html = page.get_data(as_text=True)
    assert 'name="daily_minutes"' in html and 'name="curfew_start"' in html and 'name="monthly_payment_max_cny"' in html
    assert 'value="digital_human"' in html and 'action="/guardian/m/' in html


def test_the_page_speaks_english_when_the_request_did(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    text = text_of(http.get(manage_path(http, auth, locale="en")).get_data(as_text=True))
    assert "Default limits for ages 8–15" in text
    assert "Curfew 22:00–06:00 (draft figure) Source: CAC Guidelines for the Minors' Mode of the Mobile Internet (2023 draft for comment)" in text
    assert "Monthly spending cap 200 CNY" in text


def test_setting_controls_logs_once_revokes_the_childs_tokens_and_shows_the_new_values(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    before = token_for(http, auth)
    assert before["features"]["companion"]["decision"] == "allow"
    logged_before = len(log_events(runtime))

    saved = post_controls(
        http, manage, daily_minutes="30", curfew_start="21:00", curfew_end="07:00",
        single_payment_max_cny="20", monthly_payment_max_cny="", blocked="companion",
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith(manage + "#controls")

    events = log_events(runtime)[logged_before:]
    assert [e["type"] for e in events] == ["controls_changed"]
    assert events[0]["controls"] == {
        "daily_minutes": 30, "curfew": {"start": "21:00", "end": "07:00"}, "single_payment_max_cny": 20,
        "blocked_categories": ["companion"],
    }
    assert events[0]["child_ref"] == "child" and events[0]["guardian_ref"] == "parent" and events[0]["client_id"] is None

    verified = http.post("/v1/tokens/verify", json={"token": before["token"]}, headers=auth).get_json()
    assert verified == {"active": False, "reason": "revoked"}
    after = token_for(http, auth)
    assert after["features"]["companion"] == {"decision": "deny", "reason": "guardian_blocked"}

    read = http.get("/v1/subjects/child/controls", headers=auth).get_json()
    assert read["set_by"] == "parent" and read["log_seq"] == events[0]["_seq"]
    assert read["limits"] == {"daily_minutes": 30, "curfew": {"start": "21:00", "end": "07:00"},
                              "single_payment_max_cny": 20, "monthly_payment_max_cny": 200}

    page = http.get(manage)
    text = text_of(page.get_data(as_text=True))
    assert "已保存。新的限制已生效，应用会收到通知。" in text
    assert "现在对孩子生效的限制 每日使用时长 30 分钟 宵禁时段 21:00–07:00 单笔消费上限 20 元 每月消费上限 200 元 关闭的功能类别 AI 陪伴聊天" in text
    assert "上次更改：2026-11-27 11:00 (UTC+08:00)" in text
    html = page.get_data(as_text=True)
    assert 'name="daily_minutes" type="number" inputmode="numeric" min="0" step="1"\n           value="30"' in html
    assert re.search(r'value="companion"\s+checked', html)
    assert "已保存" not in http.get(manage).get_data(as_text=True)  # said once


def test_the_page_and_the_api_log_the_same_change(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    assert post_controls(http, manage, daily_minutes="45", blocked="digital_human").status_code == 303
    by_api = http.put("/v1/subjects/child/controls", json={"guardian_ref": "parent", "daily_minutes": 45,
                                                          "blocked_categories": ["digital_human"]}, headers=auth)
    assert by_api.status_code == 200
    on_page, through_api = controls_events(runtime)
    shared = ("tenant", "child_ref", "guardian_ref", "controls", "occurred_at")
    assert {k: on_page[k] for k in shared} == {k: through_api[k] for k in shared}
    assert on_page["client_id"] is None and through_api["client_id"] is not None


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"daily_minutes": "61"}, "每日使用时长不能放宽：孩子这个年龄的默认上限是 60 分钟，监护人只能设得更严格。"),
        ({"single_payment_max_cny": "51"}, "单笔消费上限不能放宽：孩子这个年龄的默认上限是 50 元"),
        ({"monthly_payment_max_cny": "1000"}, "每月消费上限不能放宽：孩子这个年龄的默认上限是 200 元"),
        ({"curfew_start": "23:00", "curfew_end": "06:00"}, "宵禁不能缩短：必须至少覆盖默认宵禁 22:00–06:00，监护人只能延长。"),
    ],
    ids=["minutes", "single-payment", "monthly-payment", "curfew"],
)
def test_loosening_past_the_default_is_refused_on_the_page_naming_the_limit_and_writes_nothing(http, auth, family, runtime, fields, said) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    before = token_for(http, auth)
    logged_before = len(log_events(runtime))

    refused = post_controls(http, manage, **fields, blocked="digital_human")
    assert refused.status_code == 422 and refused.mimetype == "text/html"
    html = refused.get_data(as_text=True)
    assert said in text_of(html)
    assert 'role="alert" id="controls-errors"' in html
    name, value = next(iter(fields.items()))
    assert re.search(rf'name="{name}"[^>]*value="{value}"', html)  # the form as the guardian filled it
    assert re.search(r'value="digital_human"\s+checked', html)
    assert "撤回这项同意" in html  # the whole page, not a bare error

    assert len(log_events(runtime)) == logged_before
    assert http.post("/v1/tokens/verify", json={"token": before["token"]}, headers=auth).get_json()["active"] is True
    assert http.get("/v1/subjects/child/controls", headers=auth).get_json()["set_by"] is None


def test_the_refusal_is_in_english_on_an_english_page(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth, locale="en")
    refused = post_controls(http, manage, daily_minutes="90")
    assert refused.status_code == 422
    assert ("Daily time cannot be loosened: the default for your child's age is 60 min, and a guardian may only make it stricter."
            in text_of(refused.get_data(as_text=True)))


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"daily_minutes": "thirty"}, "每日使用时长：请填写不小于 0 的整数，或留空。"),
        ({"daily_minutes": "-5"}, "每日使用时长：请填写不小于 0 的整数，或留空。"),
        ({"curfew_start": "21:00"}, "宵禁：请同时填写开始和结束时间（时:分），或都留空。"),
        ({"curfew_start": "25:00", "curfew_end": "06:00"}, "宵禁：请同时填写开始和结束时间（时:分），或都留空。"),
        ({"blocked": "gambling"}, "这些设置无法保存，请检查后重新提交。"),
    ],
    ids=["words", "negative", "half-a-curfew", "no-such-hour", "unknown-category"],
)
def test_a_malformed_form_is_refused_on_the_page_and_writes_nothing(http, auth, family, runtime, fields, said) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    logged_before = len(log_events(runtime))
    refused = post_controls(http, manage, **fields)
    assert refused.status_code == 422 and said in text_of(refused.get_data(as_text=True))
    assert len(log_events(runtime)) == logged_before


def test_tightening_the_curfew_and_clearing_the_controls_are_allowed(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    assert post_controls(http, manage, curfew_start="20:00", curfew_end="08:00").status_code == 303
    assert http.get("/v1/subjects/child/controls", headers=auth).get_json()["limits"]["curfew"] == {"start": "20:00", "end": "08:00"}
    assert post_controls(http, manage).status_code == 303  # every field empty: the defaults again
    read = http.get("/v1/subjects/child/controls", headers=auth).get_json()
    assert read["controls"] == {"blocked_categories": []} and read["limits"]["curfew"] == {"start": "22:00", "end": "06:00"}


def test_the_controls_form_needs_its_csrf_token(http, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    http.get(manage)
    logged_before = len(log_events(runtime))
    missing = http.post(manage + "/controls", data={"daily_minutes": "30"})
    forged = http.post(manage + "/controls", data={"daily_minutes": "30", "csrf": "forged"})
    for refused in (missing, forged):
        assert refused.status_code == 400 and refused.mimetype == "text/html"
        assert "表单已过期" in refused.get_data(as_text=True)
    assert len(log_events(runtime)) == logged_before


def test_another_browsers_csrf_token_is_refused(http, app, auth, family, runtime) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    foreign = csrf_of(app.test_client().get(manage).get_data(as_text=True))  # a second browser's session
    http.get(manage)
    assert post_controls(http, manage, csrf=foreign, daily_minutes="30").status_code == 400
    assert controls_events(runtime) == []


def test_unknown_and_expired_links_set_nothing(http, auth, family, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    csrf = csrf_of(http.get(manage).get_data(as_text=True))
    unknown = http.post("/guardian/m/" + "B" * 43 + "/controls", data={"csrf": csrf, "daily_minutes": "30"})
    assert unknown.status_code == 404 and "链接无效" in unknown.get_data(as_text=True)
    clock.advance(days=7)  # management links live 7 days
    expired = http.post(manage + "/controls", data={"csrf": csrf, "daily_minutes": "30"})
    assert expired.status_code == 404 and "链接无效" in expired.get_data(as_text=True)
    assert http.get(manage).status_code == 404
    assert controls_events(runtime) == []


def test_a_child_who_turned_18_has_no_limits_to_set(http, auth, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "nearly-18", method="self_declared", birth_date="2008-11-28")  # 18 from 2026-11-29
    register(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_ID)
    manage = manage_path(http, auth, child_ref="nearly-18", scopes=["paid_interaction"])
    csrf = csrf_of(http.get(manage).get_data(as_text=True))
    clock.advance(days=2)
    page = http.get(manage).get_data(as_text=True)
    assert "孩子已满 18 周岁，不再适用未成年人限制。" in page and 'name="daily_minutes"' not in page
    # a form kept open across the birthday: the flow's rule (who may act for whom) decides
    late = http.post(manage + "/controls", data={"csrf": csrf, "daily_minutes": "30"})
    assert late.status_code == 422 and "情况已有变化" in late.get_data(as_text=True)
    assert controls_events(runtime) == []


def test_the_language_links_of_a_form_answer_lead_back_to_the_management_page(http, auth, family) -> None:  # type: ignore[no-untyped-def]
    manage = manage_path(http, auth)
    page = http.get(manage).get_data(as_text=True)
    consent_id = re.search(r'name="consent_id" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    refused = post_controls(http, manage, daily_minutes="61").get_data(as_text=True)
    confirmation = http.post(manage + "/withdraw", data={"csrf": csrf_of(page), "consent_id": consent_id}).get_data(as_text=True)
    for answer_page in (refused, confirmation):
        assert f'href="{manage}?lang=en"' in answer_page
    assert "Guardian controls" in http.get(manage + "?lang=en").get_data(as_text=True)
