"""Concurrent writers against a real, committed Postgres database (CONTRACT §7, §8): the
per-tenant hash chains neither fork nor gap, an Idempotency-Key writes once, a subject and a
resident ID are registered once, and the export of what they wrote verifies against the
published JWKS."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from agegate_verifier.log import verify_export
from flask import Flask
from sqlalchemy import func, select

from service.app import create_app
from service.auditlog.chain import GENESIS, link_hash
from service.store import migrate
from service.store.db import transaction
from service.store.models import Consent, ConsentLogEntry, IdempotencyRecord, LogHead, Subject
from tests.conftest import ISSUER
from tests.dbroles import runtime_role
from tests.integration.conftest import (
    CHILD_BIRTH_DATE,
    GUARDIAN_RESIDENT_ID,
    PostgresDatabases,
    bearer_for,
    consent_body,
    make_client,
    needs_postgres,
    register,
    settings_for,
)

pytestmark = needs_postgres

TENANTS = ("tenant-a", "tenant-b", "tenant-c")
THREADS = 16
PER_THREAD = 8
T = TypeVar("T")


@dataclass
class Service:
    app: Flask
    url: str
    auth: dict[str, dict[str, str]]  # tenant -> bearer header (subjects, consents)
    regulator: dict[str, str]  # bearer header of a regulator client (audit:export, no tenant)

    def sessions(self) -> Any:
        return self.app.extensions["agegate"].sessions


@pytest.fixture(scope="module")
def service(postgres_databases: PostgresDatabases) -> Iterator[Service]:
    owner_url = postgres_databases.create("agegate_it_conc")
    migrate.upgrade(owner_url)
    with runtime_role(owner_url) as url:  # the service connects as the runtime role
        app = create_app(settings_for(url))
        http = app.test_client()
        auth = {}
        for tenant in TENANTS:
            auth[tenant] = bearer_for(http, *make_client(url, "subjects:write", "consent:write", "consent:read", tenant=tenant))
            register(http, auth[tenant], "child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
            register(http, auth[tenant], "parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
        regulator = bearer_for(http, *make_client(url, "audit:export", tenant=None))
        try:
            yield Service(app, url, auth, regulator)
        finally:
            app.extensions["agegate"].engine.dispose()


def all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) on `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def start(i: int) -> T:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def chain_of(service: Service, tenant: str) -> list[ConsentLogEntry]:
    with transaction(service.sessions()) as session:
        return list(session.scalars(select(ConsentLogEntry).where(ConsentLogEntry.tenant == tenant).order_by(ConsentLogEntry.seq)))


def assert_chain_is_whole(service: Service, tenant: str) -> list[dict[str, Any]]:
    """Recompute the tenant's chain from GENESIS: seq 1..n, each prev the hash before it."""
    entries = chain_of(service, tenant)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1)), "gap or duplicate in seq"
    prev = GENESIS
    events = []
    for entry in entries:
        event = json.loads(entry.event)
        assert entry.prev == prev, f"fork at seq {entry.seq}"
        assert entry.hash == link_hash(prev, event), f"bad hash at seq {entry.seq}"
        assert event["tenant"] == tenant
        prev = entry.hash
        events.append(event)
    recorded = [e.recorded_at for e in entries]
    assert recorded == sorted(recorded), "recorded_at goes backwards along the chain"
    with transaction(service.sessions()) as session:
        head = session.get(LogHead, tenant)
        assert head is not None
        assert (head.seq, head.hash) == (len(entries), prev)
    return events


def test_concurrent_consents_across_tenants_keep_every_chain_whole(service: Service) -> None:
    def work(thread: int) -> list[tuple[str, int, str]]:
        tenant = TENANTS[thread % len(TENANTS)]
        http = service.app.test_client()
        answers = []
        for n in range(PER_THREAD):
            response = http.post(
                "/v1/consents", json=consent_body(evidence_ref=f"conc-{thread}-{n}"), headers=service.auth[tenant]
            )
            body = response.get_json()
            answers.append((tenant, response.status_code, body.get("consent_id") if response.status_code == 201 else str(body)))
        return answers

    before = {tenant: len(chain_of(service, tenant)) for tenant in TENANTS}
    answers = [a for thread in all_at_once(THREADS, work) for a in thread]

    assert [a for a in answers if a[1] != 201] == []
    written: dict[str, set[str]] = defaultdict(set)
    for tenant, _, consent_id in answers:
        written[tenant].add(consent_id)
    assert sum(len(ids) for ids in written.values()) == THREADS * PER_THREAD  # all distinct

    for tenant in TENANTS:
        events = assert_chain_is_whole(service, tenant)
        new = events[before[tenant]:]
        assert len(new) == len(written[tenant])
        assert {e["consent_id"] for e in new} == written[tenant]
        assert {e["type"] for e in new} == {"granted"}
        with transaction(service.sessions()) as session:
            stored = set(session.scalars(select(Consent.consent_id).where(Consent.tenant == tenant)))
        assert written[tenant] <= stored


def test_concurrent_withdrawals_and_grants_interleave_without_forking(service: Service) -> None:
    tenant = TENANTS[0]
    http = service.app.test_client()
    ids = []
    for n in range(THREADS // 4):
        response = http.post("/v1/consents", json=consent_body(evidence_ref=f"mix-{n}"), headers=service.auth[tenant])
        assert response.status_code == 201
        ids.append(response.get_json()["consent_id"])

    def work(i: int) -> tuple[str, int, dict[str, Any]]:
        client = service.app.test_client()
        if i % 2:
            # two threads withdraw each consent at once
            consent_id = ids[(i // 2) % len(ids)]
            response = client.post(f"/v1/consents/{consent_id}/withdraw", json={"reason": "r"}, headers=service.auth[tenant])
            return consent_id, response.status_code, response.get_json()
        response = client.post("/v1/consents", json=consent_body(evidence_ref=f"mix-new-{i}"), headers=service.auth[tenant])
        return "", response.status_code, response.get_json()

    results = all_at_once(THREADS, work)
    assert [status for cid, status, _ in results if not cid] == [201] * (THREADS // 2)
    withdrawals = [(cid, status, body) for cid, status, body in results if cid]
    # The loser of a race answers 409 "concurrent write, retry" (an IntegrityError on the
    # ending's primary key), where a sequential repeat answers 200: see the report. Either
    # way, each consent is withdrawn once, and a retry answers 200 as documented.
    assert {(status, body.get("type")) for _, status, body in withdrawals} <= {
        (200, None),
        (409, "urn:agegate:problem:concurrent-write"),
    }
    assert {cid for cid, status, _ in withdrawals if status == 200} == set(ids)
    for consent_id in {cid for cid, status, _ in withdrawals if status == 409}:
        retry = http.post(f"/v1/consents/{consent_id}/withdraw", json={"reason": "r"}, headers=service.auth[tenant])
        assert retry.status_code == 200
        assert retry.get_json()["status"] == "withdrawn"
    events = assert_chain_is_whole(service, tenant)
    withdrawn = Counter(e["consent_id"] for e in events if e["type"] == "withdrawn")
    assert set(withdrawn) == set(ids)
    assert set(withdrawn.values()) == {1}, "a consent was withdrawn twice in the log"


def test_the_same_idempotency_key_at_once_writes_one_consent_and_answers_alike(service: Service) -> None:
    tenant = TENANTS[1]
    body = consent_body(evidence_ref="idem-once")
    headers = {**service.auth[tenant], "Idempotency-Key": "same-key-for-eight"}
    before = len(chain_of(service, tenant))

    def work(_: int) -> tuple[int, str]:
        response = service.app.test_client().post("/v1/consents", json=body, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    answers = all_at_once(8, work)
    assert {status for status, _ in answers} == {201}, answers
    assert len({text for _, text in answers}) == 1, "the answers differ"

    consent_id = json.loads(answers[0][1])["consent_id"]
    with transaction(service.sessions()) as session:
        rows = session.scalars(select(Consent.consent_id).where(Consent.tenant == tenant, Consent.evidence_ref == "idem-once")).all()
        keys = session.scalar(select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.key == "same-key-for-eight"))
    assert rows == [consent_id]
    assert keys == 1
    events = assert_chain_is_whole(service, tenant)
    assert [e["consent_id"] for e in events[before:]] == [consent_id]

    # and later, another body under the same key is a conflict that writes nothing
    other = service.app.test_client().post("/v1/consents", json=consent_body(evidence_ref="idem-other"), headers=headers)
    assert other.status_code == 409
    assert len(chain_of(service, tenant)) == len(events)


def test_the_same_idempotency_key_with_different_bodies_at_once_writes_one(service: Service) -> None:
    tenant = TENANTS[2]
    headers = {**service.auth[tenant], "Idempotency-Key": "raced-key"}
    before = len(chain_of(service, tenant))

    def work(i: int) -> int:
        body = consent_body(evidence_ref=f"raced-{i}")
        return service.app.test_client().post("/v1/consents", json=body, headers=headers).status_code

    statuses = all_at_once(8, work)
    assert Counter(statuses) == Counter({201: 1, 409: 7})
    assert len(assert_chain_is_whole(service, tenant)) == before + 1


def test_one_subject_registered_at_once_is_created_once_and_answered_alike(service: Service) -> None:
    tenant = TENANTS[0]
    body = {"subject_ref": "raced-subject", "evidence": {"method": "self_declared", "birth_date": CHILD_BIRTH_DATE}}

    def work(_: int) -> tuple[int, dict[str, Any]]:
        response = service.app.test_client().post("/v1/subjects", json=body, headers=service.auth[tenant])
        return response.status_code, response.get_json()

    answers = all_at_once(THREADS, work)
    assert Counter(status for status, _ in answers) == Counter({201: 1, 200: THREADS - 1})
    assert len({json.dumps(answer, sort_keys=True) for _, answer in answers}) == 1, "the answers differ"
    with transaction(service.sessions()) as session:
        rows = session.scalar(select(func.count()).select_from(Subject).where(Subject.tenant == tenant, Subject.subject_ref == "raced-subject"))
    assert rows == 1


def test_one_resident_id_offered_for_many_subjects_at_once_registers_one(service: Service) -> None:
    tenant = TENANTS[1]

    def work(i: int) -> tuple[int, str | None]:
        body = {"subject_ref": f"id-holder-{i}", "evidence": {"method": "resident_id", "resident_id": "11010519491231002X"}}
        response = service.app.test_client().post("/v1/subjects", json=body, headers=service.auth[tenant])
        return response.status_code, response.get_json().get("code")

    answers = all_at_once(THREADS, work)
    assert Counter(answers) == Counter({(201, None): 1, (409, "duplicate_resident_id"): THREADS - 1})
    with transaction(service.sessions()) as session:
        holders = session.scalar(
            select(func.count()).select_from(Subject).where(Subject.tenant == tenant, Subject.subject_ref.like("id-holder-%"))
        )
    assert holders == 1


def export_lines(service: Service, query: str) -> list[bytes]:
    response = service.app.test_client().get(f"/v1/audit/consent-log?{query}", headers=service.regulator)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/x-ndjson"
    return response.get_data().splitlines()


def test_each_tenants_export_verifies_against_the_published_jwks(service: Service) -> None:
    jwks = service.app.test_client().get("/.well-known/jwks.json").get_json()
    for tenant in TENANTS:
        entries = chain_of(service, tenant)
        assert entries, "the tests above wrote nothing"
        report = verify_export(export_lines(service, f"tenant={tenant}"), jwks, issuer=ISSUER)
        assert report.tenant == tenant
        assert (report.first_seq, report.last_seq, report.count) == (1, len(entries), len(entries))
        assert report.head == entries[-1].hash


def test_an_export_window_starting_mid_chain_verifies_too(service: Service) -> None:
    from service.store.audit_log import timestamp

    jwks = service.app.test_client().get("/.well-known/jwks.json").get_json()
    tenant = TENANTS[0]
    entries = chain_of(service, tenant)
    middle = entries[len(entries) // 2]
    since = timestamp(middle.recorded_at).replace("+", "%2B")
    report = verify_export(export_lines(service, f"tenant={tenant}&since={since}"), jwks, issuer=ISSUER)
    first = min(e.seq for e in entries if e.recorded_at >= middle.recorded_at)
    assert (report.first_seq, report.last_seq) == (first, len(entries))


def test_an_export_taken_while_writers_run_still_verifies(service: Service) -> None:
    """The export reads a consistent prefix: its checkpoint matches the lines it streamed."""
    tenant = TENANTS[1]
    jwks = service.app.test_client().get("/.well-known/jwks.json").get_json()

    def work(i: int) -> Any:
        if i < 4:
            return export_lines(service, f"tenant={tenant}")
        client = service.app.test_client()
        for n in range(3):
            client.post("/v1/consents", json=consent_body(evidence_ref=f"during-{i}-{n}"), headers=service.auth[tenant])
        return None

    exports = [lines for lines in all_at_once(8, work) if lines is not None]
    for lines in exports:
        verify_export(lines, jwks, issuer=ISSUER)
    assert_chain_is_whole(service, tenant)
