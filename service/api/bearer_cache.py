"""The in-process cache of verified access tokens, and the bound it puts on revocation.

Bearer checks run on every request; a verified token is remembered for at most
CACHE_SECONDS, so the hot paths cost no query. The price: a client revoked, or whose secret
was rotated, from another process (the CLI, another instance) keeps working on an instance
that already cached its token for up to CACHE_SECONDS. A token revoked through this
process's /oauth/revoke is forgotten at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000

V = TypeVar("V")


class BearerCache(Generic[V]):
    """A small LRU of digest(token) -> (value, valid-until); `clock` returns seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: V, seconds_left: float) -> None:
        """Remember `value` for CACHE_SECONDS, or less when the token expires sooner."""
        with self._lock:
            self._entries[key] = (value, self._clock() + min(CACHE_SECONDS, seconds_left))
            self._entries.move_to_end(key)
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
