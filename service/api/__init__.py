"""HTTP blueprints. Views reach the service through `service.runtime.current_runtime()`."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from service import docs
    from service.api import (
        audit, auth, consent_requests, consents, controls, deletions, ops, reports, sandbox_clock, subjects, tokens,
        webhooks,
    )
    from service.api import sandbox_identities, sandbox_requests

    for blueprint in (
        auth.oauth_blueprint,
        ops.blueprint,
        subjects.blueprint,
        tokens.blueprint,
        consents.blueprint,
        controls.blueprint,
        consent_requests.blueprint,
        audit.blueprint,
        webhooks.blueprint,
        deletions.blueprint,
        reports.blueprint,
        sandbox_clock.blueprint,
        sandbox_requests.blueprint,
        sandbox_identities.blueprint,
        docs.blueprint,
    ):
        app.register_blueprint(blueprint)
