"""Throughput and memory of the offline consent-log verifier.

Writes a chained export of N events (plus a signed checkpoint) to a temporary NDJSON file,
then times ``run_verify`` over it, exactly as ``agegate audit verify FILE --jwks FILE``
runs. Prints one markdown table row:

    python perf/bench_audit_verify.py --events 1000000 [--workers 2] [--results perf/RESULTS.md]

Targets on 1,000,000 events: >= 50,000 events/s and <= 150 MB peak RSS. Past 20,000 lines
the verifier hashes in worker processes, so memory is reported twice: the main process's
peak (``ru_maxrss`` of RUSAGE_SELF, generation included, which streams too) and the largest
worker's (``ru_maxrss`` of RUSAGE_CHILDREN); the verifier's total is at most main + workers
x child. CPU microseconds per event (main, workers) are printed too: on a shared machine
they say more than the wall clock does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agegate_verifier.cli import main as verify_main  # noqa: E402

from service.auditlog.chain import GENESIS, next_link  # noqa: E402
from service.auditlog.export import (  # noqa: E402
    checkpoint_claims,
    checkpoint_line,
    event_line,
    sign_checkpoint,
)
from service.tokens.signing import public_jwk  # noqa: E402

TENANT = "t-bench"


def event(seq: int) -> dict[str, object]:
    return {
        "type": "granted" if seq % 5 else "withdrawn",
        "consent_id": f"c-{seq:012d}",
        "tenant": TENANT,
        "child_ref": f"u-{seq * 7919 % 10_000_019}",
        "guardian_ref": f"u-{seq * 104_729 % 10_000_019}",
        "relationship": "parent",
        "scopes": ["pi_processing", "companion"],
        "method": "in_app_parent_account",
        "evidence_ref": f"ev-{seq:012d}",
        "notice_version": "privacy-notice-v3",
        "policy": "2026-07-15.1",
        "occurred_at": "2026-07-15T08:00:00Z",
        "recorded_at": "2026-07-15T08:00:01Z",
        "client_id": "cl-bench-app",
    }


def write_export(path: Path, n: int, key: Ed25519PrivateKey) -> None:
    seq, head = 0, GENESIS
    with path.open("wb") as f:
        for i in range(1, n + 1):
            link = next_link(seq, head, event(i))
            f.write(event_line(link.seq, link.event, link.prev, link.hash))
            seq, head = link.seq, link.hash
        claims = checkpoint_claims(issuer="https://bench.test", tenant=TENANT, seq=seq,
                                   head=head, count=n, iat=int(time.time()))
        jws = sign_checkpoint(claims, key, public_jwk(key)["kid"])
        f.write(checkpoint_line(seq=seq, head=head, count=n, jws=jws))


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="verifier worker processes (default: one per CPU; 1 = none)")
    parser.add_argument("--results", type=Path, help="append the markdown row to this file")
    args = parser.parse_args()

    key = Ed25519PrivateKey.generate()
    jwks = {"keys": [public_jwk(key)]}
    with tempfile.TemporaryDirectory() as tmp:
        path, jwks_path = Path(tmp) / "export.ndjson", Path(tmp) / "jwks.json"
        jwks_path.write_text(json.dumps(jwks), encoding="utf-8")
        started = time.perf_counter()
        write_export(path, args.events, key)
        generated = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        out = io.StringIO()
        cpu_main, cpu_children = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        code = verify_main(["log", str(path), "--jwks", str(jwks_path)], out=out)
        verified = time.perf_counter() - started
        cpu_main = cpu_seconds(resource.RUSAGE_SELF) - cpu_main
        cpu_children = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_children
    assert code == 0 and f" {args.events} events," in out.getvalue(), out.getvalue()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    workers = "" if args.workers is None else f" --workers {args.workers}"
    row = (
        f"| {datetime.now(timezone.utc):%Y-%m-%d} | {platform.machine()} {os.cpu_count()} cpu,"
        f" Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
        f" | `python perf/bench_audit_verify.py --events {args.events}{workers}`"
        f" | {args.events:,} events, {size_mb:.0f} MB | generate {generated:.1f} s"
        f" | verify {verified:.1f} s = {args.events / verified:,.0f} events/s"
        f" (CPU/event: main {cpu_main / args.events * 1e6:.1f} us,"
        f" workers {cpu_children / args.events * 1e6:.1f} us)"
        f" | peak RSS main {peak_mb:.0f} MB, largest worker {child_mb:.0f} MB |"
    )
    print(row)
    if args.results:
        with args.results.open("a", encoding="utf-8") as results:
            results.write(row + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
