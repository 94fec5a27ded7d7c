"""Status lists for 1,000,000 tokens with 1% (randomly placed) revoked: time to encode and
serve them (`GET /v1/status-lists/{id}`), and the size of what a verifier fetches.

The service runs under gunicorn on a fresh Postgres database; 1,000,000 slots are handed
out and 10,000 random ones revoked, directly in the database. The service decides how many
slots one list holds; every list the million slots span is fetched. Every fetch re-encodes
(no If-None-Match). The fetched lists are checked bit for bit against the seeded revocations. For context, the same bitmap is compressed
in-process with the service's codec (`encode_statuses`) and with zlib's Z_RLE strategy,
alternating with the HTTP fetches. Fetches send `Accept-Encoding: gzip`, as the offline
verifier's fetcher does; the size figure is the body as it crosses the wire.

    python perf/bench_status_list.py [--entries 1000000] [--revoked 0.01] [--rounds 7] [--json OUT]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import math
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture import APP_SCOPES, BenchService, grow_status_list  # noqa: E402
from harness import alternate, command_line, emit, figure, log, median  # noqa: E402

from agegate_verifier.jose import b64url_decode, json_object  # noqa: E402
from agegate_verifier.statuslist import decode_statuses, encode_statuses  # noqa: E402

SIZE_LIMIT = 16 * 1024


def payload_of(token: str) -> dict:  # type: ignore[type-arg]
    return json_object(b64url_decode(token.split(".")[1]))


def decode_list(body: bytes, encoding: str) -> tuple[str, bytes]:
    """(the status list token, its unpacked bit array) from a fetched body."""
    token = (gzip.decompress(body) if encoding == "gzip" else body).decode("ascii").strip()
    return token, decode_statuses(payload_of(token)["status_list"]["lst"], max_bytes=1 << 24)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--revoked", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    rng = random.Random(20260715)
    revoked = sorted(rng.sample(range(args.entries), int(args.entries * args.revoked)))
    bitmap = bytearray((args.entries + 7) // 8)
    for idx in revoked:
        bitmap[idx >> 3] |= 1 << (idx & 7)
    bits = bytes(bitmap)

    with BenchService("agegate_bench_status", args.logdir) as svc:
        app = svc.client("t-status", "app-backend", APP_SCOPES)
        svc.register_self_declared(app, "s-0", "1990-01-01")
        import psycopg

        with psycopg.connect(svc.db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            first_list = grow_status_list(conn, args.entries, revoked)

        def fetch(list_id: int) -> tuple[float, bytes, str]:
            """One GET as the offline verifier does it (agegate_verifier's fetcher asks for gzip)."""
            conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=30)
            try:
                started = time.perf_counter()
                conn.request("GET", f"/v1/status-lists/{list_id}",
                             headers={"Accept-Encoding": "gzip", "User-Agent": "agegate-bench"})
                response = conn.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - started) * 1000
            finally:
                conn.close()
            if response.status != 200:
                raise RuntimeError(f"GET status list {list_id} -> {response.status}: {body[:200]!r}")
            return elapsed, body, response.getheader("Content-Encoding") or "identity"

        # The service decides how many slots a list holds (2^20 once, 2^18 now): learn it from
        # list 1 and fetch every list the entries span, as a verifier holding them all would.
        _, body, encoding = fetch(first_list)
        capacity = len(decode_list(body, encoding)[1]) * 8
        list_ids = [first_list + n for n in range(-(-args.entries // capacity))]
        log(f"{args.entries:,} slots in {len(list_ids)} list(s) of {capacity:,}; {len(revoked):,} revoked")

        last: dict[int, tuple[bytes, str]] = {}
        per_list_ms: dict[int, list[float]] = {i: [] for i in list_ids}

        def serve() -> float:
            total = 0.0
            for list_id in list_ids:
                elapsed, body, encoding = fetch(list_id)
                per_list_ms[list_id].append(elapsed)
                last[list_id] = (body, encoding)
                total += elapsed
            return total

        def encode() -> float:
            started = time.perf_counter()
            encode_statuses(bits, 1)
            return (time.perf_counter() - started) * 1000

        def rle() -> float:
            started = time.perf_counter()
            encode_statuses(bits, 1, strategy=zlib.Z_RLE)
            return (time.perf_counter() - started) * 1000

        serve()  # warm-up: worker imports, key load
        runs = alternate({"serve": serve, "encode": encode, "rle": rle}, args.rounds)

    # Check every fetched list against the seeded revocations, bit for bit.
    wanted = set(revoked)
    found: set[int] = set()
    sizes, tokens, lsts = {}, {}, {}
    for list_id in list_ids:
        body, encoding = last[list_id]
        token, data = decode_list(body, encoding)
        base = (list_id - first_list) * capacity
        found.update(base + i for i in range(len(data) * 8) if data[i >> 3] >> (i & 7) & 1)
        sizes[list_id], tokens[list_id] = len(body), len(token)
        lsts[list_id] = payload_of(token)["status_list"]["lst"]
    if found != wanted:
        raise RuntimeError(f"fetched lists have {len(found):,} bits set, {len(found & wanted):,} of the "
                           f"{len(wanted):,} seeded revocations")
    largest = max(list_ids, key=lambda i: sizes[i])
    lst = lsts[largest]
    compressed = len(b64url_decode(lst))
    # Shannon bound of one list's bitmap: no 1-bit encoding of these revocations can be smaller.
    p = len(revoked) / args.entries
    bound = min(capacity, args.entries) * -(p * math.log2(p) + (1 - p) * math.log2(1 - p)) / 8 if 0 < p < 1 else 0
    serve_ms, encode_ms, rle_ms = median(runs["serve"]), median(runs["encode"]), median(runs["rle"])
    slowest = max(median(v) for v in per_list_ms.values())
    figures = [
        figure(f"status list of {args.entries:,} tokens, {args.revoked:.0%} revoked: encoded and served",
               value=serve_ms, unit="ms", runs=runs["serve"], ceiling=rle_ms,
               ceiling_name="in-process zlib Z_RLE + base64url of the whole bitmap",
               ceiling_runs=runs["rle"], target="<= 50 ms", passed=serve_ms <= 50.0,
               detail=f"all {len(list_ids)} list(s) of {capacity:,} slots fetched one after another, time to "
                      f"the last byte, gzip requested; slowest single list {slowest:.1f} ms; "
                      f"`encode_statuses` default strategy (zlib level 9) on the whole bitmap: {encode_ms:.1f} ms"),
        figure(f"fetched status list ({args.revoked:.0%} revoked), bytes on the wire, largest list",
               value=sizes[largest], unit="bytes", runs=[sizes[i] for i in list_ids], ceiling=None,
               target="<= 16 KB (16,384 bytes)", passed=sizes[largest] <= SIZE_LIMIT,
               detail=f"runs = each list once; all lists together {sum(sizes.values()):,} B. Largest: zlib "
                      f"stream {compressed:,} B -> base64url lst {len(lst):,} chars; token {tokens[largest]:,} B "
                      f"(the lst is base64url'd again inside the JWS payload), sent with Content-Encoding "
                      f"{last[largest][1]}. Entropy bound of one list's bits {bound:,.0f} B"),
    ]
    emit({"script": "bench_status_list.py", "command": command_line(), "figures": figures,
          "notes": [f"{len(revoked):,} revocations at random indexes (seeded), verified bit for bit by decoding "
                    f"every fetched list"]},
         args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
