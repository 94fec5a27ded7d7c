# agegate: production image (gunicorn with gevent workers; see README "Serving").
# Build:   docker build -t agegate .
# Migrate (a one-off, as the schema owner):
#   docker run --rm -e AGEGATE_DATABASE_URL=postgresql+psycopg://owner:pw@db/agegate agegate agegate db upgrade
# Serve (as the runtime role; the container's filesystem read-only, /tmp a tmpfs):
#   docker run --read-only --tmpfs /tmp -p 8000:8000 \
#     -e AGEGATE_DATABASE_URL=postgresql+psycopg://agegate_app:pw@db/agegate \
#     -e AGEGATE_KEK=... -e AGEGATE_ISSUER=https://age.example.com \
#     -e AGEGATE_METRICS_TOKEN=... agegate
# Without AGEGATE_KEK the server refuses to start; AGEGATE_ISSUER must be the public URL
# clients and verifiers reach (it is every token's `iss` and the base of published URLs).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md openapi.yaml ./
COPY verifier ./verifier
COPY service ./service
# ./verifier is named first: the service depends on agegate-verifier, built from it here.
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --wheel-dir /wheels ./verifier .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGEGATE_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/agegate-metrics
# No home directory and no files of its own: the code is root's and read-only to the service.
# The only writable places it uses are /tmp (metrics files, emptied at every start) and
# /dev/shm (gunicorn's worker heartbeat files).
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --uid 10001 agegate
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY gunicorn.conf.py ./
USER agegate
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["gunicorn", "--config", "/app/gunicorn.conf.py", "service.wsgi:app"]
