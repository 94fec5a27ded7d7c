"""A webhook receiver for bench_webhooks.py, in its own process so its CPU is not the
benchmark's: answers 204 and appends `arrival_unix tenant seq recorded_at webhook-id` per
delivery to the file named on the command line.

    python perf/webhook_receiver.py PORT OUT_FILE
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process's life
    lock = threading.Lock()

    class Receive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            arrived = time.time()
            line = f"{arrived:.6f} {body['tenant']} {body['seq']} {body['data'].get('recorded_at')} {self.headers['webhook-id']}\n"
            with lock:
                out.write(line)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    # socketserver's default listen backlog is 5: with 16 deliveries connecting at once on a
    # busy machine the kernel dropped SYNs and each retry cost the worker a second in connect()
    # (py-spy of a drain: 35% of the worker's samples in create_connection). A real receiver's
    # server (nginx: 511) queues them.
    class Server(ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True

    Server(("127.0.0.1", port), Receive).serve_forever()


if __name__ == "__main__":
    main()
