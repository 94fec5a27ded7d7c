"""Throughput and memory of `agegate-verify log`, the regulator's offline export verifier.

Writes an export of N events the way the service writes it (each event spliced in as its
RFC 8785 bytes by `stored_event_line`, a signed checkpoint last) to a temporary file, then
runs the `agegate-verify log FILE --jwks FILE` command in a child process and reports its
wall-clock rate and its peak RSS (`ru_maxrss` of the child, from `wait4`). Prints one
markdown table row:

    python perf/bench_audit_verify.py --events 1000000 [--gzip] [--record]

Targets on 1,000,000 events: >= 60,000 events/s and <= 150 MB peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import record_section  # noqa: E402

from agegate_verifier.jose import compact_json  # noqa: E402

from service.auditlog.chain import GENESIS, canonical, link_hash  # noqa: E402
from service.auditlog.export import checkpoint_claims, checkpoint_line, sign_checkpoint, stored_event_line  # noqa: E402
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


def write_export(path: Path, n: int, key: Ed25519PrivateKey, *, compress: bool) -> None:
    head = GENESIS
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:  # type: ignore[operator]
        for seq in range(1, n + 1):
            body = event(seq)
            prev, head = head, link_hash(head, body)
            f.write(stored_event_line(seq, canonical(body).decode("utf-8"), prev, head))
        claims = checkpoint_claims(issuer="https://bench.test", tenant=TENANT, seq=n, head=head, count=n,
                                   iat=int(time.time()))
        f.write(checkpoint_line(seq=n, head=head, count=n, jws=sign_checkpoint(claims, key, public_jwk(key)["kid"])))


def verify(path: Path, jwks: Path) -> tuple[float, float, float, str]:
    """Run `agegate-verify log`; return (wall seconds, CPU seconds, peak RSS in MB, its output)."""
    command = [str(Path(sys.executable).parent / "agegate-verify"), "log", str(path), "--jwks", str(jwks)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    output = (child.stdout.read() if child.stdout else b"").decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"agegate-verify failed: {output}{child.stderr.read().decode() if child.stderr else ''}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output  # ru_maxrss: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true", help="verify a gzip-compressed export")
    parser.add_argument("--record", action="store_true", help="write the row into perf/RESULTS.md")
    args = parser.parse_args()

    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("export.ndjson.gz" if args.gzip else "export.ndjson")
        jwks = Path(tmp) / "jwks.json"
        jwks.write_bytes(compact_json({"keys": [public_jwk(key)]}))
        started = time.perf_counter()
        write_export(path, args.events, key, compress=args.gzip)
        generated = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        seconds, cpu, peak_mb, output = verify(path, jwks)
    assert f" {args.events} events," in output, output
    flag = " --gzip" if args.gzip else ""
    row = (
        f"| {datetime.now(timezone.utc):%Y-%m-%d %H:%M} | {platform.machine()} {os.cpu_count()} cpu,"
        f" Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
        f" | `python perf/bench_audit_verify.py --events {args.events}{flag}`"
        f" | {args.events:,} events, {size_mb:.0f} MB{' gzip' if args.gzip else ''} | generate {generated:.1f} s"
        f" | `agegate-verify log` {seconds:.1f} s = {args.events / seconds:,.0f} events/s"
        f" (CPU {cpu:.1f} s = {args.events / cpu:,.0f} events per CPU-second)"
        f" | peak RSS {peak_mb:.0f} MB |"
    )
    print(row)
    if args.record:
        record_section(f"agegate-verifier: `agegate-verify log`, {args.events:,} events{flag}", [
            "Targets: >= 60,000 events/s and <= 150 MB peak RSS on 1,000,000 events. Wall clock of the",
            "command in a child process (start-up included), its CPU time (what it gets on a shared",
            "machine is the load's business), and its peak RSS.",
            "",
            "| date | machine | command | input | generation | verification | memory |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            row,
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
