"""The one place where exceptions become RFC 9457 application/problem+json responses."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from marshmallow import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from service.api.bodies import InputRefused
from service.attestation import InvalidAttestation
from service.domain import errors as domain
from service.kek import Undecryptable
from service.store.db import DatabaseUnavailable
from service.store.errors import Conflict, DeadlockRetriedOut, NotFound

log = logging.getLogger("agegate.api")

PROBLEM_TYPE = "urn:agegate:problem:"


class DatabaseFailure:
    """What went wrong with the database, named for the caller (problem `type`), the operator
    (the log line starts with the same name) and the client's retry (Retry-After seconds).
    Spelt with underscores: they are the names operators grep for in logs and problems alike."""

    UNAVAILABLE = ("database_unavailable", "Database unavailable", "the database is unreachable; retry shortly", 5)
    TIMEOUT = ("database_timeout", "Database timeout", "the database did not answer in time; retry shortly", 5)
    DEADLOCK = (
        "deadlock_retried_out",
        "Deadlock",
        "the database aborted the transaction to break a deadlock with a concurrent request; nothing was written, retry",
        1,
    )
    DISK_FULL = ("disk_full", "Database disk full", "the database has no space left for this write; nothing was written", 30)
    WRITE_FAILED = ("write_failed", "Database write failed", "the database could not complete this write; nothing was written", 5)


# PostgreSQL SQLSTATE -> failure (exact codes first, then two-character classes)
_SQLSTATES = {
    "40P01": DatabaseFailure.DEADLOCK,  # deadlock_detected
    "40001": DatabaseFailure.DEADLOCK,  # serialization_failure
    "57014": DatabaseFailure.TIMEOUT,  # query_canceled: statement_timeout
    "55P03": DatabaseFailure.TIMEOUT,  # lock_not_available: lock_timeout
    "53100": DatabaseFailure.DISK_FULL,
    "53300": DatabaseFailure.UNAVAILABLE,  # too_many_connections
    "25006": DatabaseFailure.WRITE_FAILED,  # read_only_sql_transaction: a standby after failover
    "58030": DatabaseFailure.WRITE_FAILED,  # io_error
}
_SQLSTATE_CLASSES = {
    "08": DatabaseFailure.UNAVAILABLE,  # connection exception
    "57": DatabaseFailure.UNAVAILABLE,  # operator intervention: shutdown, crash, cannot connect now
    "53": DatabaseFailure.WRITE_FAILED,  # insufficient resources
    "58": DatabaseFailure.WRITE_FAILED,  # system error
}
# SQLite primary result codes (sqlite3 errors carry sqlite_errorname)
_SQLITE = {
    "SQLITE_FULL": DatabaseFailure.DISK_FULL,
    "SQLITE_IOERR": DatabaseFailure.WRITE_FAILED,
    "SQLITE_READONLY": DatabaseFailure.WRITE_FAILED,
    "SQLITE_BUSY": DatabaseFailure.TIMEOUT,
    "SQLITE_LOCKED": DatabaseFailure.TIMEOUT,
}


def database_failure(error: BaseException) -> tuple[str, str, str, int] | None:
    """The failure a database error stands for, or None when it is not one of them."""
    if isinstance(error, DeadlockRetriedOut):
        return DatabaseFailure.DEADLOCK
    if isinstance(error, (DatabaseUnavailable, PoolTimeout)):
        return DatabaseFailure.UNAVAILABLE
    if not isinstance(error, DBAPIError) or isinstance(error, (IntegrityError, DataError)):
        return None
    driver_error = error.orig
    sqlstate = getattr(driver_error, "sqlstate", None)
    if sqlstate:
        found = _SQLSTATES.get(sqlstate) or _SQLSTATE_CLASSES.get(sqlstate[:2])
        if found:
            return found
    sqlite_name = getattr(driver_error, "sqlite_errorname", None)
    if sqlite_name:
        found = _SQLITE.get("_".join(sqlite_name.split("_")[:2]))  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
        if found:
            return found
    if isinstance(error, OperationalError) or error.connection_invalidated:
        return DatabaseFailure.UNAVAILABLE
    return None


def _database_problem(error: BaseException, failure: tuple[str, str, str, int]) -> Response:
    name, title, detail, retry_after = failure
    cause = getattr(error, "orig", None) or error  # the driver's error, when SQLAlchemy wrapped one
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None)
    # The name first, so operators can grep for it; the class and code, never the statement
    # or its parameters (they may carry personal data).
    log.warning("%s: %s%s", name, type(cause).__name__, f" ({code})" if code else "")
    response = problem(503, name, title, detail)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _facts(error: Exception) -> dict[str, Any]:
    """The machine-readable members an error adds to its problem, beyond detail."""
    if isinstance(error, domain.BannedCategory):
        return {"category": error.category, "bracket": error.bracket, "rule": error.rule, "basis": error.basis}
    if isinstance(error, domain.NotConsentable):
        return {"category": error.category, "bracket": error.bracket}
    if isinstance(error, domain.ConsentNotAllowed):
        return {"rule": error.rule}
    if isinstance(error, domain.AudienceOfAnotherTenant):
        return {"audience": error.audience}
    if isinstance(error, (domain.ImplausibleBirthDate, domain.InvalidResidentId)):
        return {"reason": error.reason}
    if isinstance(error, domain.LimitLoosened):
        return {"limit": error.limit, "allowed": error.allowed}
    if isinstance(error, domain.PolicyLoosened):
        return {"where": error.where}
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
    (domain.LimitLoosened, 422, "limit-loosened", "Limit looser than the default in force"),
    (domain.PolicyLoosened, 422, "policy-loosened", "Override would loosen the policy"),
    (domain.PolicyInvalid, 422, "policy-invalid", "Malformed policy or controls"),
    (domain.AudienceOfAnotherTenant, 422, "audience-of-another-tenant", "Audience of another tenant"),
    (domain.InvalidDuration, 422, "invalid-duration", "Invalid clock advance"),
    (domain.SandboxOnly, 403, "sandbox-only", "For sandbox tenants only"),
    (NotFound, 404, "not-found", "Not found"),
    (Conflict, 409, "conflict", "Conflict"),
    # a constraint a concurrent request won: the whole transaction was rolled back, retry
    (IntegrityError, 409, "concurrent-write", "Concurrent write"),
]


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


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


def _refused(error: InputRefused) -> Response:
    # The token endpoint's clients read RFC 6749 §5.2 members; invalid_request is its word for this.
    oauth = {"error": "invalid_request", "error_description": str(error)} if request.path == "/oauth/token" else {}
    return problem(error.status, "invalid-input", "Invalid input", str(error), errors=error.errors, **oauth)


def _any(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http(error)
    if isinstance(error, ValidationError):
        return _validation(error)
    if isinstance(error, InputRefused):
        return _refused(error)
    for error_type, status, slug, title in _TABLE:
        if isinstance(error, error_type):
            detail = "a concurrent request changed the same record; retry" if isinstance(error, IntegrityError) else str(error)
            return problem(status, slug, title, detail, **_facts(error))
    failure = database_failure(error)
    if failure is not None:
        return _database_problem(error, failure)
    if isinstance(error, DataError):
        # a value the database refused (out of range, bad characters) that validation let by
        log.warning("value refused by the database: %s (%s)", type(error.orig).__name__, getattr(error.orig, "sqlstate", ""))
        return problem(422, "invalid-value", "Invalid value", "a value in the request is out of the range the service stores")
    if isinstance(error, OverflowError) or (isinstance(error, StatementError) and isinstance(error.orig, OverflowError)):
        # date arithmetic past year 9999 (e.g. an expiry at 9999-12-31 in UTC-14)
        return problem(422, "invalid-value", "Invalid value", "a date or number in the request is out of range")
    if isinstance(error, Undecryptable):
        log.error("stored ciphertext failed to decrypt (%s): is AGEGATE_KEK the key it was written with?", error)
    else:
        # the class only: messages and bodies may carry personal data
        log.error("unhandled %s.%s", type(error).__module__, type(error).__qualname__)
    return problem(500, "internal", "Internal server error", "an unexpected error occurred")


def init_problems(app: Flask) -> None:
    app.register_error_handler(Exception, _any)
