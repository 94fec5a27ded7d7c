"""The guardian's consent pages: code, choices, receipt (CONTRACT §12).

Server-rendered, no JavaScript. The URL carries only the opaque link token; what this
browser proved (the code, or the identity provider's login) lives in the session cookie.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import segno
from flask import Response, abort, g, redirect, request, session, url_for

from service.api.ratelimits import GUARDIAN_CODE_PER_ADDRESS, RateLimit, by_address, rate_limited
from service.runtime import current_runtime
from service.store.keys import PRODUCTION, SANDBOX
from service.domain.brackets import bracket_at
from service.guardian import requests as steps
from service.guardian.receipts import read_receipt
from service.store import consent_requests as store
from service.store import subjects as subject_store
from service.store.transactions import run_in_transaction
from service.store.errors import NotFound
from service.store.models import ConsentRequest
from service.web import blueprint, oidc
from service.web.render import local_time, message, page_locale, render
from service.web.security import check_csrf
from service.web.texts import basis_in, words

_CODE = re.compile(r"\A\s*(\d{6})\s*\Z")


def tenant_setup(session_: Any, tenant: str) -> str:
    """The tenant's display name; also lets the response name the origins that may frame it."""
    page = store.tenant_page(session_, tenant)
    g.frame_origins = tuple(page.frame_origins.split()) if page is not None else ()
    return page.display_name if page is not None else tenant


def _load(session_: Any, token: str, *, for_update: bool = False) -> ConsentRequest:
    found = steps.find_by_link(session_, current_runtime().deps, token, for_update=for_update)
    if found is None:
        raise NotFound("consent request", "link")
    return found


def _proved(request_id: str) -> str | None:
    """How this browser proved it is the guardian of `request_id` (None if it did not)."""
    return session.get("proved", {}).get(request_id)


def _categories(runtime: Any, session_: Any, record: ConsentRequest, locale: str) -> list[dict[str, str]]:
    """Each asked category in plain words, with the basis of its rule for the child's bracket."""
    policy = runtime.policy
    child = subject_store.get_subject(session_, record.tenant, record.child_ref)
    bracket = bracket_at(subject_store.birth_date_of(runtime.kek, child), runtime.clock(), runtime.settings.timezone)
    shown = []
    for category in record.scopes.split():
        text = policy.category_text(category, locale)
        rule = policy.rules[bracket][category]
        shown.append({"id": category, "title": text.title, "explanation": text.explanation, "basis": basis_in(locale, rule.basis)})
    return shown


def _context(runtime: Any, db: Any, record: ConsentRequest, token: str, *, choices: bool) -> dict[str, Any]:
    """What the code page (choices=False) or the choices page shows of the request."""
    context = {
        "token": token,
        "tenant_name": tenant_setup(db, record.tenant),
        "child_label": steps.child_label(runtime.deps, record),
        "expires_at": local_time(record.expires_at, runtime.settings.timezone),
    }
    if choices:
        locale = page_locale(record.locale)
        context.update(
            categories=_categories(runtime, db, record, locale), notice_version=record.notice_version, notice_url=record.notice_url
        )
    else:
        context["oidc_offered"] = oidc.offered(record)
    return context


def _closed(locale: str, state: str) -> tuple[str, int]:
    key = {"expired": "error.expired", "locked": "error.locked", "completed": "error.completed"}[state]
    return message(locale, key, 410 if state == "expired" else 403 if state == "locked" else 409)


@blueprint.get("/guardian/r/<token>")
def consent_page(token: str) -> Any:
    runtime = current_runtime()

    def show(db: Any) -> Any:
        record = _load(db, token)
        runtime = current_runtime().for_tenant(record.tenant, db)  # a sandbox tenant's clock
        locale = page_locale(record.locale)
        tenant_setup(db, record.tenant)
        state = store.state_at(record, runtime.clock())
        if state == store.COMPLETED and _proved(record.request_id):
            return redirect(url_for("guardian.receipt_page", token=token), 303)
        if state != store.PENDING:
            return _closed(locale, state)
        if not _proved(record.request_id):
            return render("guardian/code.html", locale, **_context(runtime, db, record, token, choices=False))
        return render("guardian/consent.html", locale, **_context(runtime, db, record, token, choices=True))

    return run_in_transaction(runtime.reads, show)


@blueprint.post("/guardian/r/<token>/code")
@rate_limited(RateLimit(GUARDIAN_CODE_PER_ADDRESS, by_address, "guardian-code"))
def enter_code(token: str) -> Any:
    check_csrf(request.form.get("csrf"))
    runtime = current_runtime()

    def check(db: Any) -> tuple[str, Any]:
        record = _load(db, token, for_update=True)
        runtime = current_runtime().for_tenant(record.tenant, db)  # a sandbox tenant's clock
        locale = page_locale(record.locale)
        matched = _CODE.match(request.form.get("code", ""))
        outcome = None if matched is None else steps.enter_code(db, runtime.deps, record, matched.group(1))
        if outcome is not None and outcome.accepted:
            return record.request_id, None
        state = store.state_at(record, runtime.clock())
        if state != store.PENDING:
            return record.request_id, _closed(locale, state)
        t = words(locale)
        error = t["code.format"] if outcome is None else t["code.wrong"].format(left=outcome.attempts_left)
        return record.request_id, render("guardian/code.html", locale, 422, error=error, **_context(runtime, db, record, token, choices=False))

    # committed either way: a wrong code is counted even though the answer is an error page
    request_id, refusal = run_in_transaction(runtime.sessions, check)
    if refusal is not None:
        return refusal
    session["proved"] = {**session.get("proved", {}), request_id: "guardian_code"}
    session.permanent = True
    return redirect(url_for("guardian.consent_page", token=token), 303)


@blueprint.post("/guardian/r/<token>/answer")
def answer(token: str) -> Any:
    check_csrf(request.form.get("csrf"))
    runtime = current_runtime()
    # before the write transaction (the keyring reads in its own): the realm's key signs the
    # receipt, a sandbox tenant's with the sandbox key as `<issuer>/sandbox` (CONTRACT §15)
    keys = {PRODUCTION: runtime.keyring.snapshot(), SANDBOX: runtime.sandbox_keyring.snapshot()}

    def record_answer(db: Any) -> tuple[Any, Any]:
        """(the page that says why not, None), or (None, (request_id, manage token, until))."""
        record = _load(db, token, for_update=True)
        runtime = current_runtime().for_tenant(record.tenant, db)  # a sandbox tenant's clock
        locale = page_locale(record.locale)
        tenant_setup(db, record.tenant)
        state = store.state_at(record, runtime.clock())
        if state != store.PENDING:
            return _closed(locale, state), None
        method = _proved(record.request_id)
        if method is None:
            return message(locale, "error.session", 403), None
        asked = record.scopes.split()
        choices = {category: request.form.get(f"choice-{category}") for category in asked}
        errors = []
        if any(choice not in ("allow", "refuse") for choice in choices.values()):
            errors.append(words(locale)["consent.choose"])
        if request.form.get("confirm") != "yes":
            errors.append(words(locale)["consent.confirm_missing"])
        if errors:
            context = _context(runtime, db, record, token, choices=True)
            return render("guardian/consent.html", locale, 422, choices=choices, errors=errors, **context), None
        allowed = tuple(c for c in asked if choices[c] == "allow")
        refused = tuple(c for c in asked if choices[c] == "refuse")
        # the link before the answer: the answer takes the tenant's log head, held to the commit
        manage_link = steps.issue_manage_link(db, runtime.deps, record)
        steps.answer_request(db, runtime.deps, record, steps.Answer(allowed, refused, method), keys[runtime.realm])
        return None, (record.request_id, *manage_link)

    refusal, done = run_in_transaction(runtime.sessions, record_answer)
    if refusal is not None:
        return refusal
    request_id, manage_token, manage_until = done
    session["manage"] = {**session.get("manage", {}), request_id: [manage_token, manage_until.isoformat()]}
    return redirect(url_for("guardian.receipt_page", token=token), 303)


def _answered(db: Any, token: str) -> ConsentRequest:
    record = _load(db, token)
    if record.state != store.COMPLETED or not _proved(record.request_id):
        abort(404)
    return record


@blueprint.get("/guardian/r/<token>/receipt")
def receipt_page(token: str) -> Any:
    runtime = current_runtime()
    jwks = {PRODUCTION: runtime.keyring.snapshot().jwks, SANDBOX: runtime.sandbox_keyring.snapshot().jwks}

    def show(db: Any) -> Any:
        record = _answered(db, token)
        realm = runtime.for_tenant(record.tenant, db)  # a sandbox tenant's receipts are the sandbox issuer's
        locale = page_locale(record.locale)
        tenant_name = tenant_setup(db, record.tenant)
        policy, tz = runtime.policy, runtime.settings.timezone
        claims = read_receipt(record.receipt or "", jwks[realm.realm], realm.token_issuer)
        titles = {c: policy.category_text(c, locale).title for c in record.scopes.split()}
        manage_token, manage_until = session.get("manage", {}).get(record.request_id, (None, None))
        return render(
            "guardian/receipt.html",
            locale,
            token=token,
            tenant_name=tenant_name,
            child_label=steps.child_label(runtime.deps, record),
            allowed=[titles[c] for c in claims["granted"]],
            refused=[titles[c] for c in claims["declined"]],
            recorded_at=local_time(record.answered_at, tz) if record.answered_at else "",
            log=claims["log"],
            manage_token=manage_token,
            manage_until=None if manage_until is None else local_time(datetime.fromisoformat(manage_until), tz),
        )

    return run_in_transaction(runtime.reads, show)


@blueprint.get("/guardian/r/<token>/receipt.jwt")
def receipt_file(token: str) -> Response:
    runtime = current_runtime()
    record = run_in_transaction(runtime.reads, lambda db: _answered(db, token))
    body = (record.receipt or "") + "\n"
    name = f"consent-receipt-{record.request_id}.jwt"
    return Response(body, mimetype="application/jwt", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blueprint.get("/guardian/r/<token>/qr.svg")
def qr_code(token: str) -> Response:
    """The consent link as a QR code, for a guardian whose phone is not the one showing it."""
    runtime = current_runtime()
    record, now = run_in_transaction(
        runtime.reads, lambda db: (found := _load(db, token), runtime.for_tenant(found.tenant, db).clock())
    )
    if store.state_at(record, now) != store.PENDING:
        abort(410)
    svg = segno.make(f"{runtime.settings.issuer}/guardian/r/{token}", error="m").svg_inline(scale=6, border=2)
    return Response(svg, mimetype="image/svg+xml")
