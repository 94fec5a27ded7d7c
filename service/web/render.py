"""Rendering a guardian page in the language the guardian reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template, request, session

from service.web.texts import pick_locale, words


def page_locale(fallback: str) -> str:
    """The page language: ?lang= (remembered for the session), else the session's, else `fallback`."""
    asked = request.args.get("lang")
    if asked is not None:
        chosen = pick_locale(asked, fallback)
        session["lang"] = chosen
        return chosen
    return pick_locale(session.get("lang"), fallback)


def render(template: str, locale: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, locale=locale, t=words(locale), **context), status


def message(locale: str, key: str, status: int) -> tuple[str, int]:
    """A page that only says `key` (an expired link, a locked request, ...)."""
    return render("guardian/message.html", locale, status, title_key="title.error", message_key=key)


def local_time(at: datetime, tz: ZoneInfo) -> str:
    """An instant as the guardian reads it: the service's civil time, with its UTC offset."""
    local = at.astimezone(tz)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M") + f" (UTC{offset[:3]}:{offset[3:]})"
