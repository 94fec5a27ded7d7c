"""The Idempotency-Key header of a write request, validated, with the digest of the request
it came with (CONTRACT §7): one key, one answer; the same key with another request is refused."""

from __future__ import annotations

import hashlib

from flask import g, request
from marshmallow import ValidationError, validate

from service.flows.idempotency import IdempotencyKey

_KEY = validate.Regexp(r"\A[!-~]{1,200}\Z")


def idempotency_key() -> IdempotencyKey | None:
    """The request's Idempotency-Key with the digest of its method, path and body, if it has one;
    a malformed key is a ValidationError on `Idempotency-Key`."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    try:
        _KEY(key)
    except ValidationError as error:
        raise ValidationError({"Idempotency-Key": error.messages}) from None
    request_hash = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + request.get_data()).hexdigest()
    return IdempotencyKey(g.caller.client_id, key, request_hash)
