"""POST /v1/tokens/verify's verifiers stay within a worker's memory budget (service/tokens/online.py)."""

from __future__ import annotations

from service.runtime import Runtime
from service.tokens.online import VERIFIERS_KEPT


def test_the_most_recently_used_verifiers_are_kept_and_the_oldest_goes(runtime: Runtime) -> None:
    verifiers = runtime.online_verifiers
    first = verifiers("persona-0", "tenant-a")
    kept = [verifiers(f"persona-{n}", "tenant-a") for n in range(1, VERIFIERS_KEPT)]
    assert verifiers("persona-0", "tenant-a") is first  # used again: now the most recent
    verifiers("persona-new", "tenant-a")  # one too many: persona-1, the least recently used, goes
    assert verifiers("persona-0", "tenant-a") is first
    assert verifiers("persona-2", "tenant-a") is kept[1]
    assert verifiers("persona-1", "tenant-a") is not kept[0]
    assert verifiers("persona-0", "tenant-b") is not first  # one per audience and tenant
