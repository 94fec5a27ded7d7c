"""Facts the store reports; api/problems.py decides what each means over HTTP."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's own errors."""


class NotFound(StoreError):
    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(f"no {kind} {ref!r} in this tenant")
        self.kind = kind
        self.ref = ref


class Conflict(StoreError):
    """The request contradicts what is already recorded; `code` names which rule."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class DeadlockRetriedOut(StoreError):
    """The database aborted the transaction (deadlock or serialization failure) on every
    one of `attempts` tries; nothing was written."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"the database aborted the transaction {attempts} times to break a deadlock")
        self.attempts = attempts
