"""Classify export lines in worker processes, in order, in bounded memory (private).

The verifier's cost is recomputing hashes (RFC 8785 in pure Python), and each line's hash
depends only on that line, so :func:`classified` hands batches of lines to worker processes
that run :func:`~service.auditlog._lines.classify_batch`, and yields the records back in
line order for the verifier's sequential pass. At most ``DEPTH`` batches per worker are in
flight, so memory stays flat whatever the export's size.

The workers are plain ``python -P -c`` children exchanging length-prefixed pickles over their
stdin and stdout. multiprocessing's spawn and forkserver would re-import the caller's
``__main__`` (for ``agegate`` the whole CLI) in every worker, and fork is unsafe once the
caller has threads. Pickles only travel between this process and the children it started.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from itertools import islice
from queue import SimpleQueue
from typing import IO, Any

from service.auditlog._lines import Record, classify, classify_batch

BATCH_LINES = 2000
DEPTH = 2  # batches in flight per worker: one being classified, one queued behind it

_HEADER = struct.Struct("<Q")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from service.auditlog._parallel import serve; serve()"


def _read_frame(f: IO[bytes]) -> bytes | None:
    header = f.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = f.read(size)
    return data if len(data) == size else None


def serve() -> None:
    """A worker's main loop: classify each batch read from stdin, write its records back."""
    # Ctrl-C reaches the whole process group: the parent stops its workers, and a worker
    # must not print a traceback of its own. Without a parent, stdin ends and so does this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the frames
    while (frame := _read_frame(sys.stdin.buffer)) is not None:
        records, error = classify_batch(pickle.loads(frame))
        try:
            data = pickle.dumps((records, error), pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an unpicklable error still reaches the parent
            data = pickle.dumps((records, RuntimeError(repr(error))), pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(data)))
        out.write(data)
        out.flush()


class _Worker:
    """One child process and the thread that feeds it batches (so no pipe can deadlock)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-c", _BOOT, _ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.jobs: SimpleQueue[list[Any] | None] = SimpleQueue()
        self.thread = threading.Thread(target=self._feed, name="audit-verify-feed", daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while (batch := self.jobs.get()) is not None:
                data = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
                stdin.write(_HEADER.pack(len(data)))
                stdin.write(data)
                stdin.flush()
        except OSError:
            pass  # the worker died or was stopped; result() reports a dead worker
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def result(self) -> tuple[list[Record], BaseException | None]:
        assert self.proc.stdout is not None
        frame = _read_frame(self.proc.stdout)
        if frame is None:
            raise RuntimeError(f"audit verify worker {self.proc.pid} exited unexpectedly")
        return pickle.loads(frame)  # type: ignore[no-any-return]

    def stop(self, *, kill: bool) -> None:
        if kill:
            self.proc.kill()
        self.jobs.put(None)
        self.thread.join()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc.wait()


def _take(lines: Iterator[bytes | str]) -> tuple[list[bytes | str], Exception | None]:
    """The next batch of lines, and the error that cut it short, if reading failed."""
    batch: list[bytes | str] = []
    try:
        for raw in islice(lines, BATCH_LINES):
            batch.append(raw)
    except Exception as e:  # noqa: BLE001 - re-raised once the lines before it are checked
        return batch, e
    return batch, None


def _start(workers: int) -> list[_Worker]:
    pool: list[_Worker] = []
    try:
        for _ in range(workers):
            pool.append(_Worker())
    except OSError:
        for worker in pool:
            worker.stop(kill=True)
        return []
    return pool


def classified(lines: Iterator[bytes | str], workers: int) -> Iterator[Record]:
    """Yield the record of each of ``lines``, in order, computed by ``workers`` processes.

    Reads at most ``workers * DEPTH * BATCH_LINES`` lines ahead of what it has yielded. An
    error raised by ``lines`` itself is raised after the records of the lines read before
    it, as an in-process pass would. Stays in this process when fewer than ``BATCH_LINES``
    lines remain, or when no worker can start.
    """
    batch, deferred = _take(lines)
    pool = _start(workers) if deferred is None and len(batch) == BATCH_LINES else []
    if not pool:
        yield from map(classify, batch)
        if deferred is not None:
            raise deferred
        yield from map(classify, lines)
        return
    pending: deque[_Worker] = deque()
    todo: list[bytes | str] | None = batch
    turn, exhausted, finished = 0, False, False
    try:
        while True:
            if todo is not None:  # a batch just read: hand it out
                if todo:
                    pool[turn % workers].jobs.put(todo)
                    pending.append(pool[turn % workers])
                    turn += 1
                exhausted = deferred is not None or len(todo) < BATCH_LINES
                todo = None
            if not exhausted and len(pending) < workers * DEPTH:
                todo, deferred = _take(lines)
                continue
            if not pending:
                break
            records, error = pending.popleft().result()
            yield from records
            if error is not None:
                raise error
        if deferred is not None:
            raise deferred
        finished = True
    finally:
        for worker in pool:
            worker.stop(kill=not finished)
