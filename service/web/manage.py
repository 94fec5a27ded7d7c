"""The guardian's page for one child: consents in force and their withdrawal (CONTRACT §12),
and the child's guardian controls (CONTRACT §13).

Opened by a bounded-time management link (from the receipt, or re-issued by the app with
POST /v1/consent-requests/{id}/manage-link). Withdrawing takes two clicks, the same as
granting did: the button, then the confirmation. Controls are one form; the controls flow
decides, exactly as for PUT /v1/subjects/{child_ref}/controls, and a refusal is shown on the
page with the form as the guardian filled it.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, session, url_for

from service.runtime import current_runtime
from service.domain.consent import ConsentStatus
from service.domain.errors import LimitLoosened, PolicyInvalid
from service.guardian import requests as steps
from service.guardian.manage import change_controls, child_controls, withdraw
from service.store import consent_requests as store
from service.store import consents as consent_store
from service.store.transactions import run_in_transaction
from service.store.errors import NotFound
from service.store.models import ManageLink
from service.web import blueprint
from service.web import controls as controls_page
from service.web.pages import tenant_setup
from service.web.render import local_time, page_locale, render
from service.web.security import check_csrf
from service.web.texts import words


def _link(db: Any, token: str) -> ManageLink:
    link = steps.find_manage_link(db, current_runtime().deps, token)
    if link is None:
        raise NotFound("management link", "link")
    return link


def _active(db: Any, link: ManageLink) -> list[consent_store.ConsentRecord]:
    now = current_runtime().for_tenant(link.tenant, db).clock()  # a sandbox tenant's clock
    records = consent_store.for_child(db, link.tenant, link.child_ref, now)
    return [r for r in records if r.status is ConsentStatus.ACTIVE and r.consent.guardian_ref == link.guardian_ref]


def _shown(record: consent_store.ConsentRecord, locale: str) -> dict[str, Any]:
    runtime = current_runtime()
    return {
        "consent_id": record.consent.consent_id,
        "titles": [runtime.policy.category_text(c, locale).title for c in record.scopes],
        "granted_at": local_time(record.consent.granted_at, runtime.settings.timezone),
    }


def _child_label(db: Any, link: ManageLink) -> str:
    return steps.child_label(current_runtime().deps, store.get(db, link.tenant, link.request_id))


def _manage(db: Any, token: str, link: ManageLink, status: int = 200, **controls: Any) -> tuple[str, int]:
    """The management page; `controls` as `web.controls.shown` takes them (a refused form, its errors)."""
    runtime = current_runtime()
    tenant_runtime = runtime.for_tenant(link.tenant, db)  # a sandbox tenant's clock
    locale = page_locale(store.get(db, link.tenant, link.request_id).locale)
    tenant_name = tenant_setup(db, link.tenant)
    view = child_controls(db, tenant_runtime.deps, link)
    return render(
        "guardian/manage.html",
        locale,
        status,
        token=token,
        tenant_name=tenant_name,
        child_label=_child_label(db, link),
        consents=[_shown(r, locale) for r in _active(db, link)],
        withdrawn=session.pop("withdrawn", False),
        controls=controls_page.shown(
            view, link.guardian_ref, runtime.policy, locale, runtime.settings.timezone, saved=session.pop("controls_saved", False), **controls
        ),
    )


@blueprint.get("/guardian/m/<token>")
def manage_page(token: str) -> Any:
    return run_in_transaction(current_runtime().reads, lambda db: _manage(db, token, _link(db, token)))


@blueprint.post("/guardian/m/<token>/withdraw")
def withdraw_consent(token: str) -> Any:
    """First post: the confirmation page. Second post (confirm=yes): the withdrawal."""
    check_csrf(request.form.get("csrf"))
    runtime = current_runtime()
    consent_id = request.form.get("consent_id", "")

    def confirm_or_withdraw(db: Any) -> Any:
        link = _link(db, token)
        locale = page_locale(store.get(db, link.tenant, link.request_id).locale)
        tenant_name = tenant_setup(db, link.tenant)
        chosen = next((r for r in _active(db, link) if r.consent.consent_id == consent_id), None)
        if chosen is None:
            raise NotFound("consent", "chosen")
        if request.form.get("confirm") != "yes":
            consent = _shown(chosen, locale)
            return render("guardian/withdraw.html", locale, token=token, tenant_name=tenant_name, child_label=_child_label(db, link), consent=consent)
        withdraw(db, runtime.for_tenant(link.tenant, db).deps, link, consent_id)
        return None

    confirmation = run_in_transaction(runtime.sessions, confirm_or_withdraw)
    if confirmation is not None:
        return confirmation
    session["withdrawn"] = True
    return redirect(url_for("guardian.manage_page", token=token), 303)


@blueprint.post("/guardian/m/<token>/controls")
def set_child_controls(token: str) -> Any:
    """Replace the child's controls through the controls flow (logged as `controls_changed`,
    the child's live tokens revoked, `controls.changed` offered to webhooks), then 303 back to
    the page; a refusal is the page again, 422, naming the limit."""
    check_csrf(request.form.get("csrf"))
    runtime = current_runtime()
    form = controls_page.read_form(request.form, request.form.getlist("blocked"))

    def change(db: Any) -> Any:
        link = _link(db, token)
        locale = page_locale(store.get(db, link.tenant, link.request_id).locale)
        document, errors = controls_page.controls_document(form, locale)
        if errors:
            return _manage(db, token, link, 422, form=form, errors=errors)
        deps = runtime.for_tenant(link.tenant, db).deps  # a sandbox tenant's clock
        try:
            # a savepoint, so a refusal leaves nothing of the step behind and the page that
            # says why can still be read in this same transaction
            with db.begin_nested():
                change_controls(db, deps, link, document)
        except LimitLoosened as loosened:
            defaults = child_controls(db, deps, link).defaults
            return _manage(db, token, link, 422, form=form, errors=[controls_page.refusal(loosened, defaults, locale)])
        except PolicyInvalid:
            # only a hand-made form gets here (an unknown category, a malformed value)
            return _manage(db, token, link, 422, form=form, errors=[words(locale)["controls.invalid"]])
        return None

    refusal = run_in_transaction(runtime.sessions, change)
    if refusal is not None:
        return refusal
    session["controls_saved"] = True
    return redirect(url_for("guardian.manage_page", token=token, _anchor="controls"), 303)
