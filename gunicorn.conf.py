"""gunicorn settings for agegate: `gunicorn -c gunicorn.conf.py service.wsgi:app`.

Every knob can be set from the environment, so one file serves production, `make bench`
and a laptop. The service itself reads its own AGEGATE_* variables (CONTRACT §1).

| variable                  | default           | why |
| ------------------------- | ----------------- | --- |
| AGEGATE_BIND              | 127.0.0.1:8000    | loopback unless told otherwise |
| AGEGATE_WORKERS           | CPU cores         | sync workers are CPU bound: one per core, no more |
| AGEGATE_WORKER_CLASS      | sync              | `gthread` only for keep-alive behind a non-buffering client |
| AGEGATE_THREADS           | 1                 | threads per worker (gthread only) |
| AGEGATE_KEEPALIVE         | 2                 | seconds an idle keep-alive connection is held (not sync) |
| AGEGATE_TIMEOUT           | 30                | seconds before a silent worker is killed and replaced |
| AGEGATE_ACCESS_LOG        | unset (off)       | a path or "-" to turn the access log on |
| AGEGATE_LOG_LEVEL         | warning           | gunicorn's error log level |
| PROMETHEUS_MULTIPROC_DIR  | unset             | an empty directory: /metrics then sums all workers (prometheus multiprocess mode) |
"""

from __future__ import annotations

import os

_env = os.environ.get


def _cores() -> int:
    # Honour CPU affinity (containers, taskset) rather than the host's core count.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


bind = _env("AGEGATE_BIND", "127.0.0.1:8000")
worker_class = _env("AGEGATE_WORKER_CLASS", "sync")
workers = int(_env("AGEGATE_WORKERS", str(_cores())))
threads = int(_env("AGEGATE_THREADS", "1"))

# Sync workers answer every request with `Connection: close` whatever this says (gunicorn
# closes after each response, by design: a sync worker must never sit idle on one client).
# For gthread a short keep-alive saves the TCP handshake of the next request without
# pinning threads to idle clients; 2 s outlives a load balancer's connection reuse gap.
keepalive = int(_env("AGEGATE_KEEPALIVE", "2"))

timeout = int(_env("AGEGATE_TIMEOUT", "30"))
graceful_timeout = 10
# Room for bursts: with 2 sync workers, every other connection waits in the listen queue.
backlog = 2048

# The access log is written synchronously by the worker that served the request: off by
# default so it stays off the hot path; metrics come from /metrics instead.
accesslog = _env("AGEGATE_ACCESS_LOG") or None
errorlog = "-"
loglevel = _env("AGEGATE_LOG_LEVEL", "warning")

# The worker heartbeat file is touched on every request; on tmpfs that costs no disk I/O.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Not preloaded: create_app builds the engine and keyring, and a database connection or
# lock inherited through fork would be shared by every worker. Each worker builds its own.
preload_app = False


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """With PROMETHEUS_MULTIPROC_DIR set, /metrics sums every worker's files; a dead worker's
    live gauges must go with it (counters and histograms are kept, as they should be)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
