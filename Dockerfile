# Minimal image for Shelfmark (used by docker-compose.yml for "web" and "scheduler").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SHELFMARK_DATABASE=/data/shelfmark.sqlite3

WORKDIR /app
# Copy only what the wheel needs (keeps .venv, .git and local databases out of the image).
COPY pyproject.toml README.md ./
COPY webapp ./webapp
COPY jobs ./jobs
COPY templates ./templates
COPY static ./static
COPY sql ./sql
RUN pip install . \
    && groupadd --system shelfmark \
    && useradd --system --gid shelfmark --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin shelfmark \
    && mkdir -p /data \
    && chown shelfmark:shelfmark /data

USER shelfmark
EXPOSE 8000
CMD ["shelfmark", "serve", "--host", "0.0.0.0"]
