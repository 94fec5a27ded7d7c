"""Optional guardian login at a real-name identity provider (OpenID Connect, Authlib's client).

Offered only when the service is configured with a provider (AGEGATE_GUARDIAN_OIDC) and the
app named the guardian's subject there (`guardian_idp_subject`). The id_token's signature,
issuer, audience, expiry and nonce are checked by Authlib; its `sub` must then be the
guardian the app named, or the page falls back to the code.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
import requests
from flask import Flask, current_app, redirect, session, url_for

from service.runtime import current_runtime
from service.guardian import requests as steps
from service.runtime import Runtime
from service.store.transactions import run_in_transaction
from service.store.errors import NotFound
from service.store.models import ConsentRequest
from service.web import blueprint
from service.web.render import message, page_locale

_NAME = "realname"
_TIMEOUT_SECONDS = 10


def init_oidc(app: Flask, runtime: Runtime) -> None:
    provider = runtime.settings.guardian_oidc
    if provider is None:
        return
    oauth = OAuth(app)
    oauth.register(
        _NAME,
        client_id=provider["client_id"],
        client_secret=provider["client_secret"],
        server_metadata_url=provider["issuer"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid", "default_timeout": _TIMEOUT_SECONDS},
    )
    app.extensions["agegate.guardian_oidc"] = oauth


def _client() -> Any:
    oauth = current_app.extensions.get("agegate.guardian_oidc")
    return None if oauth is None else oauth.create_client(_NAME)


def offered(record: ConsentRequest) -> bool:
    return record.idp_subject_hash is not None and _client() is not None


@blueprint.get("/guardian/r/<token>/oidc")
def oidc_start(token: str) -> Any:
    runtime = current_runtime()
    record = run_in_transaction(runtime.reads, lambda db: steps.find_by_link(db, runtime.deps, token))
    if record is None or not offered(record):
        raise NotFound("consent request", "link")
    session["oidc_link"] = token
    session.permanent = True
    return _client().authorize_redirect(f"{runtime.settings.issuer}/guardian/oidc/callback")


@blueprint.get("/guardian/oidc/callback")
def oidc_callback() -> Any:
    runtime = current_runtime()
    token = session.pop("oidc_link", None)
    record = None if token is None else run_in_transaction(runtime.reads, lambda db: steps.find_by_link(db, runtime.deps, token))
    if record is None:
        raise NotFound("consent request", "link")
    locale = page_locale(record.locale)
    try:  # the code exchange and the id_token check talk to the provider: no transaction is open
        subject = _client().authorize_access_token()["userinfo"]["sub"]
    except (OAuthError, requests.RequestException, KeyError, TypeError, ValueError):
        return message(locale, "oidc.failed", 403)
    if not steps.idp_subject_matches(runtime.deps, record, str(subject)):
        return message(locale, "oidc.failed", 403)
    session["proved"] = {**session.get("proved", {}), record.request_id: "oidc"}
    return redirect(url_for("guardian.consent_page", token=token), 303)
