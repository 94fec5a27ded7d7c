"""The regulator's offline verifier of a consent-log export (CONTRACT.md §8).

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
  own seq for an empty export); a missing checkpoint: the last seq read, or None.

Large exports are verified in parallel: past ``parallel_threshold`` lines, worker processes
parse the lines and recompute the hashes (``_lines``, ``_parallel``) while this process
makes every check that depends on earlier lines, in line order, so the outcome and the seq
named are the same as in-process; the workers only read a bounded number of lines ahead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any, NoReturn, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.auditlog import _parallel
from service.auditlog._jwks import (
    JWKS_TIMEOUT_SECONDS,
    MAX_JWKS_BYTES,
    MAX_JWS_CHARS,
    JWKSInvalid,
    ed25519_keys,
    load_jwks,
    verified_jws,
)
from service.auditlog._lines import (
    BAD_AT_SEQ,
    CHECKPOINT,
    EVENT,
    MAX_LINE_BYTES,
    Record,
    classify,
)
from service.auditlog.chain import GENESIS, is_hash

__all__ = ["JWKS_TIMEOUT_SECONDS", "MAX_JWKS_BYTES", "MAX_JWS_CHARS", "MAX_LINE_BYTES",
           "PARALLEL_THRESHOLD", "ExportInvalid", "ExportReport", "JWKSInvalid", "load_jwks",
           "run_verify", "verify_export"]

# Below this many lines an export is verified in this process: a pool costs ~0.1 s to start.
PARALLEL_THRESHOLD = 20_000

_CHECKPOINT_KEYS = frozenset({"kind", "seq", "head", "count", "jws"})

_Fail = Callable[..., NoReturn]


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


class _Reader:
    """The state of one pass over an export: what has been proven so far."""

    def __init__(self) -> None:
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.head = GENESIS
        self.count = 0
        self.tenant: str | None = None

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
        elif seq != expected:
            reason = "seq_gap" if seq > expected else "seq_not_increasing"
            detail = f"expected seq {expected}, found {seq}"
            raise ExportInvalid(min(seq, expected), reason, line_no, detail)
        elif prev != self.head:
            raise ExportInvalid(self.last_seq, "prev_mismatch", line_no,
                                f"prev of seq {seq} is not the hash of seq {self.last_seq}")
        if bad_event is not None:
            raise ExportInvalid(seq, "bad_event", line_no, bad_event)
        if self.tenant is None:
            self.tenant = tenant
        elif tenant != self.tenant:
            raise ExportInvalid(seq, "tenant_mismatch", line_no, f"tenant is not {self.tenant!r}")
        if not hash_ok:
            raise ExportInvalid(seq, "hash_mismatch", line_no, "event does not hash to its hash")
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq, self.head, self.count = seq, hash_, self.count + 1

    def checkpoint(
        self, line: dict[str, Any], line_no: int, keys: Mapping[str, Ed25519PublicKey],
        issuer: str | None,
    ) -> ExportReport:
        seq, head, count = line.get("seq"), line.get("head"), line.get("count")
        if line.keys() != _CHECKPOINT_KEYS or type(seq) is not int or type(count) is not int:
            raise ExportInvalid(self.last_seq, "bad_line", line_no, "not a checkpoint line")
        if not is_hash(head) or not 0 <= count <= seq or (seq == 0) != (head == GENESIS):
            raise ExportInvalid(self.last_seq, "bad_checkpoint", line_no,
                                "seq, head and count do not describe a chain")
        default_at = seq if self.last_seq is None else self.last_seq

        def fail(reason: str, detail: str, at: int | None = None) -> NoReturn:
            raise ExportInvalid(default_at if at is None else at, reason, line_no, detail)

        self._check_covers(seq, head, count, fail)
        kid, claims = verified_jws(line.get("jws"), keys, fail)
        if (claims["seq"], claims["head"], claims["count"]) != (seq, head, count):
            fail("claims_mismatch", "signed seq/head/count differ from the checkpoint line")
        tenant = claims["tenant"]
        if self.tenant is not None and tenant != self.tenant:
            fail("tenant_mismatch", f"checkpoint signed for tenant {tenant!r}")
        if issuer is not None and claims["iss"] != issuer:
            fail("wrong_issuer", f"checkpoint issued by {claims['iss']!r}")
        first = seq + 1 if self.first_seq is None else self.first_seq
        return ExportReport(tenant=tenant, first_seq=first, last_seq=seq, count=count,
                            head=head, kid=kid)

    def _check_covers(self, seq: int, head: str, count: int, fail: _Fail) -> None:
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


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may run on
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _records(lines: Iterable[bytes | str], workers: int, threshold: int) -> Iterator[Record]:
    """The record of each line: the first ``threshold`` in-process, the rest in workers."""
    it = iter(lines)
    yield from map(classify, islice(it, threshold))
    if workers > 1 and sys.executable:
        yield from _parallel.classified(it, workers)
    else:
        yield from map(classify, it)


def verify_export(lines: Iterable[bytes | str], jwks: Mapping[str, Any], *,
                  issuer: str | None = None, workers: int | None = None,
                  parallel_threshold: int | None = None) -> ExportReport:
    """Verify an export read line by line; return what it proves.

    Recomputes every hash, checks seq continuity and prev links, the event shape and tenant,
    that exactly one checkpoint closes the export, that its seq/head/count are what was read,
    and that its JWS verifies with an Ed25519 key of ``jwks`` and signs the same values
    (and ``iss == issuer`` when given). Holds one line at a time for the first
    ``parallel_threshold`` lines (default :data:`PARALLEL_THRESHOLD`); past them, ``workers``
    processes (default: one per CPU; 1 means none) parse and hash a bounded number of lines
    ahead of the checks here. The outcome is the same either way.

    Raises :class:`ExportInvalid` at the first failure (see the module docstring for the seq
    it names), and :class:`JWKSInvalid` when ``jwks`` is not a JWKS.
    """
    keys = ed25519_keys(jwks)
    reader = _Reader()
    report: ExportReport | None = None
    line_no = 0
    threshold = PARALLEL_THRESHOLD if parallel_threshold is None else parallel_threshold
    records = _records(lines, _cpus() if workers is None else workers, threshold)
    try:
        for line_no, record in enumerate(records, start=1):
            if report is not None:
                raise ExportInvalid(report.last_seq, "line_after_checkpoint", line_no)
            if record[0] == EVENT:
                reader.event(record, line_no)
            elif record[0] == CHECKPOINT:
                report = reader.checkpoint(record[1], line_no, keys, issuer)
            elif record[0] == BAD_AT_SEQ:
                raise ExportInvalid(record[1], record[2], line_no, record[3])
            else:
                raise ExportInvalid(reader.expected, record[1], line_no, record[2])
    finally:
        records.close()  # stops any workers now, not when the generator is collected
    if report is None:
        raise ExportInvalid(reader.last_seq, "missing_checkpoint", line_no + 1)
    return report


def _bounded_lines(f: IO[bytes]) -> Iterator[bytes]:
    # readline with a limit: an over-long line arrives as a MAX+1 chunk that verify_export
    # refuses, instead of being read whole into memory.
    while line := f.readline(MAX_LINE_BYTES + 1):
        yield line


def run_verify(path: str, jwks_source: str, out: TextIO, *, issuer: str | None = None) -> int:
    """Verify the export at ``path``, print one line to ``out``, return the exit code.

    0 when every check passes, 1 when the export fails verification, 2 when the export or
    the JWKS cannot be read or the JWKS is not usable.
    """
    try:
        jwks = load_jwks(jwks_source)
        with open(path, "rb") as f:
            report = verify_export(_bounded_lines(f), jwks, issuer=issuer)
    except ExportInvalid as e:
        at = "-" if e.seq is None else e.seq
        print(f"FAIL at seq {at} (line {e.line_no}): {e.reason}"
              f"{': ' + e.detail if e.detail else ''}", file=out)
        return 1
    except (OSError, JWKSInvalid) as e:
        print(f"ERROR: cannot read input: {e}", file=out)
        return 2
    span = (f"seq {report.first_seq}..{report.last_seq}" if report.count
            else f"no events after seq {report.last_seq}")
    print(f"OK: tenant {report.tenant}, {span}, {report.count} events, head {report.head}, "
          f"checkpoint signed by kid {report.kid}", file=out)
    return 0
