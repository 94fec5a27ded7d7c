"""register_subject, read_subject, erase_subject and issue_token at their edges."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, func, select

from service.domain.brackets import Bracket
from service.domain.errors import ImplausibleBirthDate
from service.domain.evidence import Assurance
from service.flows.consents import ConsentGrant, grant_consent
from service.flows.subjects import (
    Evidence,
    SubjectErasure,
    SubjectLookup,
    SubjectRegistration,
    erase_subject,
    read_subject,
    register_subject,
)
from service.flows.tokens import TokenRequest, issue_token
from service.runtime import Runtime
from service.store.errors import Conflict, NotFound
from service.store.models import SigningKey
from service.store.transactions import run_in_transaction
from service.tokens.issue import IssuedToken
from service.tokens.keys import NoSigningKey, ensure_signing_key
from tests.flows.conftest import CLIENT, GUARDIAN_ID, TENANT, terms


def test_evidence_never_shows_its_personal_fields() -> None:
    shown = repr(Evidence("resident_id", resident_id=GUARDIAN_ID)) + repr(Evidence("self_declared", birth_date=date(2016, 3, 1)))
    assert GUARDIAN_ID not in shown and "2016" not in shown


def test_registering_again_with_the_same_evidence_is_not_a_creation(runtime: Runtime) -> None:
    registration = SubjectRegistration(TENANT, "kid", Evidence("self_declared", birth_date=date(2016, 3, 1)))
    first = runtime.run(register_subject, registration)
    again = runtime.run(register_subject, registration)
    assert (first.created, again.created) == (True, False)
    assert first.standing == again.standing
    assert first.standing.age_bracket is Bracket.UNDER_14
    assert first.standing.assurance is Assurance.SELF_DECLARED


def test_stronger_evidence_upgrades_and_weaker_contradicting_evidence_is_a_conflict(runtime: Runtime) -> None:
    runtime.run(register_subject, SubjectRegistration(TENANT, "p", Evidence("self_declared", birth_date=date(1984, 4, 6))))
    upgraded = runtime.run(register_subject, SubjectRegistration(TENANT, "p", Evidence("resident_id", resident_id=GUARDIAN_ID)))
    assert upgraded.standing.assurance is Assurance.DOCUMENT
    with pytest.raises(Conflict):
        runtime.run(register_subject, SubjectRegistration(TENANT, "p", Evidence("self_declared", birth_date=date(1990, 1, 1))))


def test_an_implausible_birth_date_writes_nothing(runtime: Runtime) -> None:
    with pytest.raises(ImplausibleBirthDate):
        runtime.run(register_subject, SubjectRegistration(TENANT, "x", Evidence("self_declared", birth_date=date(1899, 1, 1))))
    with pytest.raises(NotFound):
        runtime.run(read_subject, SubjectLookup(TENANT, "x"))


def test_erasure_ends_the_consents_the_subject_took_part_in(family: Runtime) -> None:
    family.run(grant_consent, ConsentGrant(TENANT, CLIENT, terms()))
    erased = family.run(erase_subject, SubjectErasure(TENANT, "parent", CLIENT))
    assert erased.consents_ended == 1
    assert [c.status.value for c in family.run(read_subject, SubjectLookup(TENANT, "child")).consents] == ["withdrawn"]
    with pytest.raises(NotFound):
        family.run(erase_subject, SubjectErasure(TENANT, "parent", CLIENT))


def issue(runtime: Runtime, request: TokenRequest) -> IssuedToken:
    """What the issue view does: the flow on the runtime's read connections."""
    return issue_token(runtime.read_connection, runtime.deps, request)


def test_a_token_relies_on_the_consents_active_when_it_is_issued(family: Runtime) -> None:
    request = TokenRequest(TENANT, "child", "persona-chat", ttl=600)
    before = issue(family, request)
    assert before.claims["features"]["companion"]["decision"] == "needs_consent"
    granted = family.run(grant_consent, ConsentGrant(TENANT, CLIENT, terms()))
    after = issue(family, request)
    assert after.claims["features"]["companion"]["decision"] == "allow"
    assert after.claims["consents"] == [granted.record.consent.consent_id]
    assert after.claims["exp"] - after.claims["iat"] == 600
    with pytest.raises(NotFound):
        issue(family, TokenRequest(TENANT, "nobody", "persona-chat"))


def test_a_token_lives_no_longer_than_the_configured_lifetime(family: Runtime) -> None:
    issued = issue(family, TokenRequest(TENANT, "parent", "persona-chat", ttl=10**6))
    assert issued.claims["exp"] - issued.claims["iat"] == family.settings.token_ttl


def signing_key_count(runtime: Runtime) -> int:
    return run_in_transaction(runtime.sessions, lambda session: session.scalar(select(func.count()).select_from(SigningKey)))


def test_reading_the_keys_never_creates_one(runtime: Runtime) -> None:
    run_in_transaction(runtime.sessions, lambda session: session.execute(delete(SigningKey)))
    runtime.keyring.refresh()
    with pytest.raises(NoSigningKey):
        runtime.keyring.snapshot()
    assert signing_key_count(runtime) == 0


def test_ensuring_a_signing_key_creates_one_only_when_none_is_active(runtime: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    run_in_transaction(runtime.sessions, lambda session: session.execute(delete(SigningKey)))
    ensure = lambda session: ensure_signing_key(session, runtime.kek, clock())  # noqa: E731
    kid = run_in_transaction(runtime.sessions, ensure)
    assert kid is not None
    assert run_in_transaction(runtime.sessions, ensure) is None
    runtime.keyring.refresh()
    assert runtime.keyring.snapshot().kid == kid
    assert signing_key_count(runtime) == 1
