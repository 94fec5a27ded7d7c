"""Field types shared by the blueprints' schemas."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from marshmallow import fields, validate

# Printable ASCII without space or '/': refs appear in URL paths and logs unescaped.
REF_PATTERN = r"\A[!-.0-~]{1,128}\Z"  # \Z: "$" would let a trailing newline through


def ref_field(**kwargs: object) -> fields.String:
    return fields.String(
        validate=validate.Regexp(REF_PATTERN, error="1 to 128 printable ASCII characters, no space or '/'"),
        **kwargs,  # type: ignore[arg-type]
    )


def is_ref(value: str) -> bool:
    return re.fullmatch(REF_PATTERN, value) is not None


class IsoDate(fields.Date):
    """A calendar date written exactly YYYY-MM-DD (strptime alone would take 2013-5-1)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is None:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time with an offset that is also a date-time in UTC: 9999-12-31T23:59:59-14:00
    is a valid string whose UTC instant lies in year 10000, past what Python (and so any reader
    of the stored value) can hold."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(timezone.utc)
        except OverflowError:
            raise self.make_error("invalid", obj_type=self.OBJ_TYPE) from None
