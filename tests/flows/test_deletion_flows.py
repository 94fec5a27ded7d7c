"""When a deletion becomes due (POLICY.md "Deletion on withdrawal"): the child's last
pi_processing consent withdrawn or expired, the guardian or the child erased; never twice."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select

from service.flows.consents import ConsentExpiry, ConsentGrant, ConsentWithdrawal, expire_consents, grant_consent, withdraw_consent
from service.flows.subjects import Evidence, SubjectErasure, erase_subject
from service.runtime import Runtime
from service.store.models import ConsentLogEntry, Deletion
from service.store.transactions import run_in_transaction
from tests.flows.conftest import CLIENT, TENANT, register, terms

OTHER_GUARDIAN_ID = "11010519491231002X"  # born 1949-12-31: older, document assurance


def deletions(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    rows = run_in_transaction(runtime.sessions, lambda s: list(s.scalars(select(Deletion).order_by(Deletion.required_at, Deletion.cause))))
    return [(d.child_ref, d.cause, d.consent_id) for d in rows]


def logged(runtime: Runtime) -> list[dict[str, object]]:
    rows = run_in_transaction(
        runtime.sessions,
        lambda s: [json.loads(e) for e in s.scalars(select(ConsentLogEntry.event).where(ConsentLogEntry.tenant == TENANT).order_by(ConsentLogEntry.seq))],
    )
    return rows


def grant(runtime: Runtime, *scopes: str, **overrides: object) -> str:
    return runtime.run(grant_consent, ConsentGrant(TENANT, CLIENT, terms(*scopes, **overrides))).record.consent.consent_id


def test_withdrawing_the_last_pi_processing_consent_owes_a_deletion_due_in_15_days(family: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    consent_id = grant(family)
    family.run(withdraw_consent, ConsentWithdrawal(TENANT, CLIENT, consent_id))
    assert deletions(family) == [("child", "withdrawn", consent_id)]
    event = logged(family)[-1]
    assert event["type"] == "deletion_required" and event["cause"] == "withdrawn"
    assert event["due_by"] == (clock.now + timedelta(days=15)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_a_consent_without_pi_processing_or_another_guardians_consent_owes_nothing(family: Runtime) -> None:
    register(family, "grandpa", Evidence("resident_id", resident_id=OTHER_GUARDIAN_ID))
    companion_only = grant(family, "companion")
    family.run(withdraw_consent, ConsentWithdrawal(TENANT, CLIENT, companion_only))
    first = grant(family, "pi_processing")
    grant(family, "pi_processing", guardian_ref="grandpa")
    family.run(withdraw_consent, ConsentWithdrawal(TENANT, CLIENT, first))
    assert deletions(family) == []


def test_expiry_owes_one_deletion_per_child_even_when_two_consents_expire_together(family: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    register(family, "grandpa", Evidence("resident_id", resident_id=OTHER_GUARDIAN_ID))
    soon = clock.now + timedelta(hours=1)
    both = {grant(family, "pi_processing", expires_at=soon), grant(family, "pi_processing", guardian_ref="grandpa", expires_at=soon)}
    clock.advance(hours=2)
    assert family.run(expire_consents, ConsentExpiry()) == 2
    ((child, cause, consent_id),) = deletions(family)
    assert (child, cause) == ("child", "expired") and consent_id in both


def test_erasing_a_child_owes_a_deletion_even_without_consents(family: Runtime) -> None:
    family.run(erase_subject, SubjectErasure(TENANT, "child", CLIENT))
    assert deletions(family) == [("child", "child_erased", None)]
    assert [e["type"] for e in logged(family)] == ["subject_erased", "deletion_required"]


def test_erasing_the_guardian_owes_a_deletion_for_the_child_it_leaves_without_consent(family: Runtime) -> None:
    consent_id = grant(family)
    family.run(erase_subject, SubjectErasure(TENANT, "parent", CLIENT))
    assert deletions(family) == [("child", "guardian_erased", consent_id)]


def test_erasing_an_adult_who_is_nobodys_guardian_owes_nothing(family: Runtime) -> None:
    register(family, "adult", Evidence("self_declared", birth_date=date(1990, 1, 1)))
    family.run(erase_subject, SubjectErasure(TENANT, "adult", CLIENT))
    assert deletions(family) == []


def test_a_tenant_policy_that_shortens_the_deletion_period_shortens_due_by(family: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    from service.flows.policies import TenantPolicyInstall, install_tenant_policy

    family.run(install_tenant_policy, TenantPolicyInstall(TENANT, {"retention": {"deletion_due_days": 7}}))
    consent_id = grant(family)
    family.run(withdraw_consent, ConsentWithdrawal(TENANT, CLIENT, consent_id))
    due = run_in_transaction(family.sessions, lambda s: s.scalars(select(Deletion.due_by)).one())
    assert due == clock.now + timedelta(days=7)
