# syntax=docker/dockerfile:1
# fragstats app image. Build: docker build -t fragstats .   (docker-compose.yml builds it too)
#
# Stage 1 installs the dependencies into a virtualenv (cached as long as pyproject.toml does not
# change), then the project itself as a regular install: the wheel carries the migrations (sql/,
# clickhouse/), templates and static files as package data. Stage 2 copies the venv, nothing else.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY . .
RUN pip install --no-deps .

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FRAGSTATS_DATA_DIR=/data \
    FRAGSTATS_HOST=0.0.0.0 \
    FRAGSTATS_PORT=8080
RUN groupadd --system --gid 10001 fragstats \
 && useradd --system --uid 10001 --gid fragstats --home-dir /home/fragstats --create-home --shell /usr/sbin/nologin fragstats \
 && mkdir -p /data && chown fragstats:fragstats /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/fragstats
USER fragstats
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["fragstats", "serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data"]
