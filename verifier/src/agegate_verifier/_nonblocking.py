"""How ``AsyncVerifier`` keeps the event loop free: sources ask before they would block.

The sync sources (``HttpJwks``, ``HttpStatusLists``) call :func:`may_block` before a fetch
and take their locks through :func:`locked`. On the event loop, inside :func:`no_blocking`,
either raises :class:`WouldBlock`, a ``BaseException`` so no ``except Exception`` in a
source records it as a failed fetch; ``AsyncVerifier`` then runs the same call in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = threading.local()


class WouldBlock(BaseException):
    """The call needs I/O (or a lock held by I/O) and runs where it must not block."""


@contextmanager
def no_blocking() -> Iterator[None]:
    """Inside this block, in this thread, :func:`may_block` and :func:`locked` refuse to wait."""
    _state.active = True
    try:
        yield
    finally:
        _state.active = False


def may_block() -> None:
    """Raise :class:`WouldBlock` inside :func:`no_blocking`; return otherwise."""
    if getattr(_state, "active", False):
        raise WouldBlock


@contextmanager
def locked(lock: threading.Lock) -> Iterator[None]:
    """Hold ``lock``; inside :func:`no_blocking` only if it is free right now."""
    if getattr(_state, "active", False):
        if not lock.acquire(blocking=False):
            raise WouldBlock
    else:
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
