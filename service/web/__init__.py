"""The hosted guardian pages (CONTRACT §12): server-rendered Jinja2, no JavaScript needed.

`pages` holds the consent flow (code, choices, receipt), `manage` the guardian's page for a
child, `oidc` the optional real-name login. Every response of this blueprint carries the
headers of `security.page_headers`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request, session, url_for
from werkzeug.exceptions import HTTPException

from service.api.bodies import InputRefused
from service.domain.errors import DomainError
from service.runtime import Runtime
from service.store.errors import NotFound
from service.web import security
from service.web.render import message
from service.web.texts import LANGUAGE_NAMES, pick_locale

blueprint = Blueprint("guardian", __name__, template_folder="templates", static_folder="static", static_url_path="/guardian/static")
blueprint.after_request(security.page_headers)


@blueprint.app_template_global()
def lang_url(locale: str) -> str:
    """This page in another language (GET pages only; a form page links to its GET page)."""
    args = dict(request.view_args or {})
    endpoint = request.endpoint or ""
    if request.method != "GET":
        # by the URL, not the view's name: every form of the management page (withdraw,
        # controls) posts under /guardian/m/<token>, every form of the consent page under /r/
        rule = request.url_rule.rule if request.url_rule is not None else ""
        endpoint = "guardian.manage_page" if rule.startswith("/guardian/m/") else "guardian.consent_page"
    return url_for(endpoint, **args, lang=locale)


@blueprint.app_context_processor
def _page_context() -> dict[str, Any]:
    return {"csrf_token": security.csrf_token, "language_names": LANGUAGE_NAMES}


def _error_page(status: int, key: str) -> tuple[str, int]:
    return message(pick_locale(request.args.get("lang") or session.get("lang"), "zh-CN"), key, status)


@blueprint.errorhandler(NotFound)
def _not_found(_error: NotFound) -> tuple[str, int]:
    return _error_page(404, "error.unknown")


@blueprint.errorhandler(DomainError)
def _rules_changed(_error: DomainError) -> tuple[str, int]:
    # the rules were checked when the app asked; between then and the answer the child may
    # have had a birthday or the guardian been erased, and the law decides on the day of the answer
    return _error_page(422, "error.rules")


@blueprint.errorhandler(InputRefused)
def _refused(error: InputRefused) -> tuple[str, int]:
    # the edge refuses unstorable input before any view runs; a person gets the page's words
    return _error_page(error.status, "error.form")


@blueprint.errorhandler(security.CsrfFailed)
def _csrf(_error: security.CsrfFailed) -> tuple[str, int]:
    return _error_page(400, "error.form")


@blueprint.errorhandler(HTTPException)
def _http(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return _error_page(status, {404: "error.unknown", 410: "error.unknown", 429: "code.slow"}.get(status, "error.form"))


def init_web(app: Flask, runtime: Runtime) -> None:
    from service.web import manage, oidc, pages  # noqa: F401  (registers the views)

    security.init_session(app, runtime)
    oidc.init_oidc(app, runtime)
    app.register_blueprint(blueprint)

