"""A sandbox tenant's runtime runs on its own clock; production tenants' on the real one (CONTRACT §15)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.runtime import Runtime
from service.store import sandbox as sandbox_store
from service.store.db import transaction
from tests.conftest import FakeClock


def _make_sandbox(runtime: Runtime, tenant: str) -> None:
    with transaction(runtime.sessions) as session:
        sandbox_store.check_kind(session, tenant, sandbox=True)
        sandbox_store.register(session, tenant, runtime.clock())


def test_a_sandbox_tenants_clock_moves_and_a_production_tenants_does_not(runtime: Runtime, clock: FakeClock) -> None:
    _make_sandbox(runtime, "try-app")
    with transaction(runtime.sessions) as session:
        assert sandbox_store.advance_clock(session, "try-app", timedelta(days=1)) == timedelta(days=1)
        assert sandbox_store.advance_clock(session, "try-app", timedelta(hours=2)) == timedelta(days=1, hours=2)

    sandboxed = runtime.for_tenant("try-app")
    assert sandboxed.clock() == clock() + timedelta(days=1, hours=2)
    assert sandboxed.deps.clock() == clock() + timedelta(days=1, hours=2)
    clock.advance(minutes=5)  # the sandbox clock runs on with the real one
    assert sandboxed.clock() == clock() + timedelta(days=1, hours=2)

    assert runtime.for_tenant("live-app") is runtime
    assert runtime.for_caller("live-app", sandbox=False) is runtime
    assert runtime.for_caller("try-app", sandbox=True).clock() == clock() + timedelta(days=1, hours=2)
    assert runtime.deps.clock() == clock()


@pytest.mark.parametrize("step", [timedelta(0), timedelta(seconds=-1)])
def test_a_sandbox_clock_never_runs_back(runtime: Runtime, step: timedelta) -> None:
    _make_sandbox(runtime, "try-app")
    with transaction(runtime.sessions) as session, pytest.raises(ValueError, match="only moves forward"):
        sandbox_store.advance_clock(session, "try-app", step)


def test_a_production_tenants_clock_cannot_be_moved(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session, pytest.raises(LookupError):
        sandbox_store.advance_clock(session, "live-app", timedelta(days=1))
