"""POST/GET/DELETE /v1/subjects and the authentication around them (CONTRACT §2, §3, §5)."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import ALL_SCOPES

CHILD = {"subject_ref": "u-123", "evidence": {"method": "self_declared", "birth_date": "2013-05-01"}}
ID_1949 = "11010519491231002X"


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def register(http, auth, body):  # type: ignore[no-untyped-def]
    return http.post("/v1/subjects", json=body, headers=auth)


def test_registers_a_self_declared_child_as_under_14(http, auth) -> None:  # type: ignore[no-untyped-def]
    response = register(http, auth, CHILD)
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {
        "subject_ref": "u-123",
        "age_bracket": "under_14",
        "assurance": "self_declared",
        "bracket_valid_until": "2027-05-02T00:00:00+08:00",
        "verified_at": "2026-11-27",
    }


def test_reposting_the_same_evidence_answers_200_and_changes_nothing(http, auth) -> None:  # type: ignore[no-untyped-def]
    first = register(http, auth, CHILD)
    again = register(http, auth, CHILD)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()


def test_a_resident_id_gives_document_assurance_and_never_echoes_the_number(http, auth) -> None:  # type: ignore[no-untyped-def]
    response = register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    assert response.status_code == 201
    body = response.get_data(as_text=True)
    assert ID_1949 not in body and "1949" not in body
    assert response.get_json()["age_bracket"] == "older"
    assert response.get_json()["assurance"] == "document"
    assert response.get_json()["bracket_valid_until"] is None


def test_a_lowercase_check_character_is_accepted(http, auth) -> None:  # type: ignore[no-untyped-def]
    response = register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": ID_1949.lower()}})
    assert response.status_code == 201


def test_stronger_evidence_with_the_same_birth_date_upgrades_assurance(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "self_declared", "birth_date": "1949-12-31"}})
    response = register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    assert response.status_code == 200
    assert response.get_json()["assurance"] == "document"


def test_weaker_evidence_with_the_same_birth_date_keeps_the_stronger_assurance(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    response = register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "self_declared", "birth_date": "1949-12-31"}})
    assert response.status_code == 200
    assert response.get_json()["assurance"] == "document"


@pytest.mark.parametrize(
    "first, second",
    [
        ({"method": "self_declared", "birth_date": "2000-01-01"}, {"method": "self_declared", "birth_date": "2001-01-01"}),
        ({"method": "resident_id", "resident_id": ID_1949}, {"method": "self_declared", "birth_date": "2001-01-01"}),
    ],
    ids=["equal-assurance", "weaker-assurance"],
)
def test_a_contradicting_birth_date_of_equal_or_weaker_assurance_is_409(http, auth, first, second) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, {"subject_ref": "s-1", "evidence": first})
    response = register(http, auth, {"subject_ref": "s-1", "evidence": second})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "contradicting_evidence"


def test_stronger_evidence_with_another_birth_date_replaces_it(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, {"subject_ref": "s-1", "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}})
    response = register(http, auth, {"subject_ref": "s-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    assert response.status_code == 200
    assert response.get_json()["age_bracket"] == "older"


def test_a_resident_id_already_used_by_another_subject_is_409(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, {"subject_ref": "s-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    response = register(http, auth, {"subject_ref": "s-2", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    assert response.status_code == 409
    assert response.get_json()["code"] == "duplicate_resident_id"
    assert http.get("/v1/subjects/s-2", headers=auth).status_code == 404


def test_an_existing_subject_offering_another_subjects_resident_id_is_409_and_keeps_its_record(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, {"subject_ref": "s-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    register(http, auth, {"subject_ref": "s-2", "evidence": {"method": "self_declared", "birth_date": "1949-12-31"}})
    response = register(http, auth, {"subject_ref": "s-2", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    assert response.status_code == 409
    assert response.get_json()["code"] == "duplicate_resident_id"
    assert http.get("/v1/subjects/s-2", headers=auth).get_json()["assurance"] == "self_declared"


def test_reposting_the_same_resident_id_answers_200(http, auth) -> None:  # type: ignore[no-untyped-def]
    body = {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}}
    first, again = register(http, auth, body), register(http, auth, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()


def test_the_same_resident_id_in_another_tenant_is_another_subject(http, api, auth) -> None:  # type: ignore[no-untyped-def]
    body = {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}}
    assert register(http, auth, body).status_code == 201
    assert register(http, api.bearer(*ALL_SCOPES, tenant="tenant-b"), body).status_code == 201


def test_the_registration_answer_is_the_standing_read_back(http, auth) -> None:  # type: ignore[no-untyped-def]
    registered = register(http, auth, CHILD).get_json()
    read = http.get("/v1/subjects/u-123", headers=auth).get_json()
    assert registered == {name: value for name, value in read.items() if name != "consents"}


@pytest.mark.parametrize(
    "evidence, reason",
    [
        ({"method": "self_declared", "birth_date": "2026-11-28"}, "in_future"),
        ({"method": "self_declared", "birth_date": "1899-12-31"}, "before_1900"),
        ({"method": "resident_id", "resident_id": "440524188001010014"}, "over_130"),
        ({"method": "resident_id", "resident_id": "110105194912310021"}, "check_character"),
        ({"method": "resident_id", "resident_id": "11010519490230002X"}, "birth_date"),
        ({"method": "resident_id", "resident_id": "99010519491231002X"}, "region"),
    ],
)
def test_implausible_or_invalid_evidence_is_422_with_its_reason(http, auth, evidence, reason) -> None:  # type: ignore[no-untyped-def]
    response = register(http, auth, {"subject_ref": "s-1", "evidence": evidence})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["reason"] == reason


def test_a_birth_date_of_today_in_shanghai_is_accepted(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    response = register(http, auth, {"subject_ref": "baby", "evidence": {"method": "self_declared", "birth_date": "2026-11-27"}})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"subject_ref": "", "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}}, "subject_ref"),
        ({"subject_ref": "x" * 129, "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}}, "subject_ref"),
        ({"subject_ref": "a b", "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}}, "subject_ref"),
        ({"subject_ref": "a/b", "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}}, "subject_ref"),
        ({"subject_ref": "ok", "evidence": {"method": "telepathy"}}, "evidence"),
        ({"subject_ref": "ok", "evidence": {"method": "self_declared", "birth_date": "01/02/2000"}}, "evidence"),
        ({"subject_ref": "ok", "evidence": {"method": "self_declared", "birth_date": "2000-1-2"}}, "evidence"),
        ({"subject_ref": "ok", "evidence": {"method": "self_declared", "birth_date": "20000102"}}, "evidence"),
        ({"subject_ref": "ok", "evidence": {"method": "self_declared", "birth_date": "2001-02-29"}}, "evidence"),
        ({"subject_ref": "ok", "evidence": {"method": "self_declared", "resident_id": ID_1949}}, "evidence"),
        ({"subject_ref": "ok", "evidence": {"method": "self_declared", "birth_date": "2000-01-01", "jwt": "x"}}, "evidence"),
        ({"subject_ref": "ok"}, "evidence"),
        ({"subject_ref": "ok", "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}, "name": "Li"}, "name"),
        ({"subject_ref": 5, "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}}, "subject_ref"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(http, auth, body, field) -> None:  # type: ignore[no-untyped-def]
    response = register(http, auth, body)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["status"] == 422 and field in problem["errors"]


def test_a_json_array_is_422(http, auth) -> None:  # type: ignore[no-untyped-def]
    assert register(http, auth, [1, 2]).status_code == 422


def test_malformed_json_is_400(http, auth) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/subjects", data="{nope", content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_duplicate_json_members_are_400(http, auth) -> None:  # type: ignore[no-untyped-def]
    body = '{"subject_ref": "a", "subject_ref": "b", "evidence": {"method": "self_declared", "birth_date": "2000-01-01"}}'
    assert http.post("/v1/subjects", data=body, content_type="application/json", headers=auth).status_code == 400


def test_a_form_body_is_415(http, auth) -> None:  # type: ignore[no-untyped-def]
    assert http.post("/v1/subjects", data={"subject_ref": "a"}, headers=auth).status_code == 415


def test_a_body_over_64_kib_is_413(http, auth) -> None:  # type: ignore[no-untyped-def]
    body = '{"subject_ref": "' + "a" * (65 * 1024) + '"}'
    response = http.post("/v1/subjects", data=body, content_type="application/json", headers=auth)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_no_token_is_401_with_a_bearer_challenge(http) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/subjects", json=CHILD)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert response.mimetype == "application/problem+json"


def test_an_unknown_token_is_401(http) -> None:  # type: ignore[no-untyped-def]
    assert http.post("/v1/subjects", json=CHILD, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_token_without_the_scope_is_403(http, api) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/subjects", json=CHILD, headers=api.bearer("subjects:read"))
    assert response.status_code == 403


def test_another_tenants_subject_is_404(http, api, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, CHILD)
    other = api.bearer(*ALL_SCOPES, tenant="tenant-b")
    assert http.get("/v1/subjects/u-123", headers=other).status_code == 404
    assert http.delete("/v1/subjects/u-123", headers=other).status_code == 404
    assert http.get("/v1/subjects/u-123", headers=auth).status_code == 200


def test_reading_a_subject_shows_its_bracket_and_consents(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, CHILD)
    response = http.get("/v1/subjects/u-123", headers=auth)
    assert response.status_code == 200
    assert response.get_json()["age_bracket"] == "under_14"
    assert response.get_json()["consents"] == []


def test_erasing_a_subject_removes_it(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, CHILD)
    assert http.delete("/v1/subjects/u-123", headers=auth).status_code == 204
    assert http.get("/v1/subjects/u-123", headers=auth).status_code == 404
    assert http.delete("/v1/subjects/u-123", headers=auth).status_code == 404


def test_a_client_secret_by_form_post_also_gets_a_token(http, api) -> None:  # type: ignore[no-untyped-def]
    new = api.client("subjects:read")
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": new.client_id, "client_secret": new.client_secret},
    )
    assert response.status_code == 200
    assert response.get_json()["token_type"].lower() == "bearer"


def test_a_wrong_client_secret_gets_no_token(http, api) -> None:  # type: ignore[no-untyped-def]
    new = api.client("subjects:read")
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": new.client_id, "client_secret": "wrong"},
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"


def test_no_birth_date_or_id_number_reaches_the_logs(http, auth, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "resident_id", "resident_id": ID_1949}})
    register(http, auth, {"subject_ref": "g-1", "evidence": {"method": "self_declared", "birth_date": "1950-01-01"}})
    register(http, auth, CHILD)
    assert ID_1949 not in caplog.text and "1949-12-31" not in caplog.text and "2013-05-01" not in caplog.text
