"""The event catalogue: every log type has a builder whose output the chain accepts, a
webhook name, and a body without personal fields."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from service import events
from service.auditlog.chain import CONSENT_EVENT_FIELDS, EVENT_SHAPES, EVENT_TYPES, GENESIS, check_event, next_link
from service.events import catalogue
from service.events.payloads import SUBSCRIBABLE_TYPES, WEBHOOK_TYPES, payload
from tests.event_samples import AT, BUILT, StoredConsent

def test_the_catalogue_covers_every_log_type_of_shared_decision_3() -> None:
    assert set(EVENT_TYPES) == {
        "granted", "declined", "withdrawn", "expired", "subject_erased", "consent_request_created",
        "consent_request_completed", "consent_request_expired", "bracket_changed", "deletion_required",
        "data_deleted", "controls_changed",
    }
    assert set(BUILT) == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_each_builder_returns_exactly_its_types_fields_and_the_chain_accepts_it(kind: str) -> None:
    event = BUILT[kind]
    assert event["type"] == kind and event["recorded_at"] is None
    assert event.keys() == EVENT_SHAPES[kind]
    link = next_link(0, GENESIS, {**event, "recorded_at": "2026-11-30T08:00:00.000000Z"})
    assert link.seq == 1


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_field_of_every_event_is_json_a_regulator_can_read(kind: str) -> None:
    for value in BUILT[kind].values():
        assert value is None or isinstance(value, (str, int, list, dict))


def test_builders_take_no_parameter_through_which_personal_data_could_enter() -> None:
    personal = ("birth", "resident", "id_number", "name", "phone", "evidence_value")
    for name, builder in inspect.getmembers(catalogue, inspect.isfunction):
        for parameter in inspect.signature(builder).parameters:
            assert not any(word in parameter for word in personal), (name, parameter)


def test_consent_events_keep_the_contracts_field_list_and_scopes_as_a_list() -> None:
    assert BUILT["granted"].keys() == set(CONSENT_EVENT_FIELDS)
    assert BUILT["granted"]["scopes"] == ["pi_processing", "companion"]
    assert events.granted(StoredConsent(scopes=("companion",)), occurred_at=AT, client_id=None)["scopes"] == ["companion"]  # type: ignore[arg-type]


def test_an_erasure_logged_before_the_catalogue_one_consent_at_a_time_still_verifies() -> None:
    earlier = {**BUILT["withdrawn"], "type": "subject_erased", "recorded_at": "2026-11-01T00:00:00.000000Z"}
    check_event(earlier)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({**BUILT["bracket_changed"], "birth_date": "2012-11-29"}, "unexpected \\['birth_date'\\]"),
        ({k: v for k, v in BUILT["deletion_required"].items() if k != "due_by"}, "missing \\['due_by'\\]"),
        ({**BUILT["data_deleted"], "type": "data.deleted"}, "event type 'data.deleted'"),
        ({**BUILT["controls_changed"], "type": None}, "event type None"),
    ],
)
def test_check_event_refuses_a_new_type_with_the_wrong_fields(event: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_event(event)


def test_instants_are_utc_with_a_z_and_naive_ones_are_refused() -> None:
    shanghai_midnight = datetime(2026, 12, 1, tzinfo=timezone(timedelta(hours=8)))
    assert events.timestamp(shanghai_midnight) == "2026-11-30T16:00:00.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        events.timestamp(datetime(2026, 12, 1))


def test_a_bracket_change_needs_two_brackets_and_a_deletion_a_known_cause() -> None:
    with pytest.raises(ValueError, match="two different"):
        events.bracket_changed(tenant="t", subject_ref="s", from_bracket="minor", to_bracket="minor", occurred_at=AT)
    with pytest.raises(ValueError, match="deletion cause"):
        events.deletion_required(
            tenant="t", deletion_id="d", child_ref="s", cause="bored", consent_id=None, due_by=AT, occurred_at=AT, client_id=None
        )


def test_every_log_type_has_a_webhook_name_and_the_contracts_names_are_all_there() -> None:
    assert set(WEBHOOK_TYPES) == set(EVENT_TYPES)
    assert {
        "consent.granted", "consent.declined", "consent.withdrawn", "consent.expired", "consent_request.created",
        "consent_request.completed", "consent_request.expired", "subject.bracket_changed", "subject.erased",
        "data.deletion_required", "controls.changed",
    } <= set(SUBSCRIBABLE_TYPES)


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_the_webhook_body_is_the_envelope_and_the_rest_of_the_event_as_data(kind: str) -> None:
    body = payload(42, {**BUILT[kind], "recorded_at": "2026-11-30T08:00:00.000000Z"})
    assert body.keys() == {"type", "seq", "tenant", "occurred_at", "data"}
    assert (body["type"], body["seq"], body["tenant"]) == (WEBHOOK_TYPES[kind], 42, "t1")
    assert body["occurred_at"] == "2026-11-30T08:00:00.000000Z"
    assert body["data"].keys() == EVENT_SHAPES[kind] - {"type", "tenant", "occurred_at"}


@pytest.mark.parametrize("field", ["birth_date", "resident_id", "date_of_birth"])
def test_a_webhook_body_never_carries_a_birth_date_or_an_id_number_at_any_depth(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        payload(1, {**BUILT["controls_changed"], "controls": {"nested": [{field: "x"}]}})
