"""grant_consent, decline_consent, withdraw_consent, expire_consents at their edges."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.auditlog.chain import GENESIS, check_event, link_hash
from service.domain.consent import Relationship
from service.domain.errors import BannedCategory, ConsentNotAllowed
from service.flows.consents import (
    ConsentDecline,
    ConsentExpiry,
    ConsentGrant,
    ConsentWithdrawal,
    decline_consent,
    expire_consents,
    grant_consent,
    withdraw_consent,
)
from service.flows.idempotency import Answer, IdempotencyKey, once
from service.runtime import Runtime
from service.store.errors import Conflict, NotFound
from service.store.models import Consent, ConsentLogEntry
from service.store.transactions import run_in_transaction
from tests.flows.conftest import CLIENT, TENANT, terms


def log_entries(runtime: Runtime) -> list[ConsentLogEntry]:
    return run_in_transaction(
        runtime.sessions,
        lambda session: list(
            session.scalars(select(ConsentLogEntry).where(ConsentLogEntry.tenant == TENANT).order_by(ConsentLogEntry.seq))
        ),
    )


def consent_count(runtime: Runtime) -> int:
    return run_in_transaction(runtime.sessions, lambda session: session.scalar(select(func.count()).select_from(Consent)))


def test_a_grant_returns_the_log_entry_that_recorded_it(family: Runtime) -> None:
    granted = family.run(grant_consent, ConsentGrant(TENANT, CLIENT, terms()))
    [entry] = log_entries(family)
    assert (granted.log.seq, granted.log.hash) == (entry.seq, entry.hash)
    assert json.loads(entry.event)["type"] == "granted"
    assert json.loads(entry.event)["consent_id"] == granted.record.consent.consent_id


def test_a_decline_logs_the_refused_scopes_and_grants_nothing(family: Runtime) -> None:
    declined = family.run(decline_consent, ConsentDecline(TENANT, None, terms("companion", "digital_human")))
    [entry] = log_entries(family)
    event = json.loads(entry.event)
    check_event(event)
    assert event["type"] == "declined"
    assert event["scopes"] == ["companion", "digital_human"]
    assert event["consent_id"] == declined.consent_id
    assert (event["child_ref"], event["guardian_ref"], event["client_id"]) == ("child", "parent", None)
    assert (declined.log.seq, declined.log.hash) == (entry.seq, entry.hash)
    assert entry.hash == link_hash(GENESIS, event)
    assert consent_count(family) == 0


def test_allowing_some_categories_and_refusing_others_chains_both_under_one_consent_id(family: Runtime) -> None:
    def answer(session):  # type: ignore[no-untyped-def]
        granted = grant_consent(session, family.deps, ConsentGrant(TENANT, CLIENT, terms("pi_processing")))
        declined = decline_consent(
            session,
            family.deps,
            ConsentDecline(TENANT, CLIENT, terms("companion"), consent_id=granted.record.consent.consent_id),
        )
        return granted, declined

    granted, declined = run_in_transaction(family.sessions, answer)
    assert declined.consent_id == granted.record.consent.consent_id
    assert (granted.log.seq, declined.log.seq) == (1, 2)
    first, second = log_entries(family)
    assert second.prev == first.hash == granted.log.hash
    assert second.hash == declined.log.hash


def test_a_decline_follows_the_grant_rules(family: Runtime) -> None:
    with pytest.raises(BannedCategory):
        family.run(decline_consent, ConsentDecline(TENANT, CLIENT, terms("virtual_intimacy")))
    with pytest.raises(ConsentNotAllowed) as refused:
        family.run(decline_consent, ConsentDecline(TENANT, CLIENT, terms(guardian_ref="weak-parent")))
    assert refused.value.rule == "guardian_assurance_too_low"
    with pytest.raises(NotFound):
        family.run(decline_consent, ConsentDecline(TENANT, CLIENT, terms(guardian_ref="nobody")))
    assert log_entries(family) == []


def test_a_refused_grant_writes_nothing(family: Runtime) -> None:
    with pytest.raises(BannedCategory):
        family.run(grant_consent, ConsentGrant(TENANT, CLIENT, terms("pi_processing", "virtual_intimacy")))
    assert consent_count(family) == 0
    assert log_entries(family) == []


def test_a_step_that_fails_after_writing_rolls_everything_back(family: Runtime) -> None:
    def grant_then_fail(session):  # type: ignore[no-untyped-def]
        grant_consent(session, family.deps, ConsentGrant(TENANT, CLIENT, terms()))
        raise RuntimeError("after the grant")

    with pytest.raises(RuntimeError):
        run_in_transaction(family.sessions, grant_then_fail)
    assert consent_count(family) == 0
    assert log_entries(family) == []


def test_withdrawing_twice_answers_as_the_first_time_and_logs_once(family: Runtime) -> None:
    granted = family.run(grant_consent, ConsentGrant(TENANT, CLIENT, terms()))
    withdrawal = ConsentWithdrawal(TENANT, None, granted.record.consent.consent_id, "changed my mind")
    first = family.run(withdraw_consent, withdrawal)
    again = family.run(withdraw_consent, withdrawal)
    assert first.status.value == again.status.value == "withdrawn"
    # the child's last pi_processing consent ended: one deletion is owed, once
    assert [json.loads(e.event)["type"] for e in log_entries(family)] == ["granted", "withdrawn", "deletion_required"]


def test_expiring_logs_each_consent_past_its_expiry_once(family: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    granted = family.run(grant_consent, ConsentGrant(TENANT, CLIENT, terms(expires_at=clock() + timedelta(days=1))))
    assert family.run(expire_consents, ConsentExpiry()) == 0
    clock.advance(days=1)
    assert family.run(expire_consents, ConsentExpiry()) == 1
    assert family.run(expire_consents, ConsentExpiry()) == 0
    with pytest.raises(Conflict):
        family.run(withdraw_consent, ConsentWithdrawal(TENANT, CLIENT, granted.record.consent.consent_id))
    assert [json.loads(e.event)["type"] for e in log_entries(family)] == ["granted", "expired", "deletion_required"]


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_request(family: Runtime) -> None:
    key = IdempotencyKey(CLIENT, "signup-42", "hash-of-the-first-request")
    calls: list[int] = []

    def answer(session):  # type: ignore[no-untyped-def]
        def grant() -> Answer:
            calls.append(1)
            granted = grant_consent(session, family.deps, ConsentGrant(TENANT, CLIENT, terms()))
            return Answer({"consent_id": granted.record.consent.consent_id}, 201)

        return once(session, family.deps, key, grant)

    first = run_in_transaction(family.sessions, answer)
    again = run_in_transaction(family.sessions, answer)
    assert again == first and calls == [1]
    assert consent_count(family) == 1
    other = IdempotencyKey(CLIENT, "signup-42", "hash-of-another-request")
    with pytest.raises(Conflict):
        run_in_transaction(family.sessions, lambda session: once(session, family.deps, other, lambda: Answer({}, 201)))


def test_terms_take_what_an_entry_point_parsed_and_refuse_what_no_consent_can_say() -> None:
    assert terms(relationship="legal_guardian", scopes=["companion"]) == terms("companion", relationship=Relationship.LEGAL_GUARDIAN)
    with pytest.raises(ValueError):
        terms(relationship="uncle")
    with pytest.raises(ValueError):
        terms(expires_at=datetime(2030, 1, 1))
