# agegate: production image. Build: docker build -t agegate .
# Migrate (a separate, one-off command): docker run --rm -e AGEGATE_DATABASE_URL=... agegate agegate db upgrade
# Serve:                                 docker run -p 8000:8000 -e AGEGATE_DATABASE_URL=... -e AGEGATE_KEK=... agegate
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
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
RUN useradd --system --create-home --uid 10001 agegate
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY gunicorn.conf.py ./
RUN mkdir -p /tmp/agegate-metrics && chown agegate /tmp/agegate-metrics
USER agegate
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["gunicorn", "--config", "/app/gunicorn.conf.py", "service.wsgi:app"]
