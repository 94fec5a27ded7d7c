"""The WSGI entry point gunicorn serves: `gunicorn -c gunicorn.conf.py service.wsgi:app`."""

import sys

from service.app import checked_settings, create_app
from service.config import ConfigError

try:
    _settings = checked_settings()
except ConfigError as error:
    # one clear line instead of a traceback per worker
    print(f"agegate: {error}", file=sys.stderr)
    raise SystemExit(2) from None

app = create_app(_settings)
