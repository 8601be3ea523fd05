"""Postgres storage of tournaments (tables in `sql/0002_tournaments.sql`); events and registrations are
kept by `tournaments.event_store`.

The engine's whole state (`model.Tournament`) is one jsonb document per tournament, the single
source of truth; participants and matches are also kept as normalized rows for queries across
tournaments, synced from the audit entries of each operation (the engine computes those as the
exact difference between two states, so every changed, created or removed record is in them).

Writes go through a `Store` (`store.of(app)`): `write()` is one transaction that locks the tournament
row (`SELECT ... FOR UPDATE`), hands the decoded state to the caller, and saves the new state, the
normalized rows and the audit entries together. Concurrent writers to one tournament therefore run
one after the other. After a transaction that appended audit entries commits, the store calls its
`on_commit(tournament_id)` once (the app's: wake the webhook dispatcher), so no change waits for a
later one to be delivered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from . import webhooks
from .errors import NotFound
from .lifecycle import SETTINGS_BY_FORMAT, status
from .model import AuditEntry, Match, Tournament

_encode = msgspec.json.Encoder().encode
_decode_state = msgspec.json.Decoder(Tournament).decode
_decode_any = msgspec.json.Decoder().decode

_META = "id, name, format, settings, owner_key_id, status, created_at, updated_at"


@dataclass(frozen=True)
class Meta:
    """A tournament's row without its state document."""

    id: int
    name: str
    format: str
    settings: dict
    owner_key_id: int | None
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


def _meta(row: asyncpg.Record) -> Meta:
    return Meta(id=row["id"], name=row["name"], format=row["format"], settings=_decode_any(row["settings"]),
                owner_key_id=row["owner_key_id"], status=row["status"], created_at=row["created_at"],
                updated_at=row["updated_at"])


def _json(value: Any) -> str | None:
    return None if value is None else _encode(value).decode()


def public_settings(t: Tournament) -> dict:
    """The effective settings of the keys that apply to the format (defaults filled in)."""
    allowed = SETTINGS_BY_FORMAT[t.format]
    return {k: v for k, v in msgspec.to_builtins(t.settings).items() if k in allowed}


async def _append_audit(conn: asyncpg.Connection, tournament_id: int, entries: list[AuditEntry]) -> None:
    if entries:
        await conn.executemany(
            "INSERT INTO tournament_audit (tournament_id, at, actor, action, match_id, participant_id, before, after,"
            " forced) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)",
            [(tournament_id, e.at, e.actor, e.action, e.match_id, e.participant_id, _json(e.before), _json(e.after),
              e.forced) for e in entries])


def _match_row(tournament_id: int, m: Match) -> tuple:
    p1 = m.opponent1.participant_id if m.opponent1 is not None else None
    p2 = m.opponent2.participant_id if m.opponent2 is not None else None
    return (tournament_id, m.id, m.bracket, m.group, m.round, m.number, m.status, m.best_of, p1, p2, _json(m))


async def _sync_rows(conn: asyncpg.Connection, tournament_id: int, t: Tournament, entries: list[AuditEntry]) -> None:
    """Bring the normalized rows in line with ``t`` for every record the entries name."""
    matches = {m.id: m for m in t.matches}
    people = {p.id: p for p in t.participants}
    gone_m = [e.match_id for e in entries if e.match_id is not None and e.match_id not in matches]
    gone_p = [e.participant_id for e in entries if e.participant_id is not None and e.participant_id not in people]
    upsert_m = sorted({e.match_id for e in entries if e.match_id in matches})
    upsert_p = sorted({e.participant_id for e in entries if e.participant_id in people})
    if gone_m:
        await conn.execute("DELETE FROM tournament_matches WHERE tournament_id = $1 AND id = ANY($2::int[])",
                           tournament_id, gone_m)
    if gone_p:
        await conn.execute("DELETE FROM tournament_participants WHERE tournament_id = $1 AND id = ANY($2::int[])",
                           tournament_id, gone_p)
    if upsert_m:
        await conn.executemany(
            "INSERT INTO tournament_matches (tournament_id, id, bracket, group_number, round, number, status, best_of,"
            " participant1_id, participant2_id, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)"
            " ON CONFLICT (tournament_id, id) DO UPDATE SET bracket = EXCLUDED.bracket,"
            " group_number = EXCLUDED.group_number, round = EXCLUDED.round, number = EXCLUDED.number,"
            " status = EXCLUDED.status, best_of = EXCLUDED.best_of, participant1_id = EXCLUDED.participant1_id,"
            " participant2_id = EXCLUDED.participant2_id, record = EXCLUDED.record",
            [_match_row(tournament_id, matches[i]) for i in upsert_m])
    if upsert_p:
        await conn.executemany(
            "INSERT INTO tournament_participants (tournament_id, id, name, seed, disqualified)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tournament_id, id) DO UPDATE SET name = EXCLUDED.name,"
            " seed = EXCLUDED.seed, disqualified = EXCLUDED.disqualified",
            [(tournament_id, p.id, p.name, p.seed, p.disqualified) for p in (people[i] for i in upsert_p)])


async def _create(pool: asyncpg.Pool, name: str, t: Tournament, owner_key_id: int | None, *,
                  actor: str, at: dt.datetime) -> Meta:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO tournaments (name, format, settings, owner_key_id, status, state, created_at, updated_at)"
            f" VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb, $7, $7) RETURNING {_META}",
            name, t.format, _json(public_settings(t)), owner_key_id, status(t), _json(t), at)
        after = {"name": name, "format": t.format, "settings": public_settings(t), "owner_key_id": owner_key_id}
        await _append_audit(conn, row["id"], [AuditEntry(actor=actor, at=at, action="create_tournament",
                                                         match_id=None, participant_id=None, before=None, after=after)])
    return _meta(row)


async def load(pool: asyncpg.Pool, tournament_id: int) -> tuple[Meta, Tournament]:
    """The tournament's row and state (no lock). Raises ``NotFound``."""
    row = await pool.fetchrow(f"SELECT {_META}, state FROM tournaments WHERE id = $1", tournament_id)
    if row is None:
        raise NotFound(f"tournament {tournament_id} does not exist")
    return _meta(row), _decode_state(row["state"])


async def list_all(pool: asyncpg.Pool, *, format: str | None, status: str | None, owner_key_id: int | None,
                   limit: int, offset: int) -> tuple[int, list[Meta]]:
    """(total, page) of tournaments, newest first, optionally filtered."""
    where = "($1::text IS NULL OR format = $1) AND ($2::text IS NULL OR status = $2)" \
            " AND ($3::int IS NULL OR owner_key_id = $3)"
    total = await pool.fetchval(f"SELECT count(*) FROM tournaments WHERE {where}", format, status, owner_key_id)
    rows = await pool.fetch(f"SELECT {_META} FROM tournaments WHERE {where} ORDER BY id DESC LIMIT $4 OFFSET $5",
                            format, status, owner_key_id, limit, offset)
    return total, [_meta(r) for r in rows]


async def audit(pool: asyncpg.Pool, tournament_id: int, *, after_seq: int, limit: int,
                match_id: int | None = None, participant_id: int | None = None) -> list[dict]:
    """Audit entries of a tournament in order (``seq`` > ``after_seq``), as plain dicts."""
    rows = await pool.fetch(
        "SELECT seq, at, actor, action, match_id, participant_id, before, after, forced FROM tournament_audit"
        " WHERE tournament_id = $1 AND seq > $2 AND ($3::int IS NULL OR match_id = $3)"
        " AND ($4::int IS NULL OR participant_id = $4) ORDER BY seq LIMIT $5",
        tournament_id, after_seq, match_id, participant_id, limit)
    return [{"seq": r["seq"], "at": r["at"].isoformat(), "actor": r["actor"], "action": r["action"],
             "match_id": r["match_id"], "participant_id": r["participant_id"], "forced": r["forced"],
             "before": _decode_any(r["before"]) if r["before"] is not None else None,
             "after": _decode_any(r["after"]) if r["after"] is not None else None} for r in rows]


async def known(pool: asyncpg.Pool, tournament_id: int) -> bool:
    """True while the tournament exists, and after its deletion as long as its audit log does."""
    return await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM tournaments WHERE id = $1)"
        " OR EXISTS (SELECT 1 FROM tournament_audit WHERE tournament_id = $1)", tournament_id)


class Writer:
    """The locked tournament inside a write transaction; see ``write``."""

    def __init__(self, conn: asyncpg.Connection, meta: Meta, state: Tournament) -> None:
        self.conn, self.meta, self.state = conn, meta, state
        self.changed = False  # audit entries were appended: the commit must be announced

    async def save(self, new: Tournament, entries: list[AuditEntry]) -> Meta:
        """Store ``new`` as the state, sync the normalized rows, append ``entries``; returns the new row.
        A state that completes the tournament adds one ``complete`` entry (status before and after),
        whichever operation completed it."""
        was, now = self.meta.status, status(new)
        if entries and now == "completed" and was != "completed":
            last = entries[-1]
            entries = [*entries, AuditEntry(actor=last.actor, at=last.at, action="complete", match_id=None,
                                             participant_id=None, before={"status": was}, after={"status": now})]
        at = max((e.at for e in entries), default=None)
        row = await self.conn.fetchrow(
            "UPDATE tournaments SET state = $2::jsonb, status = $3, updated_at = coalesce($4, updated_at)"
            f" WHERE id = $1 RETURNING {_META}",
            self.meta.id, _json(new), status(new), at)
        await _sync_rows(self.conn, self.meta.id, new, entries)
        await _append_audit(self.conn, self.meta.id, entries)
        self.meta, self.state = _meta(row), new
        self.changed = self.changed or bool(entries)
        return self.meta

    async def rename(self, name: str, new: Tournament, entries: list[AuditEntry]) -> Meta:
        """Store a new name and state (format and settings as ``new`` has them) with ``entries``."""
        await self.conn.execute("UPDATE tournaments SET name = $2, format = $3, settings = $4::jsonb WHERE id = $1",
                                self.meta.id, name, new.format, _json(public_settings(new)))
        return await self.save(new, entries)

    async def delete(self, *, actor: str, at: dt.datetime) -> None:
        """Delete the tournament (its rows cascade); the audit log keeps a ``delete_tournament`` entry."""
        before = {"name": self.meta.name, "format": self.meta.format, "status": self.meta.status,
                  "owner_key_id": self.meta.owner_key_id,
                  "participants": [msgspec.to_builtins(p) for p in self.state.participants]}
        await _append_audit(self.conn, self.meta.id, [AuditEntry(actor=actor, at=at, action="delete_tournament",
                                                                 match_id=None, participant_id=None,
                                                                 before=before, after=None)])
        await self.conn.execute("DELETE FROM tournaments WHERE id = $1", self.meta.id)
        self.changed = True


class Store:
    """The tournaments' storage as one app uses it: its Postgres pool, and ``on_commit(tournament_id)``,
    called once after each committed transaction that appended audit entries (creations, changes,
    deletions), never inside one."""

    def __init__(self, pool: asyncpg.Pool, on_commit: Callable[[int], None] | None = None) -> None:
        self.pool = pool
        self.on_commit = on_commit or (lambda tournament_id: None)

    async def create(self, name: str, t: Tournament, owner_key_id: int | None, *, actor: str,
                     at: dt.datetime) -> Meta:
        """Insert a new tournament (state ``t``) and its ``create_tournament`` audit entry."""
        meta = await _create(self.pool, name, t, owner_key_id, actor=actor, at=at)
        self.on_commit(meta.id)
        return meta

    async def load(self, tournament_id: int) -> tuple[Meta, Tournament]:
        """The tournament's row and state (no lock). Raises ``NotFound``."""
        return await load(self.pool, tournament_id)

    @contextlib.asynccontextmanager
    async def write(self, tournament_id: int) -> AsyncIterator[Writer]:
        """One write transaction with the tournament row locked. Raises ``NotFound``; any exception
        inside rolls everything back (and announces nothing)."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(f"SELECT {_META}, state FROM tournaments WHERE id = $1 FOR UPDATE",
                                          tournament_id)
                if row is None:
                    raise NotFound(f"tournament {tournament_id} does not exist")
                w = Writer(conn, _meta(row), _decode_state(row["state"]))
                yield w
        if w.changed:
            self.on_commit(tournament_id)


def of(app) -> Store:
    """The app's `Store` (made on first use): after each commit it wakes the webhook dispatcher
    (`tournaments.webhooks.kick`), so every committed change is delivered without waiting for
    another one."""
    found = getattr(app.state, "tournament_store", None)
    if found is None or found.pool is not app.state.engines.pg:
        found = app.state.tournament_store = Store(app.state.engines.pg, lambda tournament_id: webhooks.kick(app))
    return found
