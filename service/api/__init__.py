"""HTTP blueprints. Views reach the service through `service.runtime.current_runtime()`."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from service.api import audit, auth, consents, ops, subjects, tokens

    for blueprint in (
        auth.oauth_blueprint,
        ops.blueprint,
        subjects.blueprint,
        tokens.blueprint,
        consents.blueprint,
        audit.blueprint,
    ):
        app.register_blueprint(blueprint)
