"""Numbered plain-SQL migrations for Postgres (`sql/`) and ClickHouse (`clickhouse/`).

The files live in the repository's top-level `sql/` and `clickhouse/` folders; `fragstats/sql` and
`fragstats/clickhouse` link to them, so they are package data of `fragstats` (pyproject.toml) and
are read through `importlib.resources` from a source checkout, an editable install or a wheel alike.

Each file `NNNN_name.sql` runs once, in order, and is recorded in a `schema_migrations` table of
its engine, so start-up is idempotent. A ClickHouse file may hold several statements separated by
`;` at the end of a line (ClickHouse's HTTP interface takes one statement per call).
"""

from __future__ import annotations

import asyncio
import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import asyncpg

POSTGRES_DIR: Traversable = files("fragstats") / "sql"
CLICKHOUSE_DIR: Traversable = files("fragstats") / "clickhouse"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files(folder: Traversable) -> list[Traversable]:
    """The `*.sql` files of `folder` (a directory or package resource), sorted by name, i.e. by number.

    Raises FileNotFoundError when `folder` is missing (a broken install must not start with no
    schema) and ValueError on a badly named file."""
    if not folder.is_dir():
        raise FileNotFoundError(f"migration folder {folder} not found")
    found = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    for path in found:
        if not _NAME.match(path.name):
            raise ValueError(f"migration file {path} is not named NNNN_name.sql")
    return found


def split_statements(sql: str) -> list[str]:
    """Split on `;` at line ends, dropping `--` comment-only chunks."""
    parts = re.split(r";\s*(?:\n|$)", sql)
    out = []
    for part in parts:
        lines = [ln for ln in part.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            out.append(text)
    return out


async def migrate_postgres(pool: asyncpg.Pool, folder: Traversable = POSTGRES_DIR) -> list[str]:
    """Apply pending Postgres migrations, each in its own transaction; returns the names applied."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        # One app process at a time migrates: others wait on the advisory lock.
        await conn.execute("SELECT pg_advisory_lock(7262)")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for path in migration_files(folder):
                if path.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migrations(name) VALUES ($1)", path.name)
                applied.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(7262)")
    return applied


def migrate_clickhouse(client: Any, folder: Traversable = CLICKHOUSE_DIR) -> list[str]:
    """Apply pending ClickHouse DDL files (blocking; call in a thread). Returns the names applied.

    ClickHouse has no transactional DDL, so statements are written `IF NOT EXISTS` and a file
    that failed half-way can simply run again.
    """
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name String, applied_at DateTime DEFAULT now())"
        " ENGINE = MergeTree ORDER BY name"
    )
    done = {row[0] for row in client.query("SELECT name FROM schema_migrations").result_rows}
    applied = []
    for path in migration_files(folder):
        if path.name in done:
            continue
        for statement in split_statements(path.read_text(encoding="utf-8")):
            client.command(statement)
        client.command("INSERT INTO schema_migrations (name) VALUES ({n:String})", parameters={"n": path.name})
        applied.append(path.name)
    return applied


def apply_raw_events_ttl(client: Any, days: int) -> None:
    """Set (days > 0) the TTL of raw_events; existing parts are not rewritten at once."""
    if days > 0:
        client.command(
            f"ALTER TABLE raw_events MODIFY TTL toDate(received_at) + INTERVAL {int(days)} DAY",
            settings={"materialize_ttl_after_modify": 0},
        )


async def migrate_all(engines: Any, ttl_days: int = 0) -> dict[str, list[str]]:
    """Both engines' migrations; returns {"postgres": [...], "clickhouse": [...]} of files applied."""
    pg = await migrate_postgres(engines.pg)
    ch = await asyncio.to_thread(migrate_clickhouse, engines.ch_writer)
    await asyncio.to_thread(apply_raw_events_ttl, engines.ch_writer, ttl_days)
    return {"postgres": pg, "clickhouse": ch}
