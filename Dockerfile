# mqlsync daemon image. Build: docker build -t mqlsync .
# Run:   docker run -e MQLSYNC_HUBSPOT_TOKEN=… -v $PWD/mqlsync.toml:/etc/mqlsync/config.toml \
#            -v mqlsync-state:/var/lib/mqlsync mqlsync
# The working directory is the volume, so the default state store (sqlite:///mqlsync.db)
# lands in it; a [state] url in the config (e.g. PostgreSQL) takes precedence.
# /healthz and /metrics listen on port 9108 (MQLSYNC_OBSERVABILITY__PORT; 0 turns them off).
# See docker-compose.example.yml for the daemon with PostgreSQL.

# The wheel is built with the compiled scoring core (mypyc, see hatch_build.py), which
# needs a C compiler; the runtime image only installs the finished wheel.
FROM python:3.11 AS build
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY connector ./connector
COPY mappings ./mappings
RUN MQLSYNC_COMPILE=1 pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MQLSYNC_CONFIG=/etc/mqlsync/config.toml \
    MQLSYNC_OBSERVABILITY__HOST=0.0.0.0 MQLSYNC_OBSERVABILITY__PORT=9108
COPY --from=build /wheels /wheels
# hadolint ignore=DL3013
RUN WHEEL=$(ls /wheels/mqlsync-*.whl) \
    && pip install --no-cache-dir "${WHEEL}[postgres]" \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home /var/lib/mqlsync --create-home mqlsync
USER 10001
WORKDIR /var/lib/mqlsync
VOLUME ["/var/lib/mqlsync"]
EXPOSE 9108
# Unhealthy when no sync succeeded for 3 intervals or the CRM refused the credentials.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['MQLSYNC_OBSERVABILITY__PORT'], timeout=4)"]
ENTRYPOINT ["mqlsync"]
CMD ["run"]
