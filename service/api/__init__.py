"""HTTP blueprints, and the runtime parts they share."""

from __future__ import annotations

from flask import Flask, current_app

from service.runtime import Runtime


def current_runtime() -> Runtime:
    """The Runtime of the app handling the current request."""
    return current_app.extensions["agegate"]  # type: ignore[no-any-return]


def _build_parts(runtime: Runtime) -> None:
    """Per-process helpers: the signing keyring, the online verifiers, the attestation checker."""
    from service.attestation import AttestationVerifier
    from service.tokens.keys import Keyring
    from service.tokens.online import DatabaseStatuses, KeyringKeys, OnlineVerifiers

    parts = runtime.parts
    settings = runtime.settings
    parts.setdefault("keyring", Keyring(runtime.sessions, runtime.kek, runtime.clock))
    parts.setdefault(
        "online_verifier",
        OnlineVerifiers(
            settings.issuer,
            KeyringKeys(parts["keyring"]),
            DatabaseStatuses(runtime.reads, settings.issuer),
            runtime.clock,
        ),
    )
    parts.setdefault(
        "attestation",
        AttestationVerifier(dict(settings.attesters), audience=settings.issuer, clock=lambda: runtime.clock().timestamp()),
    )


def register_blueprints(app: Flask, runtime: Runtime) -> None:
    from service.api import audit, auth, consents, ops, subjects, tokens

    _build_parts(runtime)
    for blueprint in (
        auth.oauth_blueprint,
        ops.blueprint,
        subjects.blueprint,
        tokens.blueprint,
        consents.blueprint,
        audit.blueprint,
    ):
        app.register_blueprint(blueprint)
