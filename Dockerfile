# syntax=docker/dockerfile:1
# balint-bot: the webhook receiver, runtime and CLI (`balint-bot serve`), without the Meeting SDK.
# Build:  docker build -t balint-bot .
# Run:    docker compose up   (see compose.yaml and docs/postgresql.md)
# The Meeting SDK variant (linux/amd64, Ubuntu 22.04 with the SDK's system libraries) is
# Dockerfile.sdk.

ARG PYTHON_VERSION=3.11

# ---- build stage: a virtualenv with balint-bot and the PostgreSQL driver, nothing else ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/balint-bot
WORKDIR /src
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p bot phases storage webhooks \
    && touch bot/__init__.py phases/__init__.py storage/__init__.py webhooks/__init__.py \
    && /opt/balint-bot/bin/pip install '.[postgres]' \
    && /opt/balint-bot/bin/pip uninstall --yes balint-bot
COPY bot ./bot
COPY phases ./phases
COPY storage ./storage
COPY webhooks ./webhooks
RUN /opt/balint-bot/bin/pip install --no-deps '.[postgres]' \
    && /opt/balint-bot/bin/python -m compileall -q /opt/balint-bot/lib

# ---- runtime stage: the virtualenv and an unprivileged user ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="balint-bot" \
      org.opencontainers.image.description="Companion bot for a Balint group's Zoom sessions"
ENV PATH=/opt/balint-bot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BALINT_SERVER__HOST=0.0.0.0 \
    BALINT_SERVER__PORT=8000 \
    BALINT_STORAGE__URL=sqlite:////srv/balint-bot/data/balint-bot.db \
    BALINT_LOG__FORMAT=json
RUN groupadd --system --gid 10001 balint \
    && useradd --system --uid 10001 --gid balint --home-dir /srv/balint-bot \
       --shell /usr/sbin/nologin balint \
    && mkdir -p /srv/balint-bot/data \
    && chown -R balint:balint /srv/balint-bot
COPY --from=build /opt/balint-bot /opt/balint-bot
# The settings file, if any, is mounted here as ./balint-bot.toml (read from the working
# directory); secrets come from the environment (BALINT_DATA_KEY, BALINT_ZOOM__...).
WORKDIR /srv/balint-bot
VOLUME ["/srv/balint-bot/data"]
USER 10001:10001
EXPOSE 8000
# slim images have no curl: ask /healthz with the standard library. Non-2xx raises -> exit 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BALINT_SERVER__PORT', '8000'), timeout=4)"]
# uvicorn shuts down gracefully on SIGTERM (lifespan: scheduler stopped, queue drained).
STOPSIGNAL SIGTERM
CMD ["balint-bot", "serve"]
