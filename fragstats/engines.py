"""The three engines behind one object: ClickHouse, Postgres, Redis — embedded by default.

One code path for both modes (embedded or server): only the URL differs. ClickHouse is reached through
clickhouse-connect's *sync* client in worker threads, because its async client refuses `chdb://`;
the writer and the readers get separate clients, since a chDB client serialises its calls on one
handle lock and a long insert must not hold up a leaderboard query.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import clickhouse_connect
import redis.asyncio as redis_asyncio

from fragstats.embedded import EmbeddedPostgres, EmbeddedRedis
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


async def open_engines(settings: Settings) -> Engines:
    """Start embedded servers where no URL is set, then connect to all three engines.

    Raises RuntimeError when an embedded server cannot start, and the client libraries' own
    errors when a configured server cannot be reached.
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
        if dsn.startswith("chdb://"):
            (data_dir / "clickhouse").mkdir(parents=True, exist_ok=True)
        ch_writer = make_clickhouse_client(dsn)
        ch_reader = make_clickhouse_client(dsn)
        pg = await asyncpg.create_pool(pg_url, min_size=1, max_size=10)
        rds = redis_asyncio.from_url(redis_url, decode_responses=True)
        await rds.ping()
    except BaseException:
        for server in reversed(embedded):
            server.stop()
        raise
    return Engines(ch_writer=ch_writer, ch_reader=ch_reader, pg=pg, redis=rds, embedded=embedded,
                   clickhouse_dsn=dsn)
