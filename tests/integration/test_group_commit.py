"""One tenant's grants committed in batches (store/group_commit.py) against a real, committed
Postgres database: every acknowledged grant is in the tenant's chain exactly once, the chain
verifies, and a grant that fails inside a batch takes none of the others down."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from agegate_verifier.log import verify_export
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.app import create_app
from service.auditlog.chain import GENESIS, link_hash
from service.domain.consent import ConsentTerms, Relationship
from service.events import catalogue
from service.flows.consents import ConsentGrant, grant_consent
from service.flows.idempotency import Answer, IdempotencyKey, once
from service.runtime import Runtime
from service.store.group_commit import GroupCommit
from service.store.db import transaction
from service.store.errors import Conflict, NotFound
from service.store.locks import advisory_key
from service.store import audit_log, migrate
from service.store.models import Consent, ConsentLogEntry, LogHead
from service.store.transactions import run_in_transaction
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

TENANT = "tenant-g"


@dataclass
class Service:
    apps: list[Flask]  # two apps on one database: two worker processes, each with its own batches
    auth: dict[str, str]
    client_id: str
    regulator: dict[str, str]

    def runtime(self, n: int = 0) -> Runtime:
        return self.apps[n].extensions["agegate"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def service(postgres_databases: PostgresDatabases) -> Iterator[Service]:
    owner_url = postgres_databases.create("agegate_it_group")
    migrate.upgrade(owner_url)
    with runtime_role(owner_url) as url:
        apps = [create_app(settings_for(url)), create_app(settings_for(url))]
        http = apps[0].test_client()
        client_id, secret = make_client(url, "subjects:write", "consent:write", "consent:read", tenant=TENANT)
        auth = bearer_for(http, client_id, secret)
        register(http, auth, "child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
        register(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
        regulator = bearer_for(http, *make_client(url, "audit:export", tenant=None))
        try:
            yield Service(apps, auth, client_id, regulator)
        finally:
            for app in apps:
                app.extensions["agegate"].engine.dispose()


def queued_as_one_batch(pool: ThreadPoolExecutor, group: GroupCommit, tenant: str, steps: list[Callable[[Session], Any]]) -> list[Future[Any]]:
    """Run `steps` as one batch of `tenant`: a leader step holds the tenant's transaction open
    until every step waits behind it, then lets go (its own batch answers first). The steps'
    futures, in the order given."""
    entered, release = threading.Event(), threading.Event()

    def leader_step(session: Session) -> None:
        entered.set()
        assert release.wait(timeout=30)

    leader = pool.submit(group.run, tenant, leader_step)
    assert entered.wait(timeout=30)
    futures = [pool.submit(group.run, tenant, step) for step in steps]
    deadline = time.monotonic() + 30
    while group.waiting(tenant) < len(futures):  # all queued behind the running batch
        assert time.monotonic() < deadline, "the steps never queued"
        time.sleep(0.01)
    release.set()
    assert leader.result(timeout=30) is None
    return futures


def chain(service: Service) -> list[dict[str, Any]]:
    """The tenant's events, after checking the chain link by link from GENESIS and its head."""
    with transaction(service.runtime().sessions) as session:
        entries = list(session.scalars(select(ConsentLogEntry).where(ConsentLogEntry.tenant == TENANT).order_by(ConsentLogEntry.seq)))
        head = session.get(LogHead, TENANT)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1)), "gap or duplicate in seq"
    prev, events = GENESIS, []
    for entry in entries:
        event = json.loads(entry.event)
        assert entry.prev == prev and entry.hash == link_hash(prev, event), f"broken link at seq {entry.seq}"
        prev = entry.hash
        events.append(event)
    assert [e.recorded_at for e in entries] == sorted(e.recorded_at for e in entries)
    assert ((0, GENESIS) if head is None else (head.seq, head.hash)) == (len(entries), prev)
    return events


def stored_consents(service: Service) -> set[str]:
    with transaction(service.runtime().sessions) as session:
        return set(session.scalars(select(Consent.consent_id).where(Consent.tenant == TENANT)))


def test_many_grants_from_two_processes_are_each_chained_once_and_failures_leave_no_trace(service: Service) -> None:
    threads, per_thread = 16, 10
    barrier = threading.Barrier(threads)

    def work(thread: int) -> list[tuple[int, str]]:
        http = service.apps[thread % 2].test_client()
        barrier.wait(timeout=30)
        answers = []
        for n in range(per_thread):
            # every fourth grant names a child that does not exist: 404, inside someone's batch
            child = "nobody" if (thread + n) % 4 == 0 else "child"
            body = consent_body(child_ref=child, evidence_ref=f"g-{thread}-{n}")
            response = http.post("/v1/consents", json=body, headers=service.auth)
            answers.append((response.status_code, response.get_json().get("consent_id", "")))
        return answers

    before = len(chain(service))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        answers = [answer for thread in pool.map(work, range(threads)) for answer in thread]

    statuses = Counter(status for status, _ in answers)
    assert statuses == Counter({201: threads * per_thread * 3 // 4, 404: threads * per_thread // 4})
    acknowledged = [consent_id for status, consent_id in answers if status == 201]
    events = chain(service)[before:]
    assert Counter(e["consent_id"] for e in events) == Counter(acknowledged)  # each exactly once
    assert {e["type"] for e in events} == {"granted"}
    assert set(acknowledged) <= stored_consents(service)

    jwks = service.apps[0].test_client().get("/.well-known/jwks.json").get_json()
    export = service.apps[1].test_client().get(f"/v1/audit/consent-log?tenant={TENANT}", headers=service.regulator)
    report = verify_export(export.get_data().splitlines(), jwks, issuer=ISSUER)
    assert (report.first_seq, report.last_seq) == (1, before + len(acknowledged))


def terms(evidence_ref: str, child_ref: str = "child") -> ConsentTerms:
    return ConsentTerms(
        child_ref=child_ref, guardian_ref="parent", relationship=Relationship.PARENT, scopes=("pi_processing",),
        method="in_app_parent_account", evidence_ref=evidence_ref, notice_version="privacy-notice-v3",
    )


def test_one_batch_answers_each_grant_with_its_own_result_or_error(service: Service) -> None:
    runtime = service.runtime()
    group = runtime.group_commit
    regretted: dict[int, list[str]] = {}  # grants whose step wrote and then failed, by step (a step may run twice)

    def step(i: int):  # type: ignore[no-untyped-def]
        def run(session: Session) -> tuple[int, str]:
            grant = ConsentGrant(TENANT, service.client_id, terms(f"batch-{i}", "nobody" if i % 3 == 0 else "child"))
            granted = grant_consent(session, runtime.deps, grant)  # NotFound for "nobody"
            if i % 3 == 1:  # written, appended (staged), then failed: must leave nothing behind
                regretted.setdefault(i, []).append(granted.record.consent.consent_id)
                raise ValueError(f"step {i} changed its mind")
            return session.scalar(text("SELECT txid_current()")), granted.record.consent.consent_id
        return run

    before = len(chain(service))
    count = 12
    with ThreadPoolExecutor(max_workers=count + 1) as pool:
        futures = queued_as_one_batch(pool, group, TENANT, [step(i) for i in range(count)])
        outcomes = []
        for i, future in enumerate(futures):
            error = future.exception(timeout=30)
            outcomes.append((i, error, None if error else future.result()))

    for i, error, result in outcomes:
        if i % 3 == 0:
            assert isinstance(error, NotFound)
        elif i % 3 == 1:
            assert isinstance(error, ValueError)
        else:
            assert error is None
    granted = [result for _, error, result in outcomes if error is None]
    assert len({txid for txid, _ in granted}) == 1, "the waiting grants were not committed in one transaction"
    events = chain(service)[before:]
    assert [e["consent_id"] for e in events] == [consent_id for _, consent_id in granted]  # in the order they ran
    assert not {consent_id for ids in regretted.values() for consent_id in ids} & stored_consents(service)
    assert sorted(regretted) == [i for i in range(count) if i % 3 == 1]


def test_a_batch_of_one_commits_each_waiting_grant_in_its_own_transaction(service: Service) -> None:
    """AGEGATE_GROUP_COMMIT_BATCH=1: grants queue on the tenant as before, each committed alone."""
    runtime = service.runtime()
    group = GroupCommit(runtime.sessions, max_batch=1)

    def step(i: int):  # type: ignore[no-untyped-def]
        def run(session: Session) -> tuple[int, str]:
            granted = grant_consent(session, runtime.deps, ConsentGrant(TENANT, service.client_id, terms(f"alone-{i}", "child")))
            return session.scalar(text("SELECT txid_current()")), granted.record.consent.consent_id
        return run

    before = len(chain(service))
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = queued_as_one_batch(pool, group, TENANT, [step(i) for i in range(4)])
        granted = [future.result(timeout=30) for future in futures]
    assert len({txid for txid, _ in granted}) == 4
    assert [e["consent_id"] for e in chain(service)[before:]] == [consent_id for _, consent_id in granted]


def test_a_deadlock_inside_a_batch_runs_the_whole_batch_again_and_each_step_keeps_its_answer(service: Service) -> None:
    runtime = service.runtime()
    group = runtime.group_commit
    tenant = f"tenant-deadlock-{uuid.uuid4().hex[:8]}"
    one, other = (advisory_key("test-batch-deadlock", uuid.uuid4().hex) for _ in range(2))
    crossing = threading.Barrier(2)
    tries: Counter[str] = Counter()

    def takes_one(session: Session) -> str:
        tries["takes_one"] += 1
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": one})
        if tries["takes_one"] == 1:
            crossing.wait(timeout=10)  # the batch holds `one`, the other transaction `other`
        return "took one"

    def refuses(session: Session) -> str:
        tries["refuses"] += 1
        raise ValueError("refused")

    def takes_other(session: Session) -> str:
        tries["takes_other"] += 1
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": other})
        return "took other"

    def crossing_transaction(session: Session) -> str:
        tries["crossing"] += 1
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": other})
        if tries["crossing"] == 1:
            crossing.wait(timeout=10)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": one})
        return "crossed"

    with ThreadPoolExecutor(max_workers=5) as pool:
        # refuses last: a failing step ends the batch's first run (no savepoints) and the batch
        # runs again isolated, so it must come after the steps that deadlock
        steps = queued_as_one_batch(pool, group, tenant, [takes_one, takes_other, refuses])
        crossed = pool.submit(run_in_transaction, runtime.sessions, crossing_transaction)
        assert crossed.result(timeout=30) == "crossed"
        assert steps[0].result(timeout=30) == "took one"
        assert steps[1].result(timeout=30) == "took other"
        assert isinstance(steps[2].exception(timeout=30), ValueError)
    # one of the two was the deadlock's victim and ran again; if it was the batch, every
    # step of it ran again, the refusing one included, and still answered alone
    assert tries["crossing"] == 2 or min(tries["takes_one"], tries["takes_other"], tries["refuses"]) >= 2


def test_an_idempotency_key_repeated_inside_one_batch_writes_once(service: Service) -> None:
    runtime = service.runtime()
    group = runtime.group_commit
    key = f"batch-key-{uuid.uuid4().hex[:8]}"

    def keyed(request_hash: str):  # type: ignore[no-untyped-def]
        def run(session: Session) -> Answer:
            def answer() -> Answer:
                granted = grant_consent(session, runtime.deps, ConsentGrant(TENANT, service.client_id, terms(key)))
                return Answer({"consent_id": granted.record.consent.consent_id}, 201)
            return once(session, runtime.deps, IdempotencyKey(service.client_id, key, request_hash), answer)
        return run

    before = len(chain(service))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = queued_as_one_batch(pool, group, TENANT, [keyed(request_hash) for request_hash in ("same", "same", "other")])
        original, repeat = futures[0].result(timeout=30), futures[1].result(timeout=30)
        conflict = futures[2].exception(timeout=30)

    assert repeat == original  # the repeat replays the first answer, written once
    assert isinstance(conflict, Conflict) and conflict.code == "idempotency_key_reused"
    assert [e["consent_id"] for e in chain(service)[before:]] == [original.body["consent_id"]]


def test_a_step_that_fails_after_writing_leaves_nothing_and_the_batch_still_commits_the_others(service: Service) -> None:
    # The batch's first run takes no savepoints; a keyed grant of a missing child has already
    # reserved its Idempotency-Key when it fails, so only the isolated rerun can undo that.
    runtime = service.runtime()
    group = runtime.group_commit
    key = f"failing-key-{uuid.uuid4().hex[:8]}"

    def keyed_missing_child(session: Session) -> Answer:
        def answer() -> Answer:
            granted = grant_consent(session, runtime.deps, ConsentGrant(TENANT, service.client_id, terms(key, "nobody")))
            return Answer({"consent_id": granted.record.consent.consent_id}, 201)
        return once(session, runtime.deps, IdempotencyKey(service.client_id, key, "hash"), answer)

    def plain(session: Session) -> str:
        return grant_consent(session, runtime.deps, ConsentGrant(TENANT, service.client_id, terms(key))).record.consent.consent_id

    before = len(chain(service))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = queued_as_one_batch(pool, group, TENANT, [plain, keyed_missing_child, plain])
        granted = [futures[0].result(timeout=30), futures[2].result(timeout=30)]
        assert isinstance(futures[1].exception(timeout=30), NotFound)

    assert sorted(e["consent_id"] for e in chain(service)[before:]) == sorted(granted)
    with transaction(runtime.sessions) as session:
        reserved = session.scalar(text("SELECT count(*) FROM idempotency_keys WHERE key = :key"), {"key": key})
    assert reserved == 0


@pytest.mark.parametrize("count", [1, 3, 65])  # 65: more entries than one fused statement takes
def test_an_append_of_many_entries_chains_each_once_whatever_statements_write_it(service: Service, count: int) -> None:
    tenant = f"tenant-many-{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc)
    events = [catalogue.bracket_changed(tenant=tenant, subject_ref=f"s-{n}", from_bracket="under_14", to_bracket="minor",
                                        occurred_at=now) for n in range(count)]
    for _ in range(2):  # a second append links onto the first
        with transaction(service.runtime().sessions) as session:
            appended = audit_log.append(session, tenant, [dict(e) for e in events], now)
    with transaction(service.runtime().sessions) as session:
        entries = list(session.scalars(select(ConsentLogEntry).where(ConsentLogEntry.tenant == tenant).order_by(ConsentLogEntry.seq)))
        head = session.get(LogHead, tenant)
    assert [e.seq for e in entries] == list(range(1, 2 * count + 1))
    prev = GENESIS
    for entry in entries:
        assert entry.prev == prev and entry.hash == link_hash(prev, json.loads(entry.event))
        prev = entry.hash
    assert head is not None and (head.seq, head.hash) == (2 * count, prev) == tuple(appended.position)


# ---------------------------------------------------------------- every transaction links last


def _changed(tenant: str, n: int, now: datetime) -> dict[str, Any]:
    return catalogue.bracket_changed(tenant=tenant, subject_ref=f"s-{n}", from_bracket="under_14", to_bracket="minor", occurred_at=now)


def _head_is_free(service: Service, tenant: str) -> bool:
    """Whether another transaction could lock the tenant's head right now (FOR UPDATE NOWAIT)."""
    with service.runtime().engine.connect() as other:
        try:
            other.execute(select(LogHead.seq).where(LogHead.tenant == tenant).with_for_update(nowait=True)).all()
        except OperationalError as error:
            assert getattr(error.orig, "sqlstate", None) == "55P03"  # lock_not_available
            return False
        finally:
            other.rollback()
    return True


def test_a_transaction_takes_its_tenants_head_only_to_link_just_before_its_commit(service: Service) -> None:
    tenant = f"tenant-late-{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc)
    runtime = service.runtime()
    run_in_transaction(runtime.sessions, lambda session: audit_log.append(session, tenant, [_changed(tenant, 0, now)], now))
    seen: dict[str, bool] = {}

    def work(session: Session) -> audit_log.Appended:
        first = audit_log.append(session, tenant, [_changed(tenant, 1, now)], now)
        session.execute(text("SELECT 1"))  # the transaction has begun and goes on after its append
        seen["after the append"] = _head_is_free(service, tenant)
        audit_log.append(session, tenant, [_changed(tenant, 2, now), _changed(tenant, 3, now)], now)
        return first

    first = run_in_transaction(runtime.sessions, work)
    assert seen == {"after the append": True}
    assert first.seq == 2  # linked before the commit, in the order appended
    with transaction(runtime.sessions) as session:
        entries = list(session.scalars(select(ConsentLogEntry).where(ConsentLogEntry.tenant == tenant).order_by(ConsentLogEntry.seq)))
    assert [json.loads(e.event)["subject_ref"] for e in entries] == ["s-0", "s-1", "s-2", "s-3"]
    prev = GENESIS
    for entry in entries:
        assert entry.prev == prev and entry.hash == link_hash(prev, json.loads(entry.event))
        prev = entry.hash


def test_asking_where_an_append_stands_links_it_at_once_and_holds_the_head_to_the_commit(service: Service) -> None:
    tenant = f"tenant-asked-{uuid.uuid4().hex[:8]}"
    other_tenant = f"{tenant}-b"
    now = datetime.now(timezone.utc)
    runtime = service.runtime()
    for each in (tenant, other_tenant):
        run_in_transaction(runtime.sessions, lambda session, each=each: audit_log.append(session, each, [_changed(each, 0, now)], now))
    seen: dict[str, Any] = {}

    def work(session: Session) -> None:
        audit_log.append(session, other_tenant, [_changed(other_tenant, 1, now)], now)
        appended = audit_log.append(session, tenant, [_changed(tenant, 1, now)], now)
        seen["position"] = tuple(appended.position)  # what a receipt signs: known before the commit
        seen["stored"] = session.scalar(select(ConsentLogEntry.hash).where(ConsentLogEntry.tenant == tenant, ConsentLogEntry.seq == 2))
        seen["head free"] = _head_is_free(service, tenant)
        audit_log.append(session, tenant, [_changed(tenant, 2, now)], now)  # staged again, linked at the end

    run_in_transaction(runtime.sessions, work)
    assert seen["position"] == (2, seen["stored"]) and seen["head free"] is False
    with transaction(runtime.sessions) as session:
        heads = {h.tenant: h.seq for h in session.scalars(select(LogHead).where(LogHead.tenant.in_([tenant, other_tenant])))}
    assert heads == {tenant: 3, other_tenant: 2}


def test_a_transaction_that_fails_after_appending_links_nothing(service: Service) -> None:
    tenant = f"tenant-failed-{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc)
    runtime = service.runtime()

    def work(session: Session) -> None:
        audit_log.append(session, tenant, [_changed(tenant, 1, now)], now)
        raise Conflict("test", "the step fails after its append")

    with pytest.raises(Conflict):
        run_in_transaction(runtime.sessions, work)
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(text("count(*)")).select_from(ConsentLogEntry).where(ConsentLogEntry.tenant == tenant)) == 0
        assert session.get(LogHead, tenant) is None
