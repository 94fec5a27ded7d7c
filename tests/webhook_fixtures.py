"""Fixtures of the tests that deliver webhooks to a real receiver; import them by name.

`clock` runs on real time (the Standard Webhooks library refuses signatures more than five
minutes off), `runtime` may deliver to loopback, and `receiver` is a real HTTP receiver on a
free port, stopped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from tests.conftest import FakeClock
from tests.webhook_receiver import Receiver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def runtime(runtime):  # type: ignore[no-untyped-def]
    return replace(runtime, settings=replace(runtime.settings, webhook_allow_private=True))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    if receiver._server is not None:
        receiver.stop()
