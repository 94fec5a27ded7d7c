"""The one place where exceptions become RFC 9457 application/problem+json responses."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from service.attestation import InvalidAttestation
from service.domain import errors as domain
from service.kek import Undecryptable
from service.store.db import DatabaseUnavailable
from service.store.errors import Conflict, DeadlockRetriedOut, NotFound

log = logging.getLogger("agegate.api")

PROBLEM_TYPE = "urn:agegate:problem:"
RETRY_AFTER_SECONDS = "5"


def _facts(error: Exception) -> dict[str, Any]:
    """The machine-readable members an error adds to its problem, beyond detail."""
    if isinstance(error, domain.BannedCategory):
        return {"category": error.category, "bracket": error.bracket, "rule": error.rule, "basis": error.basis}
    if isinstance(error, domain.NotConsentable):
        return {"category": error.category, "bracket": error.bracket}
    if isinstance(error, domain.ConsentNotAllowed):
        return {"rule": error.rule}
    if isinstance(error, (domain.ImplausibleBirthDate, domain.InvalidResidentId)):
        return {"reason": error.reason}
    if isinstance(error, Conflict):
        return {"code": error.code}
    if hasattr(error, "reason") and isinstance(error.reason, str):
        return {"reason": error.reason}
    return {}


# error type -> (status, type slug, title); the first matching entry wins
_TABLE: list[tuple[type[Exception], int, str, str]] = [
    (domain.ImplausibleBirthDate, 422, "implausible-birth-date", "Implausible birth date"),
    (domain.InvalidResidentId, 422, "invalid-resident-id", "Invalid resident identity number"),
    (InvalidAttestation, 422, "invalid-attestation", "Invalid attestation"),
    (domain.BannedCategory, 422, "banned-category", "Category banned by law for this bracket"),
    (domain.NotConsentable, 422, "not-consentable", "Category not open to guardian consent"),
    (domain.ConsentNotAllowed, 422, "consent-not-allowed", "Consent not allowed"),
    (NotFound, 404, "not-found", "Not found"),
    (Conflict, 409, "conflict", "Conflict"),
    # a constraint a concurrent request won: the whole transaction was rolled back, retry
    (IntegrityError, 409, "concurrent-write", "Concurrent write"),
]


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def _unavailable() -> Response:
    response = problem(503, "unavailable", "Service unavailable", "the database is unreachable; retry shortly")
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _http(error: HTTPException) -> Response:
    original = error.get_response()
    slug = (error.name or "error").lower().replace(" ", "-")
    response = problem(error.code or 500, slug, error.name or "Error", error.description or "")
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in original.headers:
            response.headers[name] = original.headers[name]
    if error.code == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Bearer realm="agegate"'
    return response


def _validation(error: ValidationError) -> Response:
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return problem(422, "validation", "Invalid request", "the request body or query is invalid", errors=messages)


def _any(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http(error)
    if isinstance(error, ValidationError):
        return _validation(error)
    for error_type, status, slug, title in _TABLE:
        if isinstance(error, error_type):
            detail = "a concurrent request changed the same record; retry" if isinstance(error, IntegrityError) else str(error)
            return problem(status, slug, title, detail, **_facts(error))
    if isinstance(error, DeadlockRetriedOut):
        log.warning("deadlock_retried_out: %s", error)
        response = problem(503, "deadlock_retried_out", "Deadlock", f"{error}; nothing was written, retry")
        response.headers["Retry-After"] = "1"
        return response
    if isinstance(error, (DatabaseUnavailable, OperationalError, PoolTimeout)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        log.warning("database unavailable: %s", type(error).__name__)
        return _unavailable()
    if isinstance(error, Undecryptable):
        log.error("stored ciphertext failed to decrypt (%s): is AGEGATE_KEK the key it was written with?", error)
    else:
        # the class only: messages and bodies may carry personal data
        log.error("unhandled %s.%s", type(error).__module__, type(error).__qualname__)
    return problem(500, "internal", "Internal server error", "an unexpected error occurred")


def init_problems(app: Flask) -> None:
    app.register_error_handler(Exception, _any)
