"""The three engines behind one object: ClickHouse, Postgres, Redis — embedded by default.

One code path for both modes (embedded or server): only the URL differs. ClickHouse is reached through
clickhouse-connect's *sync* client in worker threads, because its async client refuses `chdb://`;
the writer and the readers get separate clients, since a chDB client serialises its calls on one
handle lock and a long insert must not hold up a leaderboard query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import clickhouse_connect
import redis.asyncio as redis_asyncio

from fragstats.embedded import EmbeddedPostgres, EmbeddedRedis
from fragstats.errors import StartupError
from fragstats.settings import Settings

log = logging.getLogger("fragstats.engines")


def clickhouse_dsn(settings: Settings, data_dir: Path) -> str:
    return settings.clickhouse_url or f"chdb://{data_dir / 'clickhouse'}"


def make_clickhouse_client(dsn: str) -> Any:
    """A sync clickhouse-connect client for `http(s)://...` or `chdb://<path>`."""
    return clickhouse_connect.get_client(dsn=dsn)


@dataclass
class Engines:
    """Open connections to ClickHouse (writer + reader clients), Postgres (pool) and Redis."""

    ch_writer: Any
    ch_reader: Any
    pg: asyncpg.Pool
    redis: redis_asyncio.Redis
    embedded: list = field(default_factory=list)
    clickhouse_dsn: str = ""
    extra_clients: list = field(default_factory=list)

    def writer_clients(self, n: int) -> list:
        """`n` ClickHouse clients for batch writers: the writer client plus n-1 more (closed with us)."""
        while len(self.extra_clients) < n - 1:
            self.extra_clients.append(make_clickhouse_client(self.clickhouse_dsn))
        return [self.ch_writer, *self.extra_clients[: n - 1]]

    async def query(self, sql: str, parameters: dict | None = None) -> list[tuple]:
        """Run a read query in a worker thread; returns rows as tuples."""
        result = await asyncio.to_thread(self.ch_reader.query, sql, parameters=parameters or {})
        return result.result_rows

    async def query_dicts(self, sql: str, parameters: dict | None = None) -> list[dict]:
        """Run a read query in a worker thread; returns rows as dicts keyed by column name."""
        result = await asyncio.to_thread(self.ch_reader.query, sql, parameters=parameters or {})
        names = result.column_names
        return [dict(zip(names, row)) for row in result.result_rows]

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except Exception:  # closing must not hide the real shutdown error
            log.exception("closing redis")
        await self.pg.close()
        for client in (self.ch_writer, self.ch_reader, *self.extra_clients):
            try:
                client.close()
            except Exception:
                log.exception("closing clickhouse client")
        for server in reversed(self.embedded):
            server.stop()


def redacted(url: str) -> str:
    """`url` without its password, fit for an error message or a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _reason(exc: BaseException) -> str:
    """An exception as one line: the OS reason when there is one, else its first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


@contextlib.contextmanager
def startup_step(what: str):
    """Turn any failure of one start-up step into `StartupError("<what>: <reason>")` (the original
    exception stays its `__cause__`; `fragstats -v serve` prints its traceback)."""
    try:
        yield
    except StartupError:
        raise
    except Exception as exc:
        raise StartupError(f"{what}: {_reason(exc)}") from exc


async def open_engines(settings: Settings) -> Engines:
    """Start embedded servers where no URL is set, then connect to all three engines.

    Raises `StartupError` (one sentence: what, where, why) when the data dir is unusable, an
    embedded server cannot start, or a configured server cannot be reached.
    """
    data_dir = settings.resolved_data_dir()
    embedded: list = []
    try:
        pg_url = settings.postgres_url
        if not pg_url:
            pg_server = EmbeddedPostgres(data_dir)
            pg_url = pg_server.start()
            embedded.append(pg_server)
        redis_url = settings.redis_url
        if not redis_url:
            redis_server = EmbeddedRedis(data_dir)
            redis_url = redis_server.start()
            embedded.append(redis_server)
        dsn = clickhouse_dsn(settings, data_dir)
        where = f"embedded ClickHouse (chDB) could not open {data_dir / 'clickhouse'}" if dsn.startswith("chdb://") \
            else f"cannot connect to ClickHouse at {redacted(dsn)}"
        with startup_step(where):
            if dsn.startswith("chdb://"):
                (data_dir / "clickhouse").mkdir(parents=True, exist_ok=True)
            ch_writer = make_clickhouse_client(dsn)
            ch_reader = make_clickhouse_client(dsn)
        with startup_step(f"cannot connect to Postgres at {redacted(pg_url)}" if settings.postgres_url
                          else f"cannot connect to the embedded Postgres under {data_dir / 'postgres'}"):
            pg = await asyncpg.create_pool(pg_url, min_size=1, max_size=10)
        with startup_step(f"cannot connect to Redis at {redacted(redis_url)}" if settings.redis_url
                          else f"cannot connect to the embedded Redis under {data_dir / 'redis'}"):
            rds = redis_asyncio.from_url(redis_url, decode_responses=True)
            await rds.ping()
    except BaseException:
        for server in reversed(embedded):
            server.stop()
        raise
    return Engines(ch_writer=ch_writer, ch_reader=ch_reader, pg=pg, redis=rds, embedded=embedded,
                   clickhouse_dsn=dsn)
