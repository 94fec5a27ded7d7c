"""The words of the guardian pages in zh-CN (the default) and en.

Categories are explained by the policy file (`policy.category_text`); what is here is the
page's own wording, and the Chinese names of the legal bases the policy cites.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}

_ZH = {
    "title.consent": "监护人同意",
    "title.receipt": "同意回执",
    "title.manage": "管理您的同意",
    "title.withdraw": "确认撤回",
    "title.error": "无法打开",
    "language": "语言",
    "asks": "{tenant} 请求您作为监护人，为孩子「{child}」作出同意。",
    "code.explain": "为确认是您本人，请输入应用发送给您的 6 位验证码。",
    "code.label": "6 位验证码",
    "code.submit": "继续",
    "code.wrong": "验证码不正确。还可以再试 {left} 次。",
    "code.format": "请输入 6 位数字。",
    "code.slow": "尝试次数过多，请稍后再试。",
    "oidc.or": "或者",
    "oidc.button": "使用实名身份登录",
    "oidc.failed": "实名身份登录没有确认您是这位监护人，请改用验证码。",
    "consent.intro": "请逐项选择同意或不同意。不同意不会影响您对其他项目的选择，您之后也可以随时撤回同意。",
    "consent.basis": "法律依据",
    "consent.allow": "同意",
    "consent.refuse": "不同意",
    "consent.choose": "请为每一项选择同意或不同意。",
    "consent.notice": "隐私政策（版本 {version}）",
    "consent.notice_read": "请先阅读",
    "consent.confirm": "我是这个孩子的监护人，我已阅读隐私政策，并确认以上选择。",
    "consent.confirm_missing": "请勾选确认后再提交。",
    "consent.submit": "提交我的选择",
    "consent.expires": "此链接有效期至 {at}。",
    "receipt.done": "已记录您的选择。",
    "receipt.for": "{tenant} · 孩子「{child}」",
    "receipt.allowed": "您同意了",
    "receipt.refused": "您不同意",
    "receipt.none": "（无）",
    "receipt.recorded": "记录时间",
    "receipt.log": "同意日志记录编号 {seq}，哈希值",
    "receipt.download": "下载签名回执（JWS 文件）",
    "receipt.explain": "回执由 agegate 以数字签名保存，任何人都可以用公开的密钥核对它，并与同意日志中的记录对照。",
    "receipt.manage": "管理或撤回同意",
    "receipt.manage_until": "此链接有效期至 {at}。",
    "manage.intro": "孩子「{child}」目前有效的同意。撤回后立即生效，应用需要删除相关的个人信息。",
    "manage.none": "目前没有有效的同意。",
    "manage.granted_at": "同意时间",
    "manage.withdraw": "撤回这项同意",
    "manage.withdrawn": "已撤回同意。",
    "manage.controls": "监护人控制（每日时长、宵禁、消费上限）",
    "controls.intro": "您可以把孩子的限制设得比默认值更严格，或关闭某些功能类别，但不能放宽默认值。留空的项目使用默认值。保存后立即生效：应用会收到通知，孩子现有的凭证作废，之后按新设置重新签发。",
    "controls.in_force": "现在对孩子生效的限制",
    "controls.defaults": "{min}–{max} 周岁的默认限制（您只能设得更严格）",
    "controls.source": "依据",
    "controls.draft": "草案数字",
    "controls.adult": "孩子已满 18 周岁，不再适用未成年人限制。",
    "controls.set_at": "上次更改：{at}",
    "controls.set_by_other": "（由另一位监护人更改）",
    "controls.daily_minutes": "每日使用时长",
    "controls.curfew": "宵禁时段",
    "controls.curfew_start": "宵禁开始（时:分）",
    "controls.curfew_end": "宵禁结束（时:分）",
    "controls.single_payment_max_cny": "单笔消费上限",
    "controls.monthly_payment_max_cny": "每月消费上限",
    "controls.minutes": "{n} 分钟",
    "controls.cny": "{n} 元",
    "controls.span": "{start}–{end}",
    "controls.all_day": "全天",
    "controls.minutes_label": "每日使用时长（分钟）",
    "controls.single_label": "单笔消费上限（元）",
    "controls.monthly_label": "每月消费上限（元）",
    "controls.leave_empty": "留空：使用默认值",
    "controls.blocked": "关闭的功能类别",
    "controls.blocked_help": "勾选的类别对孩子一律不可用，即使您曾同意。",
    "controls.blocked_none": "（无）",
    "controls.submit": "保存设置",
    "controls.saved": "已保存。新的限制已生效，应用会收到通知。",
    "controls.loosened": "{limit}不能放宽：孩子这个年龄的默认上限是 {allowed}，监护人只能设得更严格。",
    "controls.loosened_curfew": "宵禁不能缩短：必须至少覆盖默认宵禁 {start}–{end}，监护人只能延长。",
    "controls.number": "{limit}：请填写不小于 0 的整数，或留空。",
    "controls.curfew_both": "宵禁：请同时填写开始和结束时间（时:分），或都留空。",
    "controls.invalid": "这些设置无法保存，请检查后重新提交。",
    "withdraw.question": "确定要撤回以下同意吗？",
    "withdraw.yes": "确定撤回",
    "withdraw.no": "取消",
    "error.unknown": "这个链接无效或已失效。请向应用重新获取链接。",
    "error.expired": "这个同意请求已过期。请向应用重新发起请求。",
    "error.locked": "验证码错误次数过多，这个请求已被锁定。请向应用重新发起请求。",
    "error.completed": "这个请求已经作出回答，不能再次提交。",
    "error.form": "表单已过期，请重新提交。",
    "error.session": "请先验证您的身份。",
    "error.rules": "情况已有变化（例如孩子的年龄），这个请求不能再按原样同意。请向应用重新发起请求。",
}

_EN = {
    "title.consent": "Guardian consent",
    "title.receipt": "Consent receipt",
    "title.manage": "Manage your consents",
    "title.withdraw": "Confirm withdrawal",
    "title.error": "Cannot open this page",
    "language": "Language",
    "asks": "{tenant} asks you, as guardian, to decide for your child “{child}”.",
    "code.explain": "To confirm it is you, enter the 6-digit code the app sent you.",
    "code.label": "6-digit code",
    "code.submit": "Continue",
    "code.wrong": "That code is not right. {left} tries left.",
    "code.format": "Enter 6 digits.",
    "code.slow": "Too many tries; wait a moment and try again.",
    "oidc.or": "or",
    "oidc.button": "Sign in with your real-name identity",
    "oidc.failed": "The real-name sign-in did not show that you are this guardian; use the code instead.",
    "consent.intro": "Choose allow or refuse for each item. Refusing one does not change the others, and you can withdraw a consent at any time.",
    "consent.basis": "Legal basis",
    "consent.allow": "Allow",
    "consent.refuse": "Refuse",
    "consent.choose": "Choose allow or refuse for every item.",
    "consent.notice": "Privacy notice (version {version})",
    "consent.notice_read": "Please read the",
    "consent.confirm": "I am this child's guardian, I have read the privacy notice, and I confirm the choices above.",
    "consent.confirm_missing": "Tick the confirmation before you submit.",
    "consent.submit": "Submit my choices",
    "consent.expires": "This link is valid until {at}.",
    "receipt.done": "Your choices are recorded.",
    "receipt.for": "{tenant} · your child “{child}”",
    "receipt.allowed": "You allowed",
    "receipt.refused": "You refused",
    "receipt.none": "(none)",
    "receipt.recorded": "Recorded at",
    "receipt.log": "Consent-log entry {seq}, hash",
    "receipt.download": "Download the signed receipt (JWS file)",
    "receipt.explain": "agegate signs the receipt; anyone can check it with the published keys and against the entry in the consent log.",
    "receipt.manage": "Manage or withdraw consent",
    "receipt.manage_until": "This link is valid until {at}.",
    "manage.intro": "The consents now in force for “{child}”. A withdrawal takes effect at once, and the app must delete the personal information concerned.",
    "manage.none": "No consent is in force.",
    "manage.granted_at": "Granted at",
    "manage.withdraw": "Withdraw this consent",
    "manage.withdrawn": "Consent withdrawn.",
    "manage.controls": "Guardian controls (daily time, curfew, spending caps)",
    "controls.intro": "You can make your child's limits stricter than the defaults, or turn categories off; you cannot loosen a default. An empty field keeps the default. A change takes effect at once: the app is told, your child's current tokens stop working and new ones carry the new settings.",
    "controls.in_force": "Limits now in force for your child",
    "controls.defaults": "Default limits for ages {min}–{max} (you can only make them stricter)",
    "controls.source": "Source",
    "controls.draft": "draft figure",
    "controls.adult": "Your child is 18 or older: no minors' limits apply.",
    "controls.set_at": "Last changed: {at}",
    "controls.set_by_other": "(by another guardian)",
    "controls.daily_minutes": "Daily time",
    "controls.curfew": "Curfew",
    "controls.curfew_start": "Curfew starts (HH:MM)",
    "controls.curfew_end": "Curfew ends (HH:MM)",
    "controls.single_payment_max_cny": "Single payment cap",
    "controls.monthly_payment_max_cny": "Monthly spending cap",
    "controls.minutes": "{n} min",
    "controls.cny": "{n} CNY",
    "controls.span": "{start}–{end}",
    "controls.all_day": "all day",
    "controls.minutes_label": "Daily time (minutes)",
    "controls.single_label": "Single payment cap (CNY)",
    "controls.monthly_label": "Monthly spending cap (CNY)",
    "controls.leave_empty": "empty: the default applies",
    "controls.blocked": "Categories turned off",
    "controls.blocked_help": "A ticked category is denied to your child, even where you consented to it.",
    "controls.blocked_none": "(none)",
    "controls.submit": "Save settings",
    "controls.saved": "Saved. The new limits are in force and the app has been told.",
    "controls.loosened": "{limit} cannot be loosened: the default for your child's age is {allowed}, and a guardian may only make it stricter.",
    "controls.loosened_curfew": "The curfew cannot be shortened: it must cover at least the default curfew {start}–{end}; a guardian may only extend it.",
    "controls.number": "{limit}: enter a whole number of 0 or more, or leave it empty.",
    "controls.curfew_both": "Curfew: fill in both the start and the end (HH:MM), or leave both empty.",
    "controls.invalid": "These settings cannot be saved; check them and submit again.",
    "withdraw.question": "Do you want to withdraw this consent?",
    "withdraw.yes": "Yes, withdraw",
    "withdraw.no": "Cancel",
    "error.unknown": "This link is not valid or no longer valid. Ask the app for a new one.",
    "error.expired": "This consent request has expired. Ask the app to send a new one.",
    "error.locked": "Too many wrong codes: this request is locked. Ask the app to send a new one.",
    "error.completed": "This request has been answered and cannot be submitted again.",
    "error.form": "The form expired; please submit it again.",
    "error.session": "Please confirm who you are first.",
    "error.rules": "Things have changed since the app asked (the child's age, for example), so this request cannot be answered as it stands. Ask the app to send a new one.",
}

_WORDS: Mapping[str, Mapping[str, str]] = {"zh-CN": _ZH, "en": _EN}

# The policy cites its bases in English; a Chinese page names the same texts in Chinese.
_BASES_ZH = {
    "PIPL Art. 31": "《个人信息保护法》第三十一条",
    "PIPL Art. 31 (guardian consent only under 14)": "《个人信息保护法》第三十一条（仅不满十四周岁需监护人同意）",
    "Interim Measures Art. 14": "《人工智能拟人化互动服务管理暂行办法》第十四条",
    "Minor Protection Law; Interim Measures Art. 14": "《未成年人保护法》；《人工智能拟人化互动服务管理暂行办法》第十四条",
    "project default": "本服务默认规则",
}


# The policy names the sources of its limits in English too; a tenant's own limits are
# "tenant policy <version>" (domain/tenant_policy.py).
_SOURCES_ZH = {
    "CAC Guidelines for the Minors' Mode of the Mobile Internet (2023 draft for comment)": "《移动互联网未成年人模式建设指南》（2023 年征求意见稿）",
    "CAC Guidelines for the Minors' Mode of the Mobile Internet (final text)": "《移动互联网未成年人模式建设指南》（正式文本）",
    "project default (Regulations on the Protection of Minors Online, 2024, Art. 44 leaves the amounts to providers)": "本服务默认值（《未成年人网络保护条例》（2024）第四十四条将金额交由服务提供者确定）",
}
_TENANT_SOURCE = "tenant policy "


def words(locale: str) -> Mapping[str, str]:
    return _WORDS.get(locale, _ZH)


def basis_in(locale: str, basis: str) -> str:
    if locale == "zh-CN":
        return _BASES_ZH.get(basis, basis)
    return basis


def source_in(locale: str, source: str) -> str:
    """The source of a default limit in the page's language."""
    if locale != "zh-CN":
        return source
    if source.startswith(_TENANT_SOURCE):
        return f"应用的政策 {source[len(_TENANT_SOURCE):]}"
    return _SOURCES_ZH.get(source, source)


def pick_locale(asked: str | None, fallback: str) -> str:
    """`asked` when it is a page language, else `fallback` when it is one, else zh-CN."""
    for candidate in (asked, fallback):
        if candidate in LOCALES:
            return candidate  # type: ignore[return-value]
    return DEFAULT_LOCALE
