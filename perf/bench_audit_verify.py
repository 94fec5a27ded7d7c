"""Throughput and memory of the offline consent-log verifier.

Writes a chained export of N events (plus a signed checkpoint) to a temporary NDJSON file,
then times ``verify_export`` over it, reading line by line. Prints one markdown table row:

    python perf/bench_audit_verify.py --events 200000 [--results perf/RESULTS.md]

Targets on 1,000,000 events: >= 50,000 events/s and <= 150 MB peak RSS. Peak RSS is the
whole process's (``ru_maxrss``), so it includes generation, which streams too.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.auditlog.chain import GENESIS, next_link  # noqa: E402
from service.auditlog.export import (  # noqa: E402
    checkpoint_claims,
    checkpoint_line,
    event_line,
    sign_checkpoint,
)
from service.auditlog.verify import verify_export  # noqa: E402

TENANT = "t-bench"
KID = "bench-key"


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
        jws = sign_checkpoint(claims, key, KID)
        f.write(checkpoint_line(seq=seq, head=head, count=n, jws=jws))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--results", type=Path, help="append the markdown row to this file")
    args = parser.parse_args()

    key = Ed25519PrivateKey.generate()
    x = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": KID, "alg": "EdDSA", "use": "sig",
                      "x": base64.urlsafe_b64encode(x).rstrip(b"=").decode()}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.ndjson"
        started = time.perf_counter()
        write_export(path, args.events, key)
        generated = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        with path.open("rb") as f:
            report = verify_export(f, jwks)
        verified = time.perf_counter() - started
    assert report.count == args.events
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    row = (
        f"| {datetime.now(timezone.utc):%Y-%m-%d} | {platform.machine()} {os.cpu_count()} cpu,"
        f" Python {platform.python_version()} | `python perf/bench_audit_verify.py --events"
        f" {args.events}` | {args.events:,} events, {size_mb:.0f} MB | generate {generated:.1f} s"
        f" | verify {verified:.1f} s = {args.events / verified:,.0f} events/s"
        f" | peak RSS {peak_mb:.0f} MB |"
    )
    print(row)
    if args.results:
        with args.results.open("a", encoding="utf-8") as results:
            results.write(row + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
