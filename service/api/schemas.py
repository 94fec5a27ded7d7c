"""Field types shared by the blueprints' schemas."""

from __future__ import annotations

from marshmallow import fields, validate

# Printable ASCII without space or '/': refs appear in URL paths and logs unescaped.
REF_PATTERN = r"\A[!-.0-~]{1,128}\Z"  # \Z: "$" would let a trailing newline through


def ref_field(**kwargs: object) -> fields.String:
    return fields.String(
        validate=validate.Regexp(REF_PATTERN, error="1 to 128 printable ASCII characters, no space or '/'"),
        **kwargs,  # type: ignore[arg-type]
    )


def is_ref(value: str) -> bool:
    import re

    return re.fullmatch(REF_PATTERN, value) is not None
