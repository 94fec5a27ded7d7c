"""The parallel verifier (worker processes recompute the hashes) reaches the same verdict,
at the same line and naming the same seq, as the in-process one, for honest and tampered
exports alike; it reads a bounded number of lines ahead and leaves no worker behind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service.auditlog import _lines, _parallel
from service.auditlog.chain import link_hash
from service.auditlog.verify import MAX_LINE_BYTES, ExportInvalid, ExportReport, verify_export

N = 40  # events; with 3-line batches the tampering below lands on and across batch edges
BATCH = 3
K = 7  # first line of the third batch


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel, "BATCH_LINES", BATCH)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every worker the verifier starts, to check the parallel path ran and was cleaned up."""
    workers: list[Any] = []
    real = _parallel._Worker

    def spy() -> Any:
        worker = real()
        workers.append(worker)
        return worker

    monkeypatch.setattr(_parallel, "_Worker", spy)
    return workers


def outcome(lines: Any, jwks: dict[str, Any], **kwargs: Any) -> ExportReport | tuple[Any, ...]:
    try:
        return verify_export(lines, jwks, **kwargs)
    except ExportInvalid as e:
        return (e.seq, e.reason, e.line_no, e.detail)


def both(lines: list[bytes], jwks: dict[str, Any], started: list[Any]) -> Any:
    """The outcome in-process and in parallel (from line 1, and switching mid-export)."""
    alone = outcome(lines, jwks, workers=1)
    assert outcome(lines, jwks, workers=2, parallel_threshold=0) == alone
    assert outcome(iter(lines), jwks, workers=2, parallel_threshold=5) == alone
    assert started, "the parallel path did not run"
    assert all(w.proc.returncode is not None for w in started), "a worker was left running"
    return alone


def rehashed(lines: list[bytes], i: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit line ``i``'s event and re-hash it, as a forger would."""
    obj = json.loads(lines[i])
    change(obj["event"])
    obj["hash"] = link_hash(obj["prev"], obj["event"])
    lines[i] = json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def edited(lines: list[bytes], i: int, change: Callable[[dict[str, Any]], None]) -> None:
    obj = json.loads(lines[i])
    change(obj)
    lines[i] = json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def test_an_honest_export_verifies_the_same(exports: Any, signer: Any, started: list) -> None:
    report = both(exports.export(N, nonascii=True), signer.jwks, started)
    assert isinstance(report, ExportReport) and report.count == N


def test_an_export_starting_mid_chain_verifies_the_same(
    exports: Any, signer: Any, started: list
) -> None:
    report = both(exports.export(N, start=K), signer.jwks, started)
    assert isinstance(report, ExportReport) and (report.first_seq, report.count) == (K, N - K + 1)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda obj: obj.__setitem__(key, value)


TAMPERINGS: dict[str, tuple[Callable[[list[bytes]], None], tuple[Any, str]]] = {
    "edited event": (lambda ls: edited(ls, K - 1, lambda o: o["event"].update(scopes=[])),
                     (K, "hash_mismatch")),
    "edited first line": (lambda ls: edited(ls, 0, lambda o: o["event"].update(method="x")),
                          (1, "hash_mismatch")),
    "edited and rehashed": (lambda ls: rehashed(ls, K - 1, _set("method", "forged")),
                            (K, "prev_mismatch")),
    "other tenant, rehashed": (lambda ls: rehashed(ls, K - 1, _set("tenant", "t-other")),
                               (K, "tenant_mismatch")),
    "unhashable event": (lambda ls: edited(ls, K - 1, lambda o: o["event"].update(policy=2**60)),
                         (K, "bad_event")),
    "missing event field": (lambda ls: edited(ls, K, lambda o: o["event"].pop("policy")),
                            (K + 1, "bad_event")),
    "dropped line": (lambda ls: ls.pop(K - 1), (K, "seq_gap")),
    "swapped lines": (lambda ls: ls.insert(K, ls.pop(K - 1)), (K, "seq_gap")),
    "duplicated line": (lambda ls: ls.insert(K, ls[K - 1]), (K, "seq_not_increasing")),
    "truncated line": (lambda ls: ls.__setitem__(K - 1, ls[K - 1][:50]), (K, "malformed_json")),
    "duplicate member": (lambda ls: ls.__setitem__(K - 1, ls[K - 1][:-2] + b',"seq":7}\n'),
                         (K, "duplicate_member")),
    "over-long line": (lambda ls: ls.__setitem__(K - 1, b" " * (MAX_LINE_BYTES + 1)),
                       (K, "line_too_long")),
    "upper-case hash": (lambda ls: edited(ls, K - 1, lambda o: o.update(hash=o["hash"].upper())),
                        (K, "bad_line")),
    "not an event line": (lambda ls: edited(ls, K - 1, lambda o: o.pop("prev")),
                          (K, "bad_line")),
    "unknown kind": (lambda ls: edited(ls, K - 1, _set("kind", "note")), (K, "bad_line")),
    "not an object": (lambda ls: ls.__setitem__(K - 1, b"[]\n"), (K, "bad_line")),
    "first line not from genesis": (lambda ls: edited(ls, 0, _set("prev", "1" * 64)),
                                    (1, "bad_genesis")),
    "dropped checkpoint": (lambda ls: ls.pop(), (N, "missing_checkpoint")),
    "line after checkpoint": (lambda ls: ls.append(ls[0]), (N, "line_after_checkpoint")),
    "dropped last event": (lambda ls: ls.pop(N - 1), (N, "checkpoint_mismatch")),
    "two bad lines, first wins": (lambda ls: (edited(ls, N - 2, _set("seq", 99)),
                                              edited(ls, K - 1, _set("seq", 99))),
                                  (K, "seq_gap")),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_a_tampered_export_fails_at_the_same_line_naming_the_same_seq(
    name: str, exports: Any, signer: Any, started: list
) -> None:
    tamper, (seq, reason) = TAMPERINGS[name]
    lines = exports.export(N)
    tamper(lines)
    assert both(lines, signer.jwks, started)[:2] == (seq, reason)


def test_workers_read_a_bounded_number_of_lines_ahead(
    exports: Any, signer: Any, started: list
) -> None:
    lines = exports.export(N)
    edited(lines, K - 1, lambda o: o["event"].update(scopes=[]))
    read: list[int] = []

    def stream() -> Iterator[bytes]:
        for i, line in enumerate(lines):
            read.append(i)
            yield line

    assert outcome(stream(), signer.jwks, workers=2, parallel_threshold=0)[:2] == (K, "hash_mismatch")
    assert K < len(read) <= K + 2 * _parallel.DEPTH * BATCH
    assert started and all(w.proc.returncode is not None for w in started)


def test_a_read_error_comes_after_an_earlier_bad_line_as_in_process(
    exports: Any, signer: Any, started: list
) -> None:
    lines = exports.export(N)
    edited(lines, K - 1, lambda o: o["event"].update(scopes=[]))

    def stream(stop: int) -> Iterator[bytes]:
        yield from lines[:stop]
        raise OSError("disk gone")

    # The read fails within the batches already handed out: the bad line is still first.
    assert outcome(stream(K + 2), signer.jwks, workers=2, parallel_threshold=0)[:2] == (
        K, "hash_mismatch")
    # A read failure before any bad line propagates, after the lines before it are checked.
    with pytest.raises(OSError, match="disk gone"):
        verify_export(stream(K - 1), signer.jwks, workers=2, parallel_threshold=0)
    assert all(w.proc.returncode is not None for w in started)


def test_small_exports_start_no_worker(exports: Any, signer: Any, started: list) -> None:
    assert verify_export(exports.export(N), signer.jwks, workers=2).count == N  # default threshold
    # Past the threshold, a tail shorter than one batch is not worth a pool either.
    assert verify_export(exports.export(N), signer.jwks, workers=2,
                         parallel_threshold=N - 1).count == N
    assert verify_export(exports.export(N), signer.jwks, workers=1,
                         parallel_threshold=0).count == N
    assert started == []


def test_a_check_that_raises_keeps_the_records_before_it() -> None:
    class Unmeasurable:
        def __len__(self) -> int:
            raise TypeError("no length")

    records, error = _lines.classify_batch([b"[]\n", Unmeasurable(), b"{}\n"])  # type: ignore[list-item]
    assert records == [(_lines.BAD_LINE, "bad_line", "kind is not event or checkpoint")]
    assert isinstance(error, TypeError)
