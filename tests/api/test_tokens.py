"""Age tokens, published documents, status lists and online verification (CONTRACT §6)."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime, timezone

import jwt as pyjwt
import pytest
from agegate_verifier import Revoked, Verifier

from service.api.tokens import ISSUE, VERIFY, well_formed_issue_body, well_formed_verify_body
from tests.conftest import ALL_SCOPES, ISSUER

GUARDIAN_ID = "11010219840406970X"  # born 1984-04-06
OLDER_ID = "11010519491231002X"  # born 1949-12-31


@pytest.fixture
def auth(api):  # type: ignore[no-untyped-def]
    return api.bearer(*ALL_SCOPES)


def register(http, auth, ref, **evidence):  # type: ignore[no-untyped-def]
    response = http.post("/v1/subjects", json={"subject_ref": ref, "evidence": evidence}, headers=auth)
    assert response.status_code in (200, 201), response.get_json()


def issue(http, auth, ref, audience="persona-chat", **extra):  # type: ignore[no-untyped-def]
    response = http.post("/v1/tokens", json={"subject_ref": ref, "audience": audience, **extra}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def offline_verifier(http, clock, audience="persona-chat", *, tenant=None, issuer=ISSUER):  # type: ignore[no-untyped-def]
    """The real offline verifier, fetching from the app through the test client (`issuer`:
    ISSUER + "/sandbox" for a sandbox tenant's tokens)."""

    def fetch(url: str) -> bytes:
        assert url.startswith(ISSUER)
        response = http.get(url[len(ISSUER):])
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code}")
        return response.data

    return Verifier(issuer=issuer, audience=audience, tenant=tenant, fetch=fetch, clock=lambda: clock().timestamp())


ALLOW, DENY, CONSENT = "allow", "deny", "needs_consent"


def test_an_under_14_without_consent_gets_needs_consent_everywhere_but_the_ban(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "kid", method="self_declared", birth_date="2016-03-01")
    features = issue(http, auth, "kid")["features"]
    assert {c: f["decision"] for c, f in features.items()} == {
        "pi_processing": CONSENT,
        "companion": CONSENT,
        "virtual_intimacy": DENY,
        "child_care_education": CONSENT,
        "digital_human": CONSENT,
        "paid_interaction": CONSENT,
    }
    assert features["virtual_intimacy"]["reason"] == "minor_ban"


def test_a_minor_token_carries_minor_mode_and_the_ban(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "teen", method="self_declared", birth_date="2010-01-01")
    features = issue(http, auth, "teen")["features"]
    assert features["companion"] == {"decision": ALLOW, "obligations": ["minor_mode"]}
    assert features["virtual_intimacy"] == {"decision": DENY, "reason": "minor_ban"}
    assert features["paid_interaction"] == {"decision": CONSENT}
    assert features["pi_processing"] == {"decision": ALLOW, "obligations": []}


def test_a_self_declared_adult_is_denied_virtual_intimacy_for_low_assurance(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    features = issue(http, auth, "adult")["features"]
    assert features["virtual_intimacy"] == {"decision": DENY, "reason": "assurance_too_low"}
    assert features["companion"] == {"decision": ALLOW, "obligations": []}


def test_an_older_person_with_a_document_gets_the_elder_obligations(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "elder", method="resident_id", resident_id=OLDER_ID)
    features = issue(http, auth, "elder")["features"]
    assert features["virtual_intimacy"] == {"decision": ALLOW, "obligations": ["risk_reminder", "anti_dependence"]}
    assert features["companion"] == {"decision": ALLOW, "obligations": ["risk_reminder", "anti_dependence"]}
    assert features["digital_human"] == {"decision": ALLOW, "obligations": ["risk_reminder"]}
    assert features["paid_interaction"] == {"decision": ALLOW, "obligations": ["consumption_guard"]}


def test_the_token_has_the_contract_header_and_claims(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "adult", method="resident_id", resident_id=GUARDIAN_ID)
    answer = issue(http, auth, "adult", ttl=600)
    header, claims = segment(answer["token"], 0), segment(answer["token"], 1)
    jwks = http.get("/.well-known/jwks.json").get_json()
    assert header == {"alg": "EdDSA", "typ": "age-bracket+jwt", "kid": jwks["keys"][0]["kid"]}
    now = int(clock().timestamp())
    assert claims["iss"] == ISSUER and claims["sub"] == "adult" and claims["aud"] == "persona-chat"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now, now + 600)
    assert claims["age_bracket"] == "adult" and claims["assurance"] == "document"
    assert claims["verified_at"] == "2026-11-27" and claims["policy"] == "2026-07-15.2"
    assert claims["status"]["status_list"]["uri"].startswith(ISSUER + "/v1/status-lists/")
    assert isinstance(claims["status"]["status_list"]["idx"], int)
    assert answer["expires_at"] == "2026-11-27T03:10:00Z"
    assert answer["age_bracket"] == "adult" and answer["features"] == claims["features"]


def test_a_child_turning_14_today_gets_a_token_expiring_at_midnight_shanghai(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    # 2026-11-27 is the 14th birthday: still under_14 until 00:00 on the 28th, Shanghai time.
    clock.now = datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    register(http, auth, "bday", method="self_declared", birth_date="2012-11-27")
    answer = issue(http, auth, "bday", ttl=3600)
    claims = segment(answer["token"], 1)
    assert claims["age_bracket"] == "under_14"
    assert claims["exp"] == int(datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc).timestamp())


def test_the_ttl_is_capped_by_the_configured_token_ttl(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    claims = segment(issue(http, auth, "adult", ttl=86_400)["token"], 1)
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize("body", [{"subject_ref": "adult", "audience": "p", "ttl": 0},
                                  {"subject_ref": "adult", "audience": "p", "ttl": 86_401},
                                  {"subject_ref": "adult", "audience": "p", "ttl": "60"},
                                  {"subject_ref": "adult"},
                                  {"subject_ref": "adult", "audience": "p", "scope": "x"}])
def test_bad_issue_requests_are_422(http, auth, body) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    assert http.post("/v1/tokens", json=body, headers=auth).status_code == 422


def test_issuing_for_an_unknown_subject_is_404(http, auth) -> None:  # type: ignore[no-untyped-def]
    assert http.post("/v1/tokens", json={"subject_ref": "ghost", "audience": "p"}, headers=auth).status_code == 404


def test_pyjwt_verifies_a_token_with_only_the_published_jwks(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    token = issue(http, auth, "adult")["token"]
    jwks = pyjwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").get_json())
    key = jwks[pyjwt.get_unverified_header(token)["kid"]]
    claims = pyjwt.decode(
        token, key=key, algorithms=["EdDSA"], audience="persona-chat", issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["sub"] == "adult"


def test_consent_turns_needs_consent_into_allow_with_the_obligations(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "kid", method="self_declared", birth_date="2016-03-01")
    register(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    consent = http.post("/v1/consents", headers=auth, json={
        "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent",
        "scopes": ["pi_processing", "companion"], "method": "in_app", "evidence_ref": "e", "notice_version": "v3",
    }).get_json()
    claims = segment(issue(http, auth, "kid")["token"], 1)
    assert claims["features"]["pi_processing"] == {"decision": ALLOW, "obligations": []}
    assert claims["features"]["companion"] == {"decision": ALLOW, "obligations": ["minor_mode"]}
    assert claims["features"]["digital_human"] == {"decision": CONSENT}
    assert claims["consents"] == [consent["consent_id"]]


def test_companion_consent_without_pi_processing_is_still_needs_consent(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "kid", method="self_declared", birth_date="2016-03-01")
    register(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    http.post("/v1/consents", headers=auth, json={
        "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent",
        "scopes": ["companion"], "method": "in_app", "evidence_ref": "e", "notice_version": "v3",
    })
    assert segment(issue(http, auth, "kid")["token"], 1)["features"]["companion"] == {"decision": CONSENT}


def test_a_token_relying_on_a_consent_expires_with_it(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "kid", method="self_declared", birth_date="2016-03-01")
    register(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    http.post("/v1/consents", headers=auth, json={
        "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing"],
        "method": "in_app", "evidence_ref": "e", "notice_version": "v3", "expires_at": "2026-11-27T03:20:00Z",
    })
    claims = segment(issue(http, auth, "kid")["token"], 1)
    assert claims["exp"] == int(datetime(2026, 11, 27, 3, 20, tzinfo=timezone.utc).timestamp())


def test_a_child_who_turned_14_keeps_only_consents_the_minor_column_still_needs(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "kid", method="self_declared", birth_date="2012-11-27")
    register(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    http.post("/v1/consents", headers=auth, json={
        "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent",
        "scopes": ["pi_processing", "companion", "paid_interaction"],
        "method": "in_app", "evidence_ref": "e", "notice_version": "v3",
    })
    clock.advance(days=1)
    claims = segment(issue(http, auth, "kid")["token"], 1)
    assert claims["age_bracket"] == "minor"
    assert claims["features"]["paid_interaction"] == {"decision": ALLOW, "obligations": ["spending_limit"]}
    assert claims["features"]["companion"] == {"decision": ALLOW, "obligations": ["minor_mode"]}


def test_online_verification_answers_with_the_decision_for_a_feature(http, api, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "teen", method="self_declared", birth_date="2010-01-01")
    token = issue(http, auth, "teen")["token"]
    persona = api.bearer("tokens:verify", audience="persona-chat")
    answer = http.post("/v1/tokens/verify", json={"token": token, "feature": "companion"}, headers=persona).get_json()
    assert answer["active"] is True and answer["decision"] == ALLOW and answer["obligations"] == ["minor_mode"]
    answer = http.post("/v1/tokens/verify", json={"token": token, "feature": "virtual_intimacy"}, headers=persona).get_json()
    assert answer["active"] is True and answer["decision"] == DENY and answer["reason"] == "minor_ban"


def test_online_verification_uses_the_callers_registered_audience(http, api, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "teen", method="self_declared", birth_date="2010-01-01")
    token = issue(http, auth, "teen", audience="persona-chat")["token"]
    other = api.bearer("tokens:verify", audience="persona-voice")
    answer = http.post("/v1/tokens/verify", json={"token": token}, headers=other).get_json()
    assert answer == {"active": False, "reason": "wrong_audience"}


def test_online_verification_sees_subjects_registered_after_its_status_cache_was_filled(http, api, auth) -> None:  # type: ignore[no-untyped-def]
    persona = api.bearer("tokens:verify")
    register(http, auth, "first", method="self_declared", birth_date="1990-01-01")
    first = issue(http, auth, "first")["token"]
    assert http.post("/v1/tokens/verify", json={"token": first}, headers=persona).get_json()["active"] is True
    register(http, auth, "second", method="self_declared", birth_date="1990-01-01")
    second = issue(http, auth, "second")["token"]
    assert http.post("/v1/tokens/verify", json={"token": second}, headers=persona).get_json()["active"] is True


def test_an_offline_verifier_accepts_a_new_subjects_token_from_the_list_it_already_cached(http, auth, clock) -> None:  # type: ignore[no-untyped-def]
    verifier = offline_verifier(http, clock)
    register(http, auth, "first", method="self_declared", birth_date="1990-01-01")
    verifier.verify(issue(http, auth, "first")["token"])  # caches the status list
    register(http, auth, "second", method="self_declared", birth_date="1990-01-01")
    assert verifier.verify(issue(http, auth, "second")["token"])["sub"] == "second"


def test_online_verification_of_garbage_is_inactive_not_an_error(http, api) -> None:  # type: ignore[no-untyped-def]
    persona = api.bearer("tokens:verify")
    answer = http.post("/v1/tokens/verify", json={"token": "not.a.token"}, headers=persona)
    assert answer.status_code == 200 and answer.get_json()["active"] is False


def test_withdrawal_revokes_the_childs_tokens_online_and_offline(http, auth, api, clock) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "kid", method="self_declared", birth_date="2016-03-01")
    register(http, auth, "mum", method="resident_id", resident_id=GUARDIAN_ID)
    consent_id = http.post("/v1/consents", headers=auth, json={
        "child_ref": "kid", "guardian_ref": "mum", "relationship": "parent", "scopes": ["pi_processing", "companion"],
        "method": "in_app", "evidence_ref": "e", "notice_version": "v3",
    }).get_json()["consent_id"]
    token = issue(http, auth, "kid")["token"]
    verifier = offline_verifier(http, clock)
    assert verifier.gate(token, "companion").allowed
    persona = api.bearer("tokens:verify")
    http.post(f"/v1/consents/{consent_id}/withdraw", json={}, headers=auth)
    clock.advance(seconds=61)  # one AGEGATE_STATUS_TTL later every offline verifier has refetched
    with pytest.raises(Revoked):
        verifier.verify(token)
    assert http.post("/v1/tokens/verify", json={"token": token}, headers=persona).get_json() == {
        "active": False, "reason": "revoked"
    }
    fresh = issue(http, auth, "kid")["token"]
    assert verifier.gate(fresh, "companion").decision == CONSENT


def test_erasing_a_subject_revokes_its_tokens(http, auth, api) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    token = issue(http, auth, "adult")["token"]
    persona = api.bearer("tokens:verify")
    assert http.post("/v1/tokens/verify", json={"token": token}, headers=persona).get_json()["active"] is True
    http.delete("/v1/subjects/adult", headers=auth)
    # the in-process status cache refreshes every second
    import time

    time.sleep(1.1)
    assert http.post("/v1/tokens/verify", json={"token": token}, headers=persona).get_json()["reason"] == "revoked"


def test_the_status_list_is_a_signed_token_status_list(http, auth) -> None:  # type: ignore[no-untyped-def]
    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    uri = segment(issue(http, auth, "adult")["token"], 1)["status"]["status_list"]["uri"]
    response = http.get(uri[len(ISSUER):])
    assert response.status_code == 200 and response.mimetype == "application/statuslist+jwt"
    assert "max-age" in response.headers["Cache-Control"] and response.headers["ETag"]
    header, claims = segment(response.get_data(as_text=True), 0), segment(response.get_data(as_text=True), 1)
    assert header["typ"] == "statuslist+jwt" and header["alg"] == "EdDSA"
    assert claims["sub"] == uri and claims["ttl"] == 60 and claims["exp"] == claims["iat"] + 60
    assert claims["status_list"]["bits"] == 1
    lst = claims["status_list"]["lst"]
    zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))


def test_the_status_list_is_gzipped_for_clients_that_accept_it(http, auth) -> None:  # type: ignore[no-untyped-def]
    import gzip

    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    uri = segment(issue(http, auth, "adult")["token"], 1)["status"]["status_list"]["uri"]
    plain = http.get(uri[len(ISSUER):])
    packed = http.get(uri[len(ISSUER):], headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert segment(gzip.decompress(packed.data).decode(), 1)["status_list"] == segment(plain.get_data(as_text=True), 1)["status_list"]
    assert "Content-Encoding" not in plain.headers


def test_an_unknown_status_list_is_404(http) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/v1/status-lists/999999").status_code == 404


def test_published_documents_carry_etags_and_answer_304(http) -> None:  # type: ignore[no-untyped-def]
    for path in ("/.well-known/jwks.json", "/.well-known/agegate", "/v1/policy"):
        first = http.get(path)
        assert first.status_code == 200 and "max-age" in first.headers["Cache-Control"]
        again = http.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304, path


def test_discovery_names_the_brackets_and_categories(http) -> None:  # type: ignore[no-untyped-def]
    doc = http.get("/.well-known/agegate").get_json()
    assert doc["issuer"] == ISSUER and doc["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert doc["brackets"] == ["under_14", "minor", "adult", "older"]
    assert "virtual_intimacy" in doc["feature_categories"] and doc["token_type"] == "age-bracket+jwt"


def test_the_policy_document_gives_each_rule_its_legal_basis(http) -> None:  # type: ignore[no-untyped-def]
    policy = http.get("/v1/policy").get_json()
    assert policy["version"] == "2026-07-15.2"
    cell = policy["rules"]["minor"]["virtual_intimacy"]
    assert cell["decision"] == "deny" and "Art. 14" in cell["basis"]


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(http, auth, api, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    from service.store.db import transaction
    from service.tokens.keys import create_key

    register(http, auth, "adult", method="self_declared", birth_date="1990-01-01")
    old = issue(http, auth, "adult")["token"]
    with transaction(runtime.sessions) as session:
        new_kid = create_key(session, runtime.kek, clock())
    runtime.keyring.refresh()
    new = issue(http, auth, "adult")["token"]
    assert segment(new, 0)["kid"] == new_kid != segment(old, 0)["kid"]
    kids = {k["kid"] for k in http.get("/.well-known/jwks.json").get_json()["keys"]}
    assert {segment(old, 0)["kid"], new_kid} <= kids
    verifier = offline_verifier(http, clock)
    assert verifier.verify(old)["sub"] == verifier.verify(new)["sub"] == "adult"
    persona = api.bearer("tokens:verify")
    assert http.post("/v1/tokens/verify", json={"token": old}, headers=persona).get_json()["active"] is True


def test_a_retired_key_leaves_the_jwks_once_its_tokens_can_no_longer_live(http, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    from service.store.db import transaction
    from service.tokens.keys import create_key

    first = http.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]
    with transaction(runtime.sessions) as session:
        create_key(session, runtime.kek, clock())
    clock.advance(days=1, seconds=61)
    runtime.keyring.refresh()
    kids = [k["kid"] for k in http.get("/.well-known/jwks.json").get_json()["keys"]]
    assert first not in kids and len(kids) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"token": "a.b.c"},
        {"token": "a.b.c", "feature": "companion"},
        {"token": "x" * 16384, "feature": "f" * 64},
        {"token": "x" * 16385},
        {"token": "a.b.c", "feature": "f" * 65},
        {"token": ""},
        {"token": "a.b.c", "feature": ""},
        {"token": "a.b.c", "feature": None},
        {"token": None},
        {"token": 5},
        {"token": True},
        {"token": ["a.b.c"]},
        {"token": "a.b.c", "feature": 1},
        {"token": "a.b.c", "extra": 1},
        {"feature": "companion"},
        {},
        [],
        "a.b.c",
        None,
    ],
)
def test_the_hand_check_of_a_verify_body_accepts_exactly_what_the_schema_accepts(body) -> None:  # type: ignore[no-untyped-def]
    assert well_formed_verify_body(body) == (not VERIFY.validate(body))
    if well_formed_verify_body(body):
        assert VERIFY.load(body) == body


@pytest.mark.parametrize(
    "body",
    [
        {"subject_ref": "s-1", "audience": "persona-chat"},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": 600},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": 1},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": 86_400},
        {"subject_ref": "r" * 128, "audience": "!-.0~"},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": 0},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": 86_401},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": -5},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": 600.0},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": "600"},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": True},
        {"subject_ref": "s-1", "audience": "persona-chat", "ttl": None},
        {"subject_ref": "r" * 129, "audience": "persona-chat"},
        {"subject_ref": "", "audience": "persona-chat"},
        {"subject_ref": "s 1", "audience": "persona-chat"},
        {"subject_ref": "s/1", "audience": "persona-chat"},
        {"subject_ref": "s-1\n", "audience": "persona-chat"},
        {"subject_ref": "s-\u00e9", "audience": "persona-chat"},
        {"subject_ref": "s-1", "audience": "persona chat"},
        {"subject_ref": "s-1", "audience": None},
        {"subject_ref": 1, "audience": "persona-chat"},
        {"subject_ref": ["s-1"], "audience": "persona-chat"},
        {"subject_ref": "s-1"},
        {"audience": "persona-chat"},
        {"subject_ref": "s-1", "audience": "persona-chat", "extra": 1},
        {},
        [],
        "s-1",
        None,
    ],
)
def test_the_hand_check_of_an_issue_body_accepts_exactly_what_the_schema_accepts(body) -> None:  # type: ignore[no-untyped-def]
    assert well_formed_issue_body(body) == (not ISSUE.validate(body))
    if well_formed_issue_body(body):
        assert ISSUE.load(body) == body
