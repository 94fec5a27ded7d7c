"""The webhook sender alone (service/delivery.py): deliveries per second and CPU per delivery
from 16 threads to perf/webhook_receiver.py, with kept connections and, for comparison, with
a new connection per delivery (KEEP_PER_ADDRESS set to 0 for those rounds), alternating.

    python perf/bench_sender.py [--posts 3000] [--threads 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PERF = Path(__file__).resolve().parent
sys.path.insert(0, str(PERF.parent))

import service.delivery as delivery  # noqa: E402

BODY = b'{"tenant":"t","seq":1,"data":{"recorded_at":"x"}}' + b" " * 900  # about a consent event's size
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_round(url: str, keep: bool, posts: int, threads: int) -> tuple[float, float]:
    """(deliveries/s, microseconds of this process's CPU per delivery)."""
    delivery.KEEP_PER_ADDRESS = 32 if keep else 0
    sender = delivery.Sender(allow_private=True)
    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(lambda _: sender.post(url, BODY, HEADERS), range(posts)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sender.close()
    failed = [o for o in outcomes if not o.delivered]
    if failed:
        raise RuntimeError(f"{len(failed)} deliveries failed, e.g. {failed[0]}")
    return posts / wall, cpu / posts * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port, arrivals = free_port(), tempfile.mktemp(prefix="sender-arrivals-")
    receiver = subprocess.Popen([sys.executable, str(PERF / "webhook_receiver.py"), str(port), arrivals])
    try:
        time.sleep(1.0)
        url = f"http://127.0.0.1:{port}/hooks"
        for _ in range(args.rounds):
            for keep in (False, True):
                rate, cpu = one_round(url, keep, args.posts, args.threads)
                label = "kept connections" if keep else "a connection per delivery"
                print(f"{label}: {rate:,.0f} deliveries/s, {cpu:.0f} us CPU per delivery")
    finally:
        receiver.terminate()
        receiver.wait(10)
        os.unlink(arrivals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
