"""Write paths that touch the same rows race without deadlocking (issue 16, D3).

Each round registers a fresh family, then releases two conflicting requests at once through a
barrier. Before one lock order was followed, withdraw (consent -> log head -> child) against
erase (child first) ended with one side 503 in 30 of 30 rounds, and erasing a guardian and its
child together deadlocked in 12 of 20. Every answer must now be a success or an honest 409,
and the tenant's chain must stay whole.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from service.app import create_app
from service.store import migrate
from service.store.db import transaction
from service.store.models import Consent, ConsentEnding
from tests.dbroles import runtime_role
from tests.integration.conftest import (
    CHILD_BIRTH_DATE,
    PostgresDatabases,
    bearer_for,
    consent_body,
    make_client,
    needs_postgres,
    register,
    settings_for,
)
from tests.integration.test_concurrency import assert_chain_is_whole

pytestmark = needs_postgres

ROUNDS = 50
TENANT = "tenant-races"

# the weights and check characters of GB 11643 (a guardian needs document assurance)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(n: int) -> str:
    """A well-formed resident ID of an adult born 1984-04-06; `n` keeps each one distinct."""
    body = f"11010219840406{n % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


@dataclass
class Service:
    app: Flask
    auth: dict[str, str]

    def sessions(self) -> Any:
        return self.app.extensions["agegate"].sessions


@pytest.fixture(scope="module")
def service(postgres_databases: PostgresDatabases) -> Iterator[Service]:
    owner_url = postgres_databases.create("agegate_it_races")
    migrate.upgrade(owner_url)
    with runtime_role(owner_url) as url:  # the service connects as the runtime role
        app = create_app(settings_for(url))
        auth = bearer_for(app.test_client(), *make_client(url, "subjects:write", "consent:write", "consent:read", tenant=TENANT))
        try:
            yield Service(app, auth)
        finally:
            app.extensions["agegate"].engine.dispose()


def both_at_once(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    barrier = threading.Barrier(2)

    def start(work: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return work()

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(start, first), pool.submit(start, second)
        return a.result(), b.result()


def family(service: Service, name: str, n: int) -> str:
    """A child and its guardian with one active consent; returns the consent id."""
    http = service.app.test_client()
    register(http, service.auth, f"{name}-child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
    register(http, service.auth, f"{name}-parent", method="resident_id", resident_id=resident_id(n))
    body = consent_body(child_ref=f"{name}-child", guardian_ref=f"{name}-parent", scopes=["pi_processing"])
    response = http.post("/v1/consents", json=body, headers=service.auth)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["consent_id"])


def answer(response: Any) -> tuple[int, str | None]:
    body = response.get_json(silent=True) or {}
    return response.status_code, body.get("code") or body.get("type")


def endings_of(service: Service, consent_id: str) -> list[str]:
    with transaction(service.sessions()) as session:
        return list(session.scalars(select(ConsentEnding.kind).where(ConsentEnding.consent_id == consent_id)))


def test_withdraw_racing_the_childs_erasure_never_deadlocks(service: Service) -> None:
    outcomes: Counter[tuple[tuple[int, str | None], tuple[int, str | None]]] = Counter()
    for n in range(ROUNDS):
        consent_id = family(service, f"w{n}", n)
        http_a, http_b = service.app.test_client(), service.app.test_client()
        withdrawn, erased = both_at_once(
            lambda: http_a.post(f"/v1/consents/{consent_id}/withdraw", json={"reason": "race"}, headers=service.auth),
            lambda: http_b.delete(f"/v1/subjects/w{n}-child", headers=service.auth),
        )
        outcomes[answer(withdrawn), answer(erased)] += 1
        # exactly one of them ended the consent
        assert len(endings_of(service, consent_id)) == 1
    # withdraw first: 200 then the erasure 204; erasure first: the consent has already ended (409)
    assert set(outcomes) <= {((200, None), (204, None)), ((409, "consent_ended"), (204, None))}, outcomes
    assert_chain_is_whole(service, TENANT)  # type: ignore[arg-type]


def test_erasing_a_guardian_and_its_child_at_once_never_deadlocks(service: Service) -> None:
    outcomes: Counter[tuple[tuple[int, str | None], tuple[int, str | None]]] = Counter()
    for n in range(ROUNDS):
        consent_id = family(service, f"e{n}", ROUNDS + n)
        http_a, http_b = service.app.test_client(), service.app.test_client()
        guardian, child = both_at_once(
            lambda: http_a.delete(f"/v1/subjects/e{n}-parent", headers=service.auth),
            lambda: http_b.delete(f"/v1/subjects/e{n}-child", headers=service.auth),
        )
        outcomes[answer(guardian), answer(child)] += 1
        assert endings_of(service, consent_id) == ["subject_erased"]
    assert set(outcomes) == {((204, None), (204, None))}, outcomes
    with transaction(service.sessions()) as session:
        left = session.scalars(select(Consent.consent_id).where(Consent.tenant == TENANT)).all()
    assert len(left) == 2 * ROUNDS  # consents stay (append-only); only their endings were added
    assert_chain_is_whole(service, TENANT)  # type: ignore[arg-type]
