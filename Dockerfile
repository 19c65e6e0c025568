# Shelfmark's production image: the wheel and its dependencies in a venv, run by
# a non-root user, the database on the /data volume. docs/deploying.md explains it.
#
#   docker compose build                             # downloads the wheels from PyPI
#   pip wheel -w wheelhouse . && docker compose build  # no network needed in the build
#
# BASE_IMAGE: any Debian-like image with python3 (3.11 or newer), its venv module
# and useradd; /usr/local/bin/python3 (python:*-slim) or /usr/bin/python3 (Debian).
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: the wheelhouse, wheels of Shelfmark and of every dependency. A
# wheelhouse/ folder in the build context is used as it is (built on a machine
# with the same Python version); without one, pip builds it here from PyPI.
# WHEELHOUSE_PIP_ARGS adds options to that pip, such as a local mirror:
#   --build-arg WHEELHOUSE_PIP_ARGS="--index-url https://pypi.school.example/simple"
FROM ${BASE_IMAGE} AS wheels
ARG WHEELHOUSE_PIP_ARGS=""
COPY . /src
RUN if [ -d /src/wheelhouse ]; then \
        mv /src/wheelhouse /wheelhouse; \
    else \
        python3 -m venv /opt/build \
        && /opt/build/bin/pip wheel --no-cache-dir --disable-pip-version-check \
            $WHEELHOUSE_PIP_ARGS -w /wheelhouse /src; \
    fi

# Stage 2: the wheel installed into a venv from that wheelhouse only, so the
# image runs exactly what the wheel carries, never the source tree. The image's
# settings come before the install and USER last: with Docker's classic builder
# each of these lines copies the whole file system once, cheapest while it is
# small (with the vfs storage driver a build otherwise takes minutes).
FROM ${BASE_IMAGE}
ENV PATH=/opt/shelfmark/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHELFMARK_DATABASE=/data/shelfmark.sqlite3
EXPOSE 8000
# Slim images have no curl: Python itself asks /healthz (the compose file
# gives the scheduler service its own check).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["shelfmark", "serve", "--host", "0.0.0.0", "--port", "8000"]
COPY --from=wheels /wheelhouse /tmp/wheelhouse
# pip and setuptools leave the venv once the install is done: nothing at run
# time needs them. /data is where the database lives (mount a volume there; a
# new named volume starts as a copy of this folder, owned by shelfmark).
RUN python3 -m venv /opt/shelfmark \
    && /opt/shelfmark/bin/pip install --no-cache-dir --disable-pip-version-check \
        --no-index --find-links /tmp/wheelhouse shelfmark \
    && /opt/shelfmark/bin/pip uninstall --yes --quiet pip setuptools \
    && rm -rf /tmp/wheelhouse \
    && groupadd --system --gid 10001 shelfmark \
    && useradd --system --uid 10001 --gid shelfmark --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin shelfmark \
    && mkdir -p /data \
    && chown shelfmark:shelfmark /data
WORKDIR /data
USER shelfmark
