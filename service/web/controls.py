"""The guardian controls on the management page (CONTRACT §13): the form's fields, read into
the document `PUT /v1/subjects/{child_ref}/controls` takes, and what the page shows of a
`ControlsView`.

No rule lives here: whether a value loosens a default is the controls flow's to decide
(LimitLoosened); this module only turns form text into numbers and clock times, and a
refusal into the page's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.errors import LimitLoosened
from service.domain.limits import NUMERIC_LIMITS
from service.domain.policy import Policy
from service.domain.policy_sections import LimitBand
from service.flows.controls import ControlsView
from service.web.render import local_time
from service.web.texts import source_in, words

_WHOLE_NUMBER = re.compile(r"\A\d{1,7}\Z")  # the API takes at most 1,000,000; the flow refuses above the default
_CLOCK_TIME = re.compile(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z")
_SHOWN = ("daily_minutes", "curfew", "single_payment_max_cny", "monthly_payment_max_cny")
_UNITS = {"daily_minutes": "controls.minutes", "single_payment_max_cny": "controls.cny", "monthly_payment_max_cny": "controls.cny"}


@dataclass(frozen=True)
class ControlsForm:
    """The form as the guardian filled it: text per field ("" leaves a default as it is)."""

    values: Mapping[str, str]  # NUMERIC_LIMITS, curfew_start, curfew_end
    blocked: frozenset[str]


def form_of(view: ControlsView) -> ControlsForm:
    """The form filled with the controls the guardians set (not the defaults they left)."""
    document = view.controls.limits.as_document()
    values = {name: str(document.get(name, "")) for name in NUMERIC_LIMITS}
    curfew = document.get("curfew", {})
    values.update(curfew_start=curfew.get("start", ""), curfew_end=curfew.get("end", ""))
    return ControlsForm(values, view.controls.blocked_categories)


def read_form(form: Mapping[str, str], blocked: Iterable[str]) -> ControlsForm:
    names = (*NUMERIC_LIMITS, "curfew_start", "curfew_end")
    return ControlsForm({name: form.get(name, "").strip() for name in names}, frozenset(blocked))


def controls_document(form: ControlsForm, locale: str) -> tuple[dict[str, Any], list[str]]:
    """(the controls document, []) or ({}, what is wrong in the page's words). Unknown
    categories are left for the flow to refuse."""
    t = words(locale)
    document: dict[str, Any] = {}
    errors: list[str] = []
    for name in NUMERIC_LIMITS:
        text = form.values.get(name, "")
        if text == "":
            continue
        if _WHOLE_NUMBER.match(text):
            document[name] = int(text)
        else:
            errors.append(t["controls.number"].format(limit=t[f"controls.{name}"]))
    start, end = form.values.get("curfew_start", ""), form.values.get("curfew_end", "")
    if start or end:
        if _CLOCK_TIME.match(start) and _CLOCK_TIME.match(end):
            document["curfew"] = {"start": start, "end": end}
        else:
            errors.append(t["controls.curfew_both"])
    document["blocked_categories"] = sorted(form.blocked)
    return ({}, errors) if errors else (document, [])


def refusal(error: LimitLoosened, defaults: LimitBand | None, locale: str) -> str:
    """The flow's LimitLoosened in the page's words, naming the limit and the default it may not pass."""
    t = words(locale)
    if error.limit == "curfew" and defaults is not None:
        curfew = defaults.curfew.value
        return t["controls.loosened_curfew"].format(start=curfew.start, end=curfew.end)
    unit = _UNITS.get(error.limit)
    allowed = t[unit].format(n=error.allowed) if unit else error.allowed
    return t["controls.loosened"].format(limit=t.get(f"controls.{error.limit}", error.limit), allowed=allowed)


def shown(
    view: ControlsView,
    guardian_ref: str,
    policy: Policy,
    locale: str,
    tz: ZoneInfo,
    *,
    form: ControlsForm | None = None,
    errors: Iterable[str] = (),
    saved: bool = False,
) -> dict[str, Any]:
    """What guardian/controls.html shows: the limits in force, the defaults of the child's age
    band with their sources, and the form (as the guardian filled it when it was refused)."""
    t = words(locale)
    form = form or form_of(view)
    context: dict[str, Any] = {
        "saved": saved,
        "errors": list(errors),
        "form": form,
        "categories": [{"id": c, "title": policy.category_text(c, locale).title} for c in policy.categories],
        "blocked_titles": [policy.category_text(c, locale).title for c in sorted(view.controls.blocked_categories)],
        "set_at": None if view.set_at is None else local_time(view.set_at, tz),
        "set_by_other": view.set_by is not None and view.set_by != guardian_ref,
        "in_force": [],
        "defaults": [],
        "band": None,
    }
    if view.limits is not None:
        claim = view.limits.as_claim()
        context["in_force"] = [{"label": t[f"controls.{name}"], "value": _value(name, claim[name], t)} for name in _SHOWN]
    if view.defaults is not None:
        band = view.defaults
        context["band"] = {"min_age": band.min_age, "max_age": band.max_age}
        context["defaults"] = [
            {
                "label": t[f"controls.{name}"],
                "value": _value(name, getattr(band, name).value, t),
                "source": source_in(locale, getattr(band, name).source),
                "draft": getattr(band, name).draft,
            }
            for name in _SHOWN
        ]
    return context


def _value(name: str, value: Any, t: Mapping[str, str]) -> str:
    if name == "curfew":
        curfew = value if isinstance(value, dict) else value.as_claim()
        if curfew["start"] == curfew["end"]:
            return t["controls.all_day"]
        return t["controls.span"].format(start=curfew["start"], end=curfew["end"])
    return t[_UNITS[name]].format(n=value)
