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


def words(locale: str) -> Mapping[str, str]:
    return _WORDS.get(locale, _ZH)


def basis_in(locale: str, basis: str) -> str:
    if locale == "zh-CN":
        return _BASES_ZH.get(basis, basis)
    return basis


def pick_locale(asked: str | None, fallback: str) -> str:
    """`asked` when it is a page language, else `fallback` when it is one, else zh-CN."""
    for candidate in (asked, fallback):
        if candidate in LOCALES:
            return candidate  # type: ignore[return-value]
    return DEFAULT_LOCALE
