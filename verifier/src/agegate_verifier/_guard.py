"""What the WSGI and ASGI guards share: reading the token and the problem+json answers."""

from __future__ import annotations

import json

from ._claims import Decision

#: Where an allowing ``Decision`` is handed to the application (WSGI environ, ASGI scope).
DECISION_KEY = "agegate.decision"

Headers = list[tuple[str, str]]


def token_from(value: str | None, header: str) -> str | None:
    """The token in a header's ``value``: ``Bearer <token>`` for Authorization, else the value."""
    if not value:
        return None
    if header.lower() != "authorization":
        return value.strip() or None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _problem(status: int, title: str, body: dict[str, str], headers: Headers) -> tuple[int, Headers, bytes]:
    payload = json.dumps({"type": "about:blank", "title": title, "status": status, **body}).encode()
    return status, [("Content-Type", "application/problem+json"), ("Content-Length", str(len(payload))), *headers], payload


def missing_token(header: str) -> tuple[int, Headers, bytes]:
    """401 naming the header the token was expected in."""
    challenge = [("WWW-Authenticate", "Bearer")] if header.lower() == "authorization" else []
    detail = {"detail": f"an age token is required in {header}", "reason": "missing_token"}
    return _problem(401, "Unauthorized", detail, challenge)


def refused(feature: str, decision: Decision) -> tuple[int, Headers, bytes]:
    """403 naming the feature, the decision and its reason."""
    reason = decision.reason or decision.decision
    detail = {"detail": f"{feature}: {reason}", "feature": feature, "decision": decision.decision, "reason": reason}
    return _problem(403, "Forbidden", detail, [])
