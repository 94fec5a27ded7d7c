"""gunicorn settings for agegate: `gunicorn -c gunicorn.conf.py service.wsgi:app`.

Every knob comes from the environment, parsed by service.config.Settings (a bad value stops
the server with one line naming the variable), so one file serves production, `make bench`
and a laptop. README "Serving" explains the choices; in short:

| variable                   | default                      | why |
| -------------------------- | ---------------------------- | --- |
| AGEGATE_BIND               | 127.0.0.1:8000               | loopback unless told otherwise |
| AGEGATE_WORKER_CLASS       | gevent (gthread for SQLite)  | gevent: a slow or idle client costs a greenlet, not a worker |
| AGEGATE_WORKERS            | CPU cores                    | the work is CPU bound (signing, hashing): one process per core |
| AGEGATE_WORKER_CONNECTIONS | 1000                         | open connections per gevent worker (slow clients included) |
| AGEGATE_THREADS            | 8 (gthread), else 1          | threads per gthread worker |
| AGEGATE_KEEPALIVE          | 2                            | seconds an idle keep-alive connection is held |
| AGEGATE_TIMEOUT            | 30                           | seconds a worker may go silent before it is replaced |
| AGEGATE_ACCESS_LOG         | unset (off)                  | a path or "-" to turn the access log on |
| AGEGATE_LOG_LEVEL          | warning                      | gunicorn's error log level |
| PROMETHEUS_MULTIPROC_DIR   | unset                        | a directory for per-worker metric files, emptied at start |

Production refuses to start without AGEGATE_KEK (a laptop's `agegate serve` only warns), and
with a database that does not answer within AGEGATE's bounded wait; workers themselves never
exit because the database went away later (they answer 503 and recover with it).
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path

from service.config import ConfigError, Settings

if not os.environ.get("AGEGATE_KEK"):
    sys.exit(
        "agegate: AGEGATE_KEK is not set; production refuses the public development key "
        "(make one: python3 -c 'import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
    )
try:
    _settings = Settings.from_env()
except ConfigError as error:
    sys.exit(f"agegate: {error}")
_serving = _settings.serving
if "AGEGATE_ISSUER" not in os.environ:
    print(
        f"agegate: warning: AGEGATE_ISSUER is not set; tokens name {_settings.issuer} as their issuer, "
        "which verifiers elsewhere cannot reach",
        file=sys.stderr,
    )

bind = _serving.bind
worker_class = {"gevent": "service.serving.GeventWorker", "gthread": "service.serving.ThreadWorker", "sync": "service.serving.SyncWorker"}[
    _serving.worker_class
]
workers = _serving.workers
threads = _serving.threads
worker_connections = _serving.worker_connections

# A short keep-alive saves the TCP handshake of a client's next request; idle keep-alive
# connections sit in the event loop (gevent) or the poller (gthread), holding no thread.
keepalive = _serving.keepalive

# The heartbeat of gevent and gthread workers comes from their event loop, not from the
# request, so a long export streams past this; only a worker that stops running is replaced.
timeout = _serving.timeout
graceful_timeout = 10
backlog = 2048

# The access log is written synchronously by the worker that served the request: off by
# default so it stays off the hot path; metrics come from /metrics instead.
accesslog = _serving.access_log
errorlog = "-"
loglevel = _serving.log_level

# The worker heartbeat file is touched every second; on tmpfs that costs no disk I/O, and it
# keeps the only file gunicorn writes off the image's filesystem.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Not preloaded: create_app builds the engine and keyring, and a database connection or
# lock inherited through fork would be shared by every worker. Each worker builds its own.
preload_app = False


def on_starting(server):  # type: ignore[no-untyped-def]
    """In the master, once: refuse to start on an unreachable database (CONTRACT §1), and
    empty the metrics directory, whose files from an earlier run would otherwise be summed
    into this run's counters (prometheus_client's multiprocess mode requires it)."""
    _check_database()
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        folder = Path(metrics_dir)
        if folder.is_dir():
            for entry in folder.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        else:
            folder.mkdir(parents=True)


def _check_database() -> None:
    """Wait for the database (AGEGATE_DATABASE_WAIT) in a forked child: the master must not
    import psycopg, which picks its way of waiting on sockets at import time, and would pick
    one that blocks every greenlet if gevent patched the standard library only later (as it
    does in each worker, after fork)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            from service.app import checked_settings

            checked_settings()
        except ConfigError as error:
            print(f"agegate: {error}", file=sys.stderr, flush=True)
            code = 2
        except BaseException as error:  # the child must never return into the master's code
            print(f"agegate: database check failed: {type(error).__name__}", file=sys.stderr, flush=True)
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(2)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Once the worker has built its app: move everything made so far (modules, the app, its
    schemas, policy and keyring) out of the garbage collector's sight. Those objects live as
    long as the worker; left tracked, each full collection walks all of them again, a pause
    of hundreds of milliseconds on a loaded machine that lands on whichever requests are in
    flight (measured: 379 ms for one full collection after 20,000 in-process verifies; none
    with the freeze, and the worst young-generation pause 10.3 ms -> 0.6 ms)."""
    gc.freeze()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """With PROMETHEUS_MULTIPROC_DIR set, /metrics sums every worker's files; a dead worker's
    live gauges must go with it (counters and histograms are kept, as they should be)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
