"""The WSGI entry point gunicorn serves: `gunicorn -c gunicorn.conf.py service.wsgi:app`.

The database is not waited for here: gunicorn.conf.py's master checks it once at start. A
worker booting while the database is away (a replacement, or a restart during an outage)
comes up, answers 503 and recovers with the database, instead of exiting and being
replaced every few seconds.
"""

import sys

from service.app import create_app
from service.config import ConfigError, Settings, logging_from_env
from service.logs import configure_logging

try:
    # logging first, so that Settings' own warnings come out as JSON lines too
    configure_logging(*logging_from_env())
    _settings = Settings.from_env()
except ConfigError as error:
    # one clear line instead of a traceback per worker
    print(f"agegate: {error}", file=sys.stderr)
    raise SystemExit(2) from None

app = create_app(_settings)
