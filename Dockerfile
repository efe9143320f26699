# mqlsync daemon image. Build: docker build -t mqlsync .
# Run:   docker run -e MQLSYNC_HUBSPOT_TOKEN=… -v $PWD/mqlsync.toml:/etc/mqlsync/config.toml \
#            -v mqlsync-state:/var/lib/mqlsync mqlsync
# The config's [state] url should point into the volume, e.g. sqlite:////var/lib/mqlsync/state.db.

# The wheel is built with the compiled scoring core (mypyc, see hatch_build.py), which
# needs a C compiler; the runtime image only installs the finished wheel.
FROM python:3.11 AS build
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY connector ./connector
COPY mappings ./mappings
RUN MQLSYNC_COMPILE=1 pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MQLSYNC_CONFIG=/etc/mqlsync/config.toml
COPY --from=build /wheels /wheels
RUN WHEEL=$(ls /wheels/mqlsync-*.whl) \
    && pip install --no-cache-dir "${WHEEL}[postgres]" \
    && rm -rf /wheels \
    && useradd --system --home /var/lib/mqlsync --create-home mqlsync
USER mqlsync
VOLUME ["/var/lib/mqlsync"]
ENTRYPOINT ["mqlsync"]
CMD ["run"]
