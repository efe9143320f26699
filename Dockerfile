# mqlsync daemon image. Build: docker build -t mqlsync .
# Run:   docker run -e MQLSYNC_HUBSPOT_TOKEN=… -v $PWD/mqlsync.toml:/etc/mqlsync/config.toml \
#            -v mqlsync-state:/var/lib/mqlsync mqlsync
# The config's [state] url should point into the volume, e.g. sqlite:////var/lib/mqlsync/state.db.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MQLSYNC_CONFIG=/etc/mqlsync/config.toml
WORKDIR /opt/mqlsync
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY mappings ./mappings
RUN pip install --no-cache-dir '.[postgres]' \
    && useradd --system --home /var/lib/mqlsync --create-home mqlsync
USER mqlsync
VOLUME ["/var/lib/mqlsync"]
ENTRYPOINT ["mqlsync"]
CMD ["run"]
