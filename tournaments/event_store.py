"""Postgres storage of an event's config and registrations (`sql/0003_tournament_events.sql`).

Writers call these inside ``store.write`` (the tournament row locked), so registration, check-in
and the bracket of one tournament change one after the other.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from fragstats.auth import token_hash

from .errors import NotFound
from .registration import EventConfig, Member, Registration

_CONFIG_FIELDS = tuple(EventConfig.__struct_fields__)
_REG = "id, name, tag, seed, members, status, queued_at, checked_in_at"
_members = msgspec.json.Decoder(list[Member]).decode
_encode = msgspec.json.encode


async def get_config(conn: asyncpg.Connection | asyncpg.Pool, tournament_id: int) -> EventConfig | None:
    """The event config, or None when the organiser never set one."""
    row = await conn.fetchrow(f"SELECT {', '.join(_CONFIG_FIELDS)} FROM tournament_events WHERE tournament_id = $1",
                              tournament_id)
    return None if row is None else EventConfig(**dict(row))


async def put_config(conn: asyncpg.Connection, tournament_id: int, cfg: EventConfig) -> None:
    """Insert or replace the event config."""
    cols = ", ".join(_CONFIG_FIELDS)
    params = ", ".join(f"${i + 2}" for i in range(len(_CONFIG_FIELDS)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _CONFIG_FIELDS)
    await conn.execute(
        f"INSERT INTO tournament_events (tournament_id, {cols}) VALUES ($1, {params})"
        f" ON CONFLICT (tournament_id) DO UPDATE SET {updates}",
        tournament_id, *(getattr(cfg, c) for c in _CONFIG_FIELDS))


def _reg(row: asyncpg.Record) -> Registration:
    return Registration(id=row["id"], name=row["name"], tag=row["tag"], seed=row["seed"],
                        members=_members(row["members"]), status=row["status"], queued_at=row["queued_at"],
                        checked_in_at=row["checked_in_at"])


async def registrations(conn: asyncpg.Connection | asyncpg.Pool, tournament_id: int) -> list[Registration]:
    """Every registration of the tournament, in order of ``queued_at`` then id."""
    rows = await conn.fetch(f"SELECT {_REG} FROM tournament_registrations WHERE tournament_id = $1"
                            " ORDER BY queued_at, id", tournament_id)
    return [_reg(r) for r in rows]


async def insert(conn: asyncpg.Connection, tournament_id: int, *, name: str, tag: str | None, seed: int | None,
                 members: list[Member], status: str, token: str, at: dt.datetime) -> Registration:
    """A new registration with the tournament's next entrant id (1, 2, ...; never given out twice,
    ``tournaments.last_entrant_id``); raises ``asyncpg.UniqueViolationError`` when the name is taken.
    Call inside the tournament's locked write."""
    row = await conn.fetchrow(
        "WITH n AS (UPDATE tournaments SET last_entrant_id = last_entrant_id + 1 WHERE id = $1"
        " RETURNING last_entrant_id)"
        " INSERT INTO tournament_registrations (tournament_id, id, name, tag, seed, members, status, queued_at,"
        " token_hash, created_at) SELECT $1, n.last_entrant_id, $2, $3, $4, $5::jsonb, $6, $7, $8, $7 FROM n"
        f" RETURNING {_REG}",
        tournament_id, name, tag, seed, _encode(members).decode(), status, at, token_hash(token))
    return _reg(row)


async def delete(conn: asyncpg.Connection, tournament_id: int, registration_id: int) -> None:
    """Remove a registration (its id is not given out again)."""
    await conn.execute("DELETE FROM tournament_registrations WHERE tournament_id = $1 AND id = $2",
                       tournament_id, registration_id)


async def set_seeds(conn: asyncpg.Connection, tournament_id: int, seeds: dict[int, int | None]) -> None:
    """Set the organiser's seed of each registration id in ``seeds`` (None: unseeded)."""
    if seeds:
        await conn.executemany("UPDATE tournament_registrations SET seed = $3 WHERE tournament_id = $1 AND id = $2",
                               [(tournament_id, rid, seed) for rid, seed in seeds.items()])


async def rename(conn: asyncpg.Connection, tournament_id: int, registration_id: int, name: str,
                 tag: str | None) -> None:
    """Change a registration's name and tag; raises ``asyncpg.UniqueViolationError`` when the name is taken."""
    await conn.execute("UPDATE tournament_registrations SET name = $3, tag = $4 WHERE tournament_id = $1 AND id = $2",
                       tournament_id, registration_id, name, tag)


async def by_token(conn: asyncpg.Connection | asyncpg.Pool, tournament_id: int, token: str) -> Registration | None:
    """The registration whose entrant token is ``token`` (None when unknown)."""
    row = await conn.fetchrow(f"SELECT {_REG} FROM tournament_registrations WHERE tournament_id = $1"
                              " AND token_hash = $2", tournament_id, token_hash(token))
    return None if row is None else _reg(row)


async def get(conn: asyncpg.Connection | asyncpg.Pool, tournament_id: int, registration_id: int) -> Registration:
    """One registration. Raises ``NotFound``."""
    row = await conn.fetchrow(f"SELECT {_REG} FROM tournament_registrations WHERE tournament_id = $1 AND id = $2",
                              tournament_id, registration_id)
    if row is None:
        raise NotFound(f"registration {registration_id} does not exist in this tournament")
    return _reg(row)


async def set_status(conn: asyncpg.Connection, tournament_id: int, ids: list[int], status: str,
                     queued_at: dt.datetime | None = None) -> None:
    """Move ``ids`` to ``status`` (and to the end of the queue when ``queued_at`` is given)."""
    if ids:
        await conn.execute("UPDATE tournament_registrations SET status = $3, queued_at = coalesce($4, queued_at)"
                           " WHERE tournament_id = $1 AND id = ANY($2::int[])", tournament_id, ids, status, queued_at)


async def set_checkin(conn: asyncpg.Connection, tournament_id: int, registration_id: int,
                      at: dt.datetime | None) -> None:
    """Record (or with None clear) a check-in."""
    await conn.execute("UPDATE tournament_registrations SET checked_in_at = $3 WHERE tournament_id = $1 AND id = $2",
                       tournament_id, registration_id, at)


async def config(conn: asyncpg.Connection | asyncpg.Pool, tournament_id: int) -> EventConfig:
    """The event config, or the defaults when the organiser never set one."""
    return await get_config(conn, tournament_id) or EventConfig()
