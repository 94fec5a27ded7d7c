"""Mixed load on a running agegate: the four kinds of caller, each validating every answer.

    .venv-perf/bin/locust -f perf/locustfile.py --headless -u 24 -r 8 -t 30s --host http://127.0.0.1:8000

`perf/bench_mixed.py` runs it against a fresh service with `agegate worker` delivering the
tenant's webhooks (`run_all.py --only mixed`). Every request is named `<kind>: <path>`, so
locust's statistics group by caller kind:

- **app** (app backends): register subjects (self_declared and resident_id evidence), issue
  tokens, record consents collected in the app and withdraw them, ask for consent on the
  hosted pages (`POST /v1/consent-requests`) and read how it ended, read their webhook
  subscriptions and delivery log.
- **persona** (persona services): verify tokens online (`POST /v1/tokens/verify`), or
  offline with `agegate_verifier.Verifier`, which fetches the JWKS and the status lists
  through this user's HTTP client (so those fetches are in the statistics); each offline
  decision is reported as a request of type `OFFLINE` (no HTTP; bench_mixed counts them
  apart from the HTTP requests).
- **guardian** (guardians in a browser): open the consent page from the link the app sent,
  enter the code, answer the form, read the receipt (sometimes download it), and now and then
  withdraw on the management page. Plain HTTP form posts with the session cookie and the CSRF
  field, as a browser without JavaScript sends them. Each journey is a new browser: new
  cookies and, towards 127.0.0.1, its own loopback source address (127.x.y.z), because
  guardians come from their own devices and the code form is rate limited per address
  (10 a minute); from one address the limit would refuse most journeys.
- **regulator**: list the tenants, the summary and the annual (Art. 37) reports, and the
  consent-log export, incrementally from the last checkpoint and now and then in full.

Every response is validated (`catch_response`); templated URLs are grouped with `name=`.

Credentials: set AGEGATE_BENCH_APP / AGEGATE_BENCH_PERSONA / AGEGATE_BENCH_REGULATOR to
`{"client_id": ..., "client_secret": ...}`, or leave them unset and the test_start hook
creates the clients with `agegate clients create` (needs the service's AGEGATE_DATABASE_URL
and AGEGATE_KEK in the environment, as on the service's own host). The tenant is
AGEGATE_BENCH_TENANT (default t-locust); offline verification expects tokens issued by
AGEGATE_BENCH_ISSUER (default: the host). Loopback hosts only.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agegate_verifier import REASONS as TOKEN_REFUSALS
from agegate_verifier import Verifier
from locust import HttpUser, between, events, task
from locust.clients import HttpSession
from locust.exception import StopUser
from urllib3 import PoolManager

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import resident_id  # noqa: E402

TENANT = os.environ.get("AGEGATE_BENCH_TENANT", "t-locust")
AUDIENCE = "persona-chat"
ROLES = {
    "app": ("AGEGATE_BENCH_APP", ["--tenant", TENANT, "--scopes",
            "subjects:write subjects:read tokens:issue consent:write consent:read webhooks:manage"]),
    "persona": ("AGEGATE_BENCH_PERSONA", ["--tenant", TENANT, "--scopes", "tokens:verify", "--audience", AUDIENCE]),
    "regulator": ("AGEGATE_BENCH_REGULATOR", ["--regulator"]),
}
BRACKET_OF = {"under_14", "minor", "adult", "older"}
DECISIONS = {"allow", "deny", "needs_consent"}
FEATURES = ("companion", "virtual_intimacy", "digital_human", "paid_interaction")
NOTICE = {"version": "privacy-notice-v3", "url": "https://app.example/privacy/v3"}
ASKED = ["pi_processing", "companion", "paid_interaction"]
# agegate (gunicorn) closes a keep-alive connection idle for AGEGATE_KEEPALIVE (2 s). A client
# that sends on one idle about that long races the close and gets a reset (HTTP/1.1's
# keep-alive race; under load the window is wide). Like a proxy whose upstream idle timeout is
# below the server's, callers here never reuse a connection idle for longer than this.
IDLE_REUSE_SECONDS = float(os.environ.get("AGEGATE_BENCH_IDLE_REUSE", "1.0"))

_headers: dict[str, dict[str, str]] = {}
_tokens: collections.deque[str] = collections.deque(maxlen=2000)  # issued by apps, verified by personas
_run = uuid.uuid4().hex[:8]
_counter = itertools.count()
_lock = threading.Lock()
_host = {"name": "127.0.0.1"}


def _next() -> int:
    with _lock:
        return next(_counter)


def _agegate() -> str:
    here = Path(sys.executable).parent / "agegate"
    return str(here) if here.exists() else (shutil.which("agegate") or "agegate")


@events.test_start.add_listener
def _credentials(environment, **_: object) -> None:  # type: ignore[no-untyped-def]
    """Create (or read) one client per role and exchange it for an access token."""
    import requests

    host = environment.host or "http://127.0.0.1:8000"
    _host["name"] = urlsplit(host).hostname or ""
    if _host["name"] not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("perf/locustfile.py targets loopback hosts only")
    for role, (variable, options) in ROLES.items():
        text = os.environ.get(variable)
        if not text:
            cmd = [_agegate(), "clients", "create", "--name", f"locust-{role}-{_run}", *options, "--json"]
            text = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[-1]
        client = json.loads(text)
        response = requests.post(f"{host}/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client["client_id"], client["client_secret"]), timeout=10)
        response.raise_for_status()
        _headers[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}


# Requests per caller kind per 10-second bucket of the run, for AGEGATE_BENCH_SUMMARY.
_buckets: collections.Counter[tuple[int, str]] = collections.Counter()


@events.request.add_listener
def _count(request_type: str, name: str, **_: object) -> None:
    _buckets[(int(time.time() // 10), _kind(request_type, name))] += 1


def _kind(request_type: str, name: str) -> str:
    if request_type in ("OFFLINE", "CHECK"):
        return request_type.lower()
    return name.split(":", 1)[0] if ":" in name else "other"


@events.test_stop.add_listener
def _summary(environment, **_: object) -> None:  # type: ignore[no-untyped-def]
    """With AGEGATE_BENCH_SUMMARY set, write per-kind counts, failures and response-time
    histograms (locust's, in rounded ms), the 10-second buckets and every error as JSON."""
    path = os.environ.get("AGEGATE_BENCH_SUMMARY")
    if not path:
        return
    kinds: dict[str, dict[str, Any]] = {}
    for (name, method), entry in environment.stats.entries.items():
        kind = kinds.setdefault(_kind(method, name), {"requests": 0, "failures": 0, "response_times": collections.Counter()})
        kind["requests"] += entry.num_requests
        kind["failures"] += entry.num_failures
        kind["response_times"].update(entry.response_times)
    total = environment.stats.total
    Path(path).write_text(json.dumps({
        "kinds": kinds,
        "start": total.start_time,
        "last_request": total.last_request_timestamp,
        "buckets": [[t * 10, kind, n] for (t, kind), n in sorted(_buckets.items())],
        "errors": [{"method": e.method, "name": e.name, "error": str(e.error)[:300], "occurrences": e.occurrences}
                   for e in environment.stats.errors.values()],
    }), encoding="utf-8")


def _birth(bracket: str) -> str:
    year = {"under_14": random.randint(2014, 2019), "minor": random.randint(2010, 2011),
            "adult": random.randint(1970, 2000), "older": random.randint(1940, 1960)}[bracket]
    return f"{year}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"


# 9,000 birth dates x 1,000 serials: each n below this is one distinct ID number.
_RESIDENT_IDS = 9_000 * 1_000
_RESIDENT_ID_OFFSET = random.randrange(_RESIDENT_IDS)  # another stretch of numbers each run


def _unique_resident_id() -> str:
    """A resident ID number no other call of this run returns (the counter walks the whole
    space before repeating). It was the counter plus a random multiple of 1,000, taken
    modulo the space: random draws, which collided (a 409) once in the 5-minute mixed run
    of 2026-11-30 21:27."""
    n = (_RESIDENT_ID_OFFSET + _next()) % _RESIDENT_IDS
    day = n % 9000
    year, month, dom = 1960 + day // 300, 1 + day // 25 % 12, 1 + day % 25
    return resident_id(f"{year}{month:02d}{dom:02d}", n // 9000)


def _require(condition: bool, reason: str, value: Any = True) -> Any:
    """`value` when `condition` holds, else the request fails with `reason` (see _Caller.call)."""
    if not condition:
        raise AssertionError(reason)
    return value


def _path(url: str) -> str:
    """The path (and query) of an absolute URL the service handed out."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _form_value(html: str, name: str) -> str | None:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]+)"', html)
    return found.group(1) if found else None


class _Caller(HttpUser):
    """Shared by every caller: `call` names the request `<kind>: <name>` and validates it."""

    abstract = True
    role = "app"

    def on_start(self) -> None:
        if self.role not in _headers:
            raise StopUser()
        self.auth = _headers[self.role]
        self.last_used = time.monotonic()

    def call(self, kind: str, method: str, path: str, *, expect: int = 200, name: str | None = None,
             check: Any = None, client: HttpSession | None = None, **kwargs: Any) -> Any:
        """One request; a failure unless the status is `expect` and `check(resp)` returns
        (it raises AssertionError with the reason, or fails on an unexpected answer). Returns
        what `check` returned (True without one), or None after a failure."""
        kwargs.setdefault("headers", self.auth)
        kwargs.setdefault("allow_redirects", False)
        if client is None and time.monotonic() - self.last_used > IDLE_REUSE_SECONDS:
            self.client.close()  # drops its idle connections: the next request opens a new one
        try:
            return self._request(client or self.client, kind, method, path, expect, name, check, kwargs)
        finally:
            if client is None:
                self.last_used = time.monotonic()

    @staticmethod
    def _request(client: HttpSession, kind: str, method: str, path: str, expect: int, name: str | None,
                 check: Any, kwargs: dict[str, Any]) -> Any:
        with client.request(method, path, name=f"{kind}: {name or path}", catch_response=True, **kwargs) as resp:
            if resp.status_code == 0:
                resp.failure(f"no answer: {resp.error!r}"[:300])
                return None
            if resp.status_code != expect:
                resp.failure(f"{resp.status_code} (wanted {expect}): {resp.text[:200]}")
                return None
            try:
                outcome = check(resp) if check is not None else True
            except AssertionError as error:
                resp.failure(str(error))
                return None
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
                resp.failure(f"unexpected answer ({type(error).__name__}): {resp.text[:200]}")
                return None
            resp.success()
            return outcome

    def post_json(self, path: str, body: object, expect: int, name: str | None = None) -> Any:
        """An app backend's JSON POST; returns the body or None."""
        return self.call("app", "POST", path, json=body, expect=expect, name=name, check=lambda r: r.json())

    def register(self, ref: str, evidence: dict[str, str]) -> bool:
        def check(resp: Any) -> Any:
            data = resp.json()
            ok = data.get("subject_ref") == ref and data.get("age_bracket") in BRACKET_OF and "birth_date" not in data
            return _require(ok, f"not a subject answer: {str(data)[:200]}", data)

        return self.call("app", "POST", "/v1/subjects", json={"subject_ref": ref, "evidence": evidence},
                         expect=201, check=check) is not None


class AppBackend(_Caller):
    """An app's server: signs users up, then asks for age tokens for them."""

    weight = 4
    wait_time = between(0.01, 0.05)
    role = "app"

    def on_start(self) -> None:
        super().on_start()
        self.subjects: list[str] = []

    def _register(self, evidence: dict[str, str]) -> None:
        ref = f"lc-{_run}-{_next()}"
        if self.register(ref, evidence):
            self.subjects.append(ref)
            del self.subjects[:-200]

    @task(3)
    def register_self_declared(self) -> None:
        self._register({"method": "self_declared", "birth_date": _birth(random.choice(sorted(BRACKET_OF)))})

    @task(1)
    def register_resident_id(self) -> None:
        self._register({"method": "resident_id", "resident_id": _unique_resident_id()})

    @task(6)
    def issue_token(self) -> None:
        if not self.subjects:
            return self.register_self_declared()

        def check(resp: Any) -> Any:
            data = resp.json()
            token = data.get("token", "")
            ok = token.count(".") == 2 and isinstance(data.get("features"), dict) and "expires_at" in data
            return _require(ok, f"not an age token answer (members {sorted(data)})", token)

        token = self.call("app", "POST", "/v1/tokens", expect=201, check=check,
                          json={"subject_ref": random.choice(self.subjects), "audience": AUDIENCE, "ttl": 600})
        if token:
            _tokens.append(token)

    @task(1)
    def read_webhooks(self) -> None:
        """The app's operator looks at its subscriptions and the latest deliveries."""
        listed = self.call("app", "GET", "/v1/webhooks", check=lambda r: r.json()["items"])
        if not listed:
            return

        def check(resp: Any) -> Any:
            items = resp.json()["items"]
            states = {item.get("state") for item in items}
            return _require(states <= {"pending", "delivered", "failed", "cancelled"}, f"bad delivery states {states}")

        self.call("app", "GET", f"/v1/webhooks/{listed[0]['id']}/deliveries?limit=20",
                  name="/v1/webhooks/[id]/deliveries", check=check)


class AppConsents(_Caller):
    """An app that collects consent in its own parent account and records it: grants, withdraws."""

    weight = 2
    wait_time = between(0.05, 0.2)
    role = "app"

    def on_start(self) -> None:
        super().on_start()
        n = _next()
        self.child, self.guardian = f"lc-kid-{_run}-{n}", f"lc-parent-{_run}-{n}"
        if not (self.register(self.child, {"method": "self_declared", "birth_date": _birth("under_14")})
                and self.register(self.guardian, {"method": "resident_id", "resident_id": _unique_resident_id()})):
            raise StopUser()
        self.consents: list[str] = []

    @task(3)
    def grant(self) -> None:
        data = self.post_json("/v1/consents", {
            "child_ref": self.child, "guardian_ref": self.guardian, "relationship": "parent",
            "scopes": ["pi_processing", "companion"], "method": "in_app_parent_account",
            "evidence_ref": f"ev-{_next()}", "notice_version": "privacy-notice-v3", "expires_at": None,
        }, 201)
        if data is not None and data.get("status") == "active":
            self.consents.append(data["consent_id"])

    @task(1)
    def withdraw(self) -> None:
        if not self.consents:
            return
        consent_id = self.consents.pop(0)
        self.call("app", "POST", f"/v1/consents/{consent_id}/withdraw", json={"reason": "guardian changed mind"},
                  name="/v1/consents/[consent_id]/withdraw",
                  check=lambda r: _require(r.json().get("status") == "withdrawn", f"not withdrawn: {r.text[:200]}"))


class PersonaService(_Caller):
    """A persona service that cannot verify offline: asks the service each time."""

    weight = 3
    wait_time = between(0.005, 0.02)
    role = "persona"

    @task
    def verify(self) -> None:
        if not _tokens:
            return

        def check(resp: Any) -> Any:
            data = resp.json()
            if data.get("active") is True:
                ok = data.get("decision") in DECISIONS and data.get("age_bracket") in BRACKET_OF
                return _require(ok, f"active answer without a decision: {str(data)[:200]}")
            # a withdrawn consent revokes the child's tokens: the one inactive answer expected
            return _require(data.get("active") is False and data.get("reason") == "revoked",
                            f"inactive or no 'active' member: {str(data)[:200]}")

        self.call("persona", "POST", "/v1/tokens/verify", check=check,
                  json={"token": random.choice(_tokens), "feature": random.choice(FEATURES)})


class PersonaOffline(_Caller):
    """A persona service verifying offline with agegate_verifier: JWKS and status lists over
    HTTP (cached by the verifier: the lists for their ttl), the signature and claims here."""

    weight = 1
    wait_time = between(0.005, 0.02)
    role = "persona"

    def on_start(self) -> None:
        super().on_start()
        issuer = os.environ.get("AGEGATE_BENCH_ISSUER", self.host)  # the service's AGEGATE_ISSUER
        self.verifier = Verifier(issuer, AUDIENCE, fetch=self._fetch, tenant=TENANT)

    def _fetch(self, url: str) -> bytes:
        name = "/.well-known/jwks.json" if url.endswith("/jwks.json") else "/v1/status-lists/[list_id]"
        body = self.call("persona", "GET", _path(url), name=name, headers={}, check=lambda r: r.content)
        if body is None:
            raise OSError(f"GET {name} failed")  # the verifier fails closed; the failure is counted
        return body  # type: ignore[no-any-return]

    @task
    def gate(self) -> None:
        if not _tokens:
            return
        started = time.perf_counter()
        decision = self.verifier.gate(random.choice(_tokens), random.choice(FEATURES))
        elapsed = (time.perf_counter() - started) * 1000
        error = None
        if decision.decision not in DECISIONS:
            error = AssertionError(f"decision {decision.decision!r}")
        elif not decision.allowed and decision.reason in TOKEN_REFUSALS and decision.reason != "revoked":
            error = AssertionError(f"token refused offline: {decision.reason}")
        self.environment.events.request.fire(request_type="OFFLINE", name="persona: agegate_verifier gate",
                                             response_time=elapsed, response_length=0, exception=error, context={})


class Guardian(_Caller):
    """A guardian answering the app's consent request on the hosted pages, in a browser.

    The app backend registers the family and asks (`POST /v1/consent-requests`), sends the
    link and the code to the guardian; the guardian opens the page, enters the code, allows or
    refuses each category, confirms, reads the receipt; sometimes downloads it, sometimes
    withdraws on the management page. The app then reads the outcome."""

    weight = 2
    wait_time = between(0.5, 1.5)
    role = "app"

    def on_start(self) -> None:
        super().on_start()
        n = _next()
        self.child, self.parent = f"lc-hkid-{_run}-{n}", f"lc-hparent-{_run}-{n}"
        if not (self.register(self.child, {"method": "self_declared", "birth_date": _birth("under_14")})
                and self.register(self.parent, {"method": "resident_id", "resident_id": _unique_resident_id()})):
            raise StopUser()

    def _browser(self) -> tuple[HttpSession, PoolManager]:
        """A new browser: no cookies and, towards 127.0.0.1, its own loopback source address."""
        options: dict[str, Any] = {"maxsize": 1}
        if _host["name"] in {"127.0.0.1", "localhost"}:
            n = _next()
            options["source_address"] = (f"127.{1 + n // 65536 % 254}.{n // 254 % 256}.{1 + n % 254}", 0)
        pool = PoolManager(**options)
        return HttpSession(self.host, self.environment.events.request, self, pool_manager=pool), pool

    @task
    def answer_a_request(self) -> None:
        created = self.post_json("/v1/consent-requests", {
            "child_ref": self.child, "guardian_ref": self.parent, "relationship": "parent", "scopes": ASKED,
            "notice": NOTICE, "child_label": "小明", "locale": random.choice(["zh-CN", "en"]), "expires_in": 3600,
        }, 201)
        if created is None:
            return
        browser, pool = self._browser()
        try:
            withdrawn = self._journey(browser, _path(created["consent_url"]), created["guardian_code"])
        finally:
            browser.close()
            pool.clear()

        def check(resp: Any) -> Any:
            data = resp.json()
            return _require(data.get("status") == "completed" and data.get("granted") is not None,
                            f"request not completed: {str(data)[:200]}")

        if withdrawn is not None:
            self.call("app", "GET", f"/v1/consent-requests/{created['request_id']}",
                      name="/v1/consent-requests/[request_id]", check=check)

    def _journey(self, browser: HttpSession, page: str, code: str) -> bool | None:
        """The guardian's clicks; None when a step failed (already reported), else whether
        the guardian went on to withdraw."""
        no_auth = {"headers": {}, "client": browser}
        html = self.call("guardian", "GET", page, name="/guardian/r/[token]", check=_page('name="code"'), **no_auth)
        if html is None:
            return None
        csrf = _form_value(html, "csrf")
        if self.call("guardian", "POST", page + "/code", expect=303, name="/guardian/r/[token]/code",
                     data={"csrf": csrf, "code": code}, check=_redirect_to(page), **no_auth) is None:
            return None
        html = self.call("guardian", "GET", page, name="/guardian/r/[token]", check=_page('name="choice-'), **no_auth)
        if html is None:
            return None
        choices = {"choice-pi_processing": "allow",
                   **{f"choice-{c}": random.choice(["allow", "refuse"]) for c in ASKED[1:]}}
        if self.call("guardian", "POST", page + "/answer", expect=303, name="/guardian/r/[token]/answer",
                     data={"csrf": _form_value(html, "csrf"), **choices, "confirm": "yes"},
                     check=_redirect_to(page + "/receipt"), **no_auth) is None:
            return None
        receipt = self.call("guardian", "GET", page + "/receipt", name="/guardian/r/[token]/receipt",
                            check=_page("/receipt.jwt"), **no_auth)
        if receipt is None:
            return None
        if random.random() < 0.3:
            self.call("guardian", "GET", page + "/receipt.jwt", name="/guardian/r/[token]/receipt.jwt",
                      check=lambda r: _require(r.text.strip().count(".") == 2, "not a compact JWS"), **no_auth)
        if random.random() >= 0.25:
            return False
        found = re.search(r'href="(/guardian/m/[^"]+)"', receipt)
        if found is None:
            self.environment.events.request.fire(request_type="CHECK", name="guardian: receipt manage link",
                                                 response_time=0, response_length=0,
                                                 exception=AssertionError("no management link"), context={})
            return None
        manage = found.group(1)
        html = self.call("guardian", "GET", manage, name="/guardian/m/[token]", check=_page('name="consent_id"'), **no_auth)
        if html is None:
            return None
        form = {"csrf": _form_value(html, "csrf"), "consent_id": _form_value(html, "consent_id")}
        if self.call("guardian", "POST", manage + "/withdraw", name="/guardian/m/[token]/withdraw (confirm page)",
                     data=form, check=_page('name="confirm"'), **no_auth) is None:
            return None
        done = self.call("guardian", "POST", manage + "/withdraw", expect=303, name="/guardian/m/[token]/withdraw",
                         data={**form, "confirm": "yes"}, check=_redirect_to(manage), **no_auth)
        return None if done is None else True


def _page(marker: str) -> Any:
    """Check for an HTML page that contains `marker`; returns the page."""
    def check(resp: Any) -> Any:
        ok = resp.headers.get("Content-Type", "").startswith("text/html") and marker in resp.text
        return _require(ok, f"not the expected page (no {marker!r}): {resp.text[:200]}", resp.text)
    return check


def _redirect_to(path: str) -> Any:
    def check(resp: Any) -> Any:
        location = resp.headers.get("Location", "")
        return _require(_path(location).split("?")[0].endswith(path), f"redirected to {location!r}, not {path}")
    return check


class Regulator(_Caller):
    """A regulator's tool: tenants, summary and annual reports, consent-log exports."""

    weight = 1
    wait_time = between(1, 3)
    role = "regulator"

    def on_start(self) -> None:
        super().on_start()
        self.checkpoint_seq = 0

    @task(1)
    def tenants(self) -> None:
        self.call("regulator", "GET", "/v1/tenants",
                  check=lambda r: _require(TENANT in {t["tenant"] for t in r.json()["items"]}, f"{TENANT} not listed"))

    @task(2)
    def summary(self) -> None:
        def check(resp: Any) -> Any:
            data = resp.json()
            ok = isinstance(data.get("subjects_total"), int) and set(data.get("by_bracket", {})) == BRACKET_OF
            return _require(ok, f"bad summary: {str(data)[:200]}")

        self.call("regulator", "GET", f"/v1/reports/summary?tenant={TENANT}", name="/v1/reports/summary", check=check)

    @task(1)
    def annual(self) -> None:
        year = datetime.now(timezone.utc).year
        self.call("regulator", "GET", f"/v1/reports/minors-pi?tenant={TENANT}&year={year}", name="/v1/reports/minors-pi",
                  check=lambda r: _require(isinstance(r.json()["persons_processed"], dict), "bad report"))

    @task(3)
    def export_since_checkpoint(self) -> None:
        """What changed since the last export: from the last checkpoint's seq (inclusive)."""
        start = max(1, self.checkpoint_seq)
        self._export(f"/v1/audit/consent-log?tenant={TENANT}&from_seq={start}", "/v1/audit/consent-log?from_seq", start)

    @task(1)
    def export_all(self) -> None:
        self._export(f"/v1/audit/consent-log?tenant={TENANT}", "/v1/audit/consent-log", 1)

    def _export(self, path: str, name: str, first: int) -> None:
        def check(resp: Any) -> Any:
            lines = resp.text.strip().splitlines()
            last = json.loads(lines[-1])
            _require(last.get("kind") == "checkpoint" and last.get("count") == len(lines) - 1,
                     f"bad checkpoint: {lines[-1][:200]}")
            return _require(len(lines) == 1 or json.loads(lines[0]).get("seq") == first,
                            f"export from seq {first} starts at {lines[0][:100]}", last)

        checkpoint = self.call("regulator", "GET", path, name=name, check=check)
        if checkpoint is not None:
            self.checkpoint_seq = max(self.checkpoint_seq, int(checkpoint["seq"]))
