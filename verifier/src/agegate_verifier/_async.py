"""``AsyncVerifier``: the same checks for asyncio services, never blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ._claims import Decision
from ._nonblocking import WouldBlock, no_blocking
from ._verifier import Verifier


class AsyncVerifier:
    """Verifies age tokens like ``Verifier`` (same arguments, same answers), for asyncio.

    A token whose key and status list are cached is checked right on the event loop (tens
    of microseconds of CPU). When a JWKS or status list must be fetched, or another thread
    is fetching it, the call moves to a worker thread (``asyncio.to_thread``) and awaits it,
    so the loop never waits on the network.
    """

    def __init__(self, issuer: str, audience: str, **options: Any) -> None:
        self.sync = Verifier(issuer, audience, **options)

    async def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid ``token``; raise an ``InvalidToken`` subclass."""
        return await self._run(self.sync.verify, token)

    async def gate(self, token: str, feature: str) -> Decision:
        """Return what the token decides for ``feature``; never raises for a bad token."""
        return await self._run(self.sync.gate, token, feature)

    async def verify_and_gate(self, token: str, feature: str) -> tuple[dict[str, Any], Decision]:
        """The claims and the decision for ``feature`` from one check; raises like ``verify``."""
        return await self._run(self.sync.verify_and_gate, token, feature)

    @staticmethod
    async def _run(call: Callable[..., Any], *args: Any) -> Any:
        try:
            with no_blocking():
                return call(*args)
        except WouldBlock:
            return await asyncio.to_thread(call, *args)
