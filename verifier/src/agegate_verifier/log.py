"""Offline verification of a consent-log export (contract sections 8 and 16).

Reads the NDJSON stream line by line in constant memory, with no database and no service:
only the export and the service's JWKS. Every check that fails raises
:class:`ExportInvalid` naming the first seq the export fails to prove:

- a line that cannot be read: the seq expected there (None before the first event);
- a seq discontinuity (dropped, reordered, duplicated or inserted line): the lower of the
  seq expected and the seq found, i.e. the first position the chain does not cover;
- an event that does not hash to its ``hash``, or a bad event: that event's seq;
- a ``prev`` that is not the previous ``hash``: the previous seq, since either line may be
  the edited one (an editor who re-hashes event k breaks the link to k+1);
- a checkpoint whose seq or count disagrees with the lines: the first seq one side has and
  the other lacks; any other checkpoint failure: the last event's seq (the checkpoint's
  own seq for an empty export); a missing checkpoint: the last seq read, or None;
- with ``since`` (a checkpoint kept from an earlier export): the kept seq, when the new
  export holds another hash there (history rewritten), ends before it (truncated) or
  starts after it (it cannot show the two agree).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from ._constants import GENESIS
from ._jwks import StaticKeys, keys_from_jwks
from ._lines import BAD_AT_SEQ, CHECKPOINT, EVENT, Record, classify
from .chain import is_hash
from .checkpoint import CheckpointInvalid, KeptCheckpoint, verified_checkpoint

__all__ = ["ExportInvalid", "ExportReport", "JWKSInvalid", "jwks_keys", "verify_export"]

_CHECKPOINT_KEYS = frozenset({"kind", "seq", "head", "count", "jws"})
_PROGRESS_EVERY = 1 << 14


class JWKSInvalid(ValueError):
    """The JWKS is not a usable JSON Web Key Set (bad input, not a bad export)."""


class ExportInvalid(Exception):
    """The export fails a check. ``reason`` is a stable code; ``detail`` is for humans."""

    def __init__(self, seq: int | None, reason: str, line_no: int, detail: str = "") -> None:
        super().__init__(f"seq {seq} (line {line_no}): {reason}{': ' + detail if detail else ''}")
        self.seq = seq
        self.reason = reason
        self.line_no = line_no
        self.detail = detail


@dataclass(frozen=True)
class ExportReport:
    """What a valid export proves. For an empty export ``first_seq == last_seq + 1``."""

    tenant: str
    first_seq: int
    last_seq: int
    count: int
    head: str
    kid: str


def jwks_keys(jwks: Mapping[str, Any]) -> StaticKeys:
    """The Ed25519 signing keys of ``jwks``; raise ``JWKSInvalid`` when it has none."""
    try:
        keys = keys_from_jwks(jwks)
    except ValueError as error:
        raise JWKSInvalid(str(error)) from None
    if not keys:
        raise JWKSInvalid("the JWKS holds no Ed25519 signing key whose kid is its thumbprint")
    return StaticKeys(keys)


class _Reader:
    """The state of one pass over an export: what has been proven so far."""

    def __init__(self, since: KeptCheckpoint | None) -> None:
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.head = GENESIS
        self.count = 0
        self.tenant: str | None = None
        self.since = since
        # A kept checkpoint at seq 0 is the empty chain, which every chain extends.
        self.since_seen = since is None or since.seq == 0

    @property
    def expected(self) -> int | None:
        return None if self.last_seq is None else self.last_seq + 1

    def event(self, record: Record, line_no: int) -> None:
        """Apply an EVENT record (``_lines``): the checks that need the lines before it."""
        _, seq, prev, hash_, tenant, bad_event, hash_ok = record
        expected = self.expected
        if expected is None:
            # An export may start mid-chain; only seq 1 may (and must) start from GENESIS.
            if (seq == 1) != (prev == GENESIS):
                raise ExportInvalid(seq, "bad_genesis", line_no, "prev is GENESIS iff seq is 1")
            if self.since is not None and seq == self.since.seq + 1:
                self._since_matches(prev, line_no)
        elif seq != expected:
            reason = "seq_gap" if seq > expected else "seq_not_increasing"
            raise ExportInvalid(min(seq, expected), reason, line_no, f"expected seq {expected}, found {seq}")
        elif prev != self.head:
            raise ExportInvalid(self.last_seq, "prev_mismatch", line_no,
                                f"prev of seq {seq} is not the hash of seq {self.last_seq}")
        if bad_event is not None:
            raise ExportInvalid(seq, "bad_event", line_no, bad_event)
        if self.tenant is None:
            self.tenant = tenant
            if self.since is not None and self.since.tenant != tenant:
                raise ExportInvalid(seq, "tenant_mismatch", line_no, f"the kept checkpoint is of tenant {self.since.tenant!r}")
        elif tenant != self.tenant:
            raise ExportInvalid(seq, "tenant_mismatch", line_no, f"tenant is not {self.tenant!r}")
        if not hash_ok:
            raise ExportInvalid(seq, "hash_mismatch", line_no, "event does not hash to its hash")
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq, self.head, self.count = seq, hash_, self.count + 1
        if self.since is not None and seq == self.since.seq:
            self._since_matches(hash_, line_no)

    def _since_matches(self, hash_: str, line_no: int) -> None:
        assert self.since is not None
        if hash_ != self.since.head:
            raise ExportInvalid(self.since.seq, "history_rewritten", line_no,
                                f"the kept checkpoint's hash of seq {self.since.seq} is not this export's")
        self.since_seen = True

    def checkpoint(self, line: dict[str, Any], line_no: int, keys: StaticKeys, issuer: str | None) -> ExportReport:
        seq, head, count = line.get("seq"), line.get("head"), line.get("count")
        if line.keys() != _CHECKPOINT_KEYS or type(seq) is not int or type(count) is not int:
            raise ExportInvalid(self.last_seq, "bad_line", line_no, "not a checkpoint line")
        if not is_hash(head) or not 0 <= count <= seq or (seq == 0) != (head == GENESIS):
            raise ExportInvalid(self.last_seq, "bad_checkpoint", line_no, "seq, head and count do not describe a chain")
        default_at = seq if self.last_seq is None else self.last_seq

        def fail(reason: str, detail: str, at: int | None = None) -> NoReturn:
            raise ExportInvalid(default_at if at is None else at, reason, line_no, detail)

        self._check_covers(seq, head, count, fail)
        try:
            kid, claims = verified_checkpoint(line.get("jws"), keys)
        except CheckpointInvalid as error:
            fail(error.reason, error.detail)
        if (claims["seq"], claims["head"], claims["count"]) != (seq, head, count):
            fail("claims_mismatch", "signed seq/head/count differ from the checkpoint line")
        tenant = claims["tenant"]
        if self.tenant is not None and tenant != self.tenant:
            fail("tenant_mismatch", f"checkpoint signed for tenant {tenant!r}")
        if issuer is not None and claims["iss"].rstrip("/") != issuer.rstrip("/"):
            fail("wrong_issuer", f"checkpoint issued by {claims['iss']!r}")
        self._check_since(tenant, seq, head, fail)
        first = seq + 1 if self.first_seq is None else self.first_seq
        return ExportReport(tenant=tenant, first_seq=first, last_seq=seq, count=count, head=head, kid=kid)

    def _check_covers(self, seq: int, head: str, count: int, fail: Callable[..., NoReturn]) -> None:
        """Fail unless the checkpoint's seq/head/count are exactly what was read."""
        if self.first_seq is None or self.last_seq is None:
            if count != 0:
                fail("checkpoint_mismatch", f"count {count} but no event lines", seq - count + 1)
            return
        if seq != self.last_seq:
            # Dropped tail or appended line: the first seq one side has and the other lacks.
            fail("checkpoint_mismatch", f"checkpoint seq {seq}, last event seq {self.last_seq}",
                 min(seq, self.last_seq) + 1)
        if count != self.count:
            # Same last seq, other count: lines dropped from (or added at) the start.
            claimed_first = seq - count + 1
            at = claimed_first if 1 <= claimed_first < self.first_seq else self.first_seq
            fail("checkpoint_mismatch", f"checkpoint count {count}, {self.count} event lines", at)
        if head != self.head:
            fail("checkpoint_mismatch", f"checkpoint head is not the hash of seq {seq}")

    def _check_since(self, tenant: str, seq: int, head: str, fail: Callable[..., NoReturn]) -> None:
        since = self.since
        if since is None:
            return
        if since.tenant != tenant:
            fail("tenant_mismatch", f"the kept checkpoint is of tenant {since.tenant!r}", since.seq)
        if self.since_seen or (since.seq == seq and since.head == head):
            return
        if since.seq > seq:
            fail("history_truncated", f"the log ends at seq {seq}, before the kept checkpoint", since.seq)
        if since.seq == seq:
            fail("history_rewritten", f"the log's head at seq {seq} is not the kept checkpoint's", since.seq)
        fail("checkpoint_not_covered",
             f"the export starts after seq {since.seq}; export from_seq={since.seq} or earlier", since.seq)


def verify_export(
    lines: Iterable[bytes | str],
    jwks: Mapping[str, Any] | StaticKeys,
    *,
    issuer: str | None = None,
    since: KeptCheckpoint | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Verify an export read line by line; return what it proves.

    Recomputes every hash, checks seq continuity and prev links, the event shape and tenant,
    that exactly one checkpoint closes the export, that its seq/head/count are what was read,
    and that its JWS verifies with an Ed25519 key of ``jwks`` and signs the same values (and
    ``iss == issuer`` when given); with ``since``, that the export extends that checkpoint.
    ``progress(lines_read)`` is called every few thousand lines and once at the end.

    Raises :class:`ExportInvalid` at the first failure (see the module docstring for the seq
    it names), and :class:`JWKSInvalid` when ``jwks`` has no usable key.
    """
    keys = jwks if isinstance(jwks, StaticKeys) else jwks_keys(jwks)
    reader = _Reader(since)
    report: ExportReport | None = None
    line_no = 0
    for line_no, raw in enumerate(lines, start=1):
        record = classify(raw if type(raw) is bytes else raw.encode("utf-8"))
        if report is not None:
            raise ExportInvalid(report.last_seq, "line_after_checkpoint", line_no)
        kind = record[0]
        if kind == EVENT:
            reader.event(record, line_no)
        elif kind == CHECKPOINT:
            report = reader.checkpoint(record[1], line_no, keys, issuer)
        elif kind == BAD_AT_SEQ:
            raise ExportInvalid(record[1], record[2], line_no, record[3])
        else:
            raise ExportInvalid(reader.expected, record[1], line_no, record[2])
        if progress is not None and not line_no % _PROGRESS_EVERY:
            progress(line_no)
    if progress is not None:
        progress(line_no)
    if report is None:
        raise ExportInvalid(reader.last_seq, "missing_checkpoint", line_no + 1)
    return report
