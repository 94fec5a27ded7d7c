"""Keep little before consent: under-14s nobody consented for are erased (POLICY.md 2026-11-30)."""

from __future__ import annotations

import json

from sqlalchemy import select

from service.guardian.keep_little import Sweep, keep_little
from service.store.db import transaction
from service.store.models import ConsentLogEntry, ConsentRequest
from tests.guardian.conftest import GUARDIAN_ID, ask, register


def sweep(runtime):  # type: ignore[no-untyped-def]
    return keep_little(runtime, Sweep(batch=2))  # small batches: the paging is exercised too


def logged(runtime) -> list[dict]:  # type: ignore[no-untyped-def]
    with transaction(runtime.sessions) as session:
        return [json.loads(e) for e in session.scalars(select(ConsentLogEntry.event).order_by(ConsentLogEntry.tenant, ConsentLogEntry.seq))]


def exists(http, auth, ref: str) -> bool:  # type: ignore[no-untyped-def]
    return http.get(f"/v1/subjects/{ref}", headers=auth).status_code == 200


def test_a_child_whose_last_request_expires_unanswered_is_erased(http, auth, family, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    created = ask(http, auth, expires_in=3600)
    clock.advance(minutes=59)
    assert sweep(runtime).erased == []
    clock.advance(minutes=2)
    result = sweep(runtime)
    assert result.expired_requests == 1 and result.erased == [("tenant-a", "child")]
    assert not exists(http, auth, "child") and exists(http, auth, "parent")
    kinds = [e["type"] for e in logged(runtime)]
    # the app must delete what it holds of the child too (deletion_required, cause child_erased)
    assert kinds == ["consent_request_created", "consent_request_expired", "subject_erased", "deletion_required"]
    erased = logged(runtime)[2]
    assert erased["subject_ref"] == "child" and erased["client_id"] is None
    assert logged(runtime)[3]["cause"] == "child_erased"
    with transaction(runtime.sessions) as session:
        assert session.get(ConsentRequest, created["request_id"]).child_label_enc == b""
    assert http.get(f"/v1/consent-requests/{created['request_id']}", headers=auth).get_json()["status"] == "expired"
    assert sweep(runtime).erased == []  # idempotent


def test_another_open_request_or_an_active_consent_keeps_the_child(http, auth, family, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    ask(http, auth, expires_in=3600)
    ask(http, auth, expires_in=7200)
    clock.advance(minutes=61)
    assert sweep(runtime).erased == []  # the second request is still open
    grant = {
        "child_ref": "child", "guardian_ref": "parent", "relationship": "parent", "scopes": ["pi_processing"],
        "method": "in_app_parent_account", "evidence_ref": "ev", "notice_version": "v3", "expires_at": None,
    }
    assert http.post("/v1/consents", json=grant, headers=auth).status_code == 201
    clock.advance(minutes=61)
    result = sweep(runtime)
    assert result.expired_requests == 1 and result.erased == []
    assert exists(http, auth, "child")


def test_a_child_nobody_asked_for_is_erased_after_the_policys_30_days(http, auth, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    assert runtime.policy.retention.unconsented_child_days.days == 30
    register(http, auth, "early-child", method="self_declared", birth_date="2016-03-01")
    register(http, auth, "teen", method="self_declared", birth_date="2010-01-01")  # minor: no consent needed for PI
    register(http, auth, "adult", method="resident_id", resident_id=GUARDIAN_ID)
    clock.advance(days=10)
    register(http, auth, "late-child", method="self_declared", birth_date="2017-03-01")
    clock.advance(days=20, seconds=1)
    assert sweep(runtime).erased == [("tenant-a", "early-child")]
    assert [exists(http, auth, r) for r in ("early-child", "teen", "adult", "late-child")] == [False, True, True, True]
    assert [e["type"] for e in logged(runtime)] == ["subject_erased", "deletion_required"]
    clock.advance(days=10)
    assert sweep(runtime).erased == [("tenant-a", "late-child")]
    assert sweep(runtime).erased == []


def test_the_worker_runs_the_sweep(http, auth, family, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    from service.worker import build_worker

    ask(http, auth, expires_in=3600)
    clock.advance(hours=2)
    build_worker(runtime).run_steps()
    assert not exists(http, auth, "child")
    assert [e["type"] for e in logged(runtime)][-3:] == ["consent_request_expired", "subject_erased", "deletion_required"]
