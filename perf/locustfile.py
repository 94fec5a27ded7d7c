"""Mixed load on a running agegate: one HttpUser per kind of caller.

    .venv-perf/bin/locust -f perf/locustfile.py --headless -u 16 -r 4 -t 30s --host http://127.0.0.1:8000

Callers: app backends (register subjects with self_declared / resident_id evidence, issue
tokens), persona services (POST /v1/tokens/verify), guardians (grant and withdraw consent,
through their app's backend), a regulator (consent-log export, summary report). Every
response is validated (`catch_response`); templated URLs are grouped with `name=`.

Credentials: set AGEGATE_BENCH_APP / AGEGATE_BENCH_PERSONA / AGEGATE_BENCH_REGULATOR to
`{"client_id": ..., "client_secret": ...}`, or leave them unset and the test_start hook
creates the clients with `agegate clients create` (needs the service's AGEGATE_DATABASE_URL
and AGEGATE_KEK in the environment, as on the service's own host). Loopback hosts only.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import resident_id  # noqa: E402

TENANT = os.environ.get("AGEGATE_BENCH_TENANT", "t-locust")
AUDIENCE = "persona-chat"
ROLES = {
    "app": ("AGEGATE_BENCH_APP", "subjects:write subjects:read tokens:issue consent:write consent:read", None),
    "persona": ("AGEGATE_BENCH_PERSONA", "tokens:verify", AUDIENCE),
    "regulator": ("AGEGATE_BENCH_REGULATOR", "audit:export", None),
}
BRACKET_OF = {"under_14", "minor", "adult", "older"}
DECISIONS = {"allow", "deny", "needs_consent"}

_headers: dict[str, dict[str, str]] = {}
_tokens: collections.deque[str] = collections.deque(maxlen=2000)  # issued by apps, verified by personas
_run = uuid.uuid4().hex[:8]
_counter = itertools.count()
_lock = threading.Lock()


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
    if urlsplit(host).hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("perf/locustfile.py targets loopback hosts only")
    for role, (variable, scopes, audience) in ROLES.items():
        text = os.environ.get(variable)
        if not text:
            cmd = [_agegate(), "clients", "create", "--tenant", TENANT, "--name", f"locust-{role}-{_run}",
                   "--scopes", scopes, "--json"]
            if audience:
                cmd += ["--audience", audience]
            text = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[-1]
        client = json.loads(text)
        response = requests.post(f"{host}/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client["client_id"], client["client_secret"]), timeout=10)
        response.raise_for_status()
        _headers[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}


def _birth(bracket: str) -> str:
    year = {"under_14": random.randint(2014, 2019), "minor": random.randint(2010, 2011),
            "adult": random.randint(1970, 2000), "older": random.randint(1940, 1960)}[bracket]
    return f"{year}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"


def _unique_resident_id() -> str:
    n = _next() + random.randrange(0, 10_000_000) * 1000  # unique within a run, unlikely across runs
    day = n % 9000
    year, month, dom = 1960 + day // 300, 1 + day // 25 % 12, 1 + day % 25
    return resident_id(f"{year}{month:02d}{dom:02d}", n // 9000)


class _Caller(HttpUser):
    abstract = True
    role = "app"

    def on_start(self) -> None:
        if self.role not in _headers:
            raise StopUser()
        self.auth = _headers[self.role]

    def post_json(self, path: str, body: object, expect: int, name: str | None = None):  # type: ignore[no-untyped-def]
        """POST and validate the status and that the body is JSON; returns the body or None."""
        with self.client.post(path, json=body, headers=self.auth, name=name or path, catch_response=True) as resp:
            if resp.status_code != expect:
                resp.failure(f"{resp.status_code} (wanted {expect}): {resp.text[:200]}")
                return None
            try:
                data = resp.json()
            except ValueError:
                resp.failure("body is not JSON")
                return None
            resp.success()
            return data


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
        data = self.post_json("/v1/subjects", {"subject_ref": ref, "evidence": evidence}, 201)
        if data is None:
            return
        if data.get("subject_ref") != ref or data.get("age_bracket") not in BRACKET_OF or "birth_date" in data:
            # validated after success(): a wrong shape is reported as its own failure
            self.environment.events.request.fire(request_type="CHECK", name="/v1/subjects shape",
                                                 response_time=0, response_length=0,
                                                 exception=AssertionError(str(data)[:200]), context={})
            return
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
        ref = random.choice(self.subjects)
        with self.client.post("/v1/tokens", json={"subject_ref": ref, "audience": AUDIENCE, "ttl": 600},
                              headers=self.auth, catch_response=True) as resp:
            if resp.status_code != 201:
                return resp.failure(f"{resp.status_code}: {resp.text[:200]}")
            data = resp.json()
            token = data.get("token", "")
            if token.count(".") != 2 or not isinstance(data.get("features"), dict) or "expires_at" not in data:
                return resp.failure(f"not an age token answer: {str(data)[:200]}")
            _tokens.append(token)
            resp.success()


class PersonaService(_Caller):
    """A persona service that cannot verify offline: asks the service each time."""

    weight = 4
    wait_time = between(0.005, 0.02)
    role = "persona"

    @task
    def verify(self) -> None:
        if not _tokens:
            return
        token = random.choice(_tokens)
        feature = random.choice(("companion", "virtual_intimacy", "digital_human", "paid_interaction"))
        with self.client.post("/v1/tokens/verify", json={"token": token, "feature": feature},
                              headers=self.auth, catch_response=True) as resp:
            if resp.status_code != 200:
                return resp.failure(f"{resp.status_code}: {resp.text[:200]}")
            data = resp.json()
            if data.get("active") is True:
                if data.get("decision") not in DECISIONS or data.get("age_bracket") not in BRACKET_OF:
                    return resp.failure(f"active answer without a decision: {str(data)[:200]}")
            elif data.get("active") is False:
                if data.get("reason") != "revoked":  # a withdrawn consent revokes the child's tokens
                    return resp.failure(f"inactive: {data.get('reason')}")
            else:
                return resp.failure("no 'active' member")
            resp.success()


class Guardian(_Caller):
    """A guardian (through the app's backend): registers, grants consent for a child, withdraws."""

    weight = 2
    wait_time = between(0.05, 0.2)
    role = "app"

    def on_start(self) -> None:
        super().on_start()
        n = _next()
        self.child, self.guardian = f"lc-kid-{_run}-{n}", f"lc-parent-{_run}-{n}"
        kid = self.post_json("/v1/subjects", {"subject_ref": self.child,
                                              "evidence": {"method": "self_declared", "birth_date": _birth("under_14")}}, 201)
        parent = self.post_json("/v1/subjects", {"subject_ref": self.guardian,
                                                 "evidence": {"method": "resident_id", "resident_id": _unique_resident_id()}}, 201)
        if kid is None or parent is None:
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
        data = self.post_json(f"/v1/consents/{consent_id}/withdraw", {"reason": "guardian changed mind"}, 200,
                              name="/v1/consents/[consent_id]/withdraw")
        if data is not None and data.get("status") != "withdrawn":
            self.environment.events.request.fire(request_type="CHECK", name="withdraw status",
                                                 response_time=0, response_length=0,
                                                 exception=AssertionError(str(data)[:200]), context={})


class Regulator(_Caller):
    """A regulator's tool: summary reports and consent-log exports, now and then."""

    weight = 1
    wait_time = between(1, 3)
    role = "regulator"

    @task(2)
    def summary(self) -> None:
        with self.client.get(f"/v1/reports/summary?tenant={TENANT}", headers=self.auth,
                             name="/v1/reports/summary", catch_response=True) as resp:
            if resp.status_code != 200:
                return resp.failure(f"{resp.status_code}: {resp.text[:200]}")
            data = resp.json()
            if not isinstance(data.get("subjects_total"), int) or set(data.get("by_bracket", {})) != BRACKET_OF:
                return resp.failure(f"bad summary: {str(data)[:200]}")
            resp.success()

    @task(1)
    def export(self) -> None:
        with self.client.get(f"/v1/audit/consent-log?tenant={TENANT}", headers=self.auth,
                             name="/v1/audit/consent-log", catch_response=True) as resp:
            if resp.status_code != 200:
                return resp.failure(f"{resp.status_code}: {resp.text[:200]}")
            lines = resp.text.strip().splitlines()
            try:
                last = json.loads(lines[-1])
            except (ValueError, IndexError):
                return resp.failure("export does not end with a JSON line")
            if last.get("kind") != "checkpoint" or last.get("count") != len(lines) - 1:
                return resp.failure(f"bad checkpoint: {lines[-1][:200]}")
            resp.success()
