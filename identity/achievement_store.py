"""Achievements in Postgres: one locked read, the pure fold (`identity.achievements`), one write.

- `AchievementStore.apply(plays)`: the after-commit path. Under a transaction-scoped advisory lock
  (several app processes, and the backfill, never fold at once) it reads the counters, unlocks and
  open-match states the plays touch, folds, and writes back: counters upserted, unlocks inserted
  once (`ON CONFLICT DO NOTHING` on (code, player_id)), ended matches' states deleted. New unlocks
  go to the live feed (Redis stream `fragstats:live:feed`, SSE `event: achievement`).
- `backfill()`: the same fold over every relevant event in ClickHouse `raw_events`, from an empty
  state, replacing all progress and unlocks (run by `fragstats achievements backfill`), up to a
  watermark that live folding respects afterwards.
- Reads for the routes: definitions, a player's (or a user's) achievements and progress, recent
  unlocks, the points leaderboard.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import msgspec

from fragstats.cooperative import mapped, slices
from fragstats.identities import Play
from identity.achievements import Folder, State, Unlock, parse_rule, players_of, sort_key

log = logging.getLogger("fragstats.identity")
FEED = "fragstats:live:feed"  # the live feed's stream (written by ingest/live.py, served by query/live.py)
FEED_MAXLEN = 10_000
_LOCK = 7263  # pg advisory lock key of achievement folding (7262 is the migrations')
PLAY_TYPES = ("player_kill", "distance", "match_start", "match_end")
# raw_events columns of a Play, in Play's field names (the materialized ids are the same rule).
_PLAY_COLUMNS = """type, server_id, match_id, timestamp, toFloat64(occurred_at) AS occurred_at,
    toFloat64(received_at) AS received_at, attacker_id, fragstats_display_name(attacker_name) AS attacker_name,
    attacker_team, victim_id, victim_team, player_id, fragstats_display_name(player_name) AS player_name,
    player_team, weapon, hitloc, kill_kind, toFloat64(distance) AS distance, winning_team, partial"""
_ORDER = ("received_at, server_id, match_id, timestamp, occurred_at, "
          "multiIf(type = 'match_start', 0, type = 'player_kill', 1, type = 'distance', 2, type = 'match_end', 4, 9), "
          "attacker_id, victim_id, player_id, weapon, hitloc")


def _ts(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


class AchievementStore:
    """Definitions cached from Postgres at start (and after a backfill); folding and reads."""

    def __init__(self, pool, engines, redis, unlocks_total, page_rows: int):
        self.pool = pool
        self.engines = engines
        self.redis = redis
        self.unlocks_total = unlocks_total
        self.page_rows = page_rows
        self.definitions: list[dict] = []
        self.folder = Folder([])

    async def load_definitions(self) -> None:
        rows = await self.pool.fetch("SELECT code, name, description, category, tier, rule, points, secret"
                                     " FROM achievements ORDER BY position, code")
        self.definitions = [{**dict(r), "rule": json.loads(r["rule"])} for r in rows]
        self.folder = Folder([parse_rule(d["code"], d["rule"]) for d in self.definitions])

    # ---- folding ----------------------------------------------------------------------------

    async def apply(self, plays: list[Play]) -> list[Unlock]:
        """Fold one committed batch's plays (types of `PLAY_TYPES`; others are ignored)."""
        # Keys computed in slices and sorted in C: a batch's plays are tens of thousands, and neither
        # this nor the fold below may hold the loop for long (fragstats.cooperative).
        plays = [p for p in plays if p.type in PLAY_TYPES]
        if not plays:
            return []
        keys = await mapped(sort_key, plays)
        plays = [plays[i] for i in sorted(range(len(plays)), key=keys.__getitem__)]
        players = sorted(players_of(plays) | {p.victim_id for p in plays if p.victim_id})
        matches = sorted({(p.server_id, p.match_id) for p in plays})
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            watermark = await conn.fetchval("SELECT extract(epoch FROM max(watermark)) FROM achievement_backfills")
            if watermark is not None:  # what the last backfill counted is not counted again
                plays = [p for p in plays if round(p.received_at * 1000) > round(float(watermark) * 1000)]
                if not plays:
                    return []
            state = State()
            for r in await conn.fetch("SELECT player_id, counter, value FROM achievement_counters"
                                      " WHERE player_id = ANY($1::text[])", players):
                state.counters[(r["player_id"], r["counter"])] = r["value"]
            for r in await conn.fetch("SELECT code, player_id FROM achievement_unlocks WHERE player_id = ANY($1::text[])",
                                      players):
                state.unlocked.add((r["code"], r["player_id"]))
            for r in await conn.fetch(
                    "SELECT server_id, match_id, state FROM achievement_matches"
                    " WHERE (server_id, match_id) IN (SELECT * FROM unnest($1::int[], $2::text[]))",
                    [m[0] for m in matches], [m[1] for m in matches]):
                state.matches[(r["server_id"], r["match_id"])] = json.loads(r["state"])
            unlocks: list[Unlock] = []
            async for part in slices(plays):  # a left fold: slice by slice is the same fold
                unlocks += self.folder.fold(state, part)
            await self._write(conn, state, unlocks, matches)
        if unlocks:
            self.unlocks_total.inc(len(unlocks))
            await self._publish(unlocks)
        return unlocks

    async def _write(self, conn, state: State, unlocks: list[Unlock], matches) -> None:
        changed = sorted(state.changed)
        if changed:
            await conn.executemany(
                "INSERT INTO achievement_counters (player_id, counter, value) VALUES ($1, $2, $3)"
                " ON CONFLICT (player_id, counter) DO UPDATE SET value = EXCLUDED.value",
                [(pid, c, state.counters[(pid, c)]) for pid, c in changed])
        if unlocks:
            await conn.executemany(
                "INSERT INTO achievement_unlocks (code, player_id, player_name, unlocked_at, event)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                [(u.code, u.player_id, u.player_name, _ts(u.unlocked_at), json.dumps(u.event)) for u in unlocks])
        open_ = [(s, m, json.dumps(state.matches[(s, m)])) for s, m in matches if (s, m) in state.matches]
        if open_:
            await conn.executemany(
                "INSERT INTO achievement_matches (server_id, match_id, state, updated_at) VALUES ($1, $2, $3, now())"
                " ON CONFLICT (server_id, match_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()", open_)
        ended = [(s, m) for s, m in matches if (s, m) in state.ended and (s, m) not in state.matches]
        if ended:
            await conn.executemany("DELETE FROM achievement_matches WHERE server_id = $1 AND match_id = $2", ended)
        await conn.execute("DELETE FROM achievement_matches WHERE updated_at < now() - interval '1 day'")

    async def _publish(self, unlocks: list[Unlock]) -> None:
        names = {d["code"]: d["name"] for d in self.definitions}
        try:
            pipe = self.redis.pipeline(transaction=False)
            for u in unlocks:
                data = {"code": u.code, "name": names.get(u.code, u.code), "player_id": u.player_id,
                        "player_name": u.player_name, "unlocked_at": _ts(u.unlocked_at).isoformat(),
                        "server_id": u.event["server_id"], "match_id": u.event["match_id"]}
                pipe.xadd(FEED, {"data": msgspec.json.encode(data).decode(), "match_id": u.event["match_id"],
                                 "event": "achievement"}, maxlen=FEED_MAXLEN, approximate=True)
            await pipe.execute()
        except Exception:  # the unlocks are stored; the feed is best effort
            log.warning("could not publish %d unlocks to the live feed", len(unlocks), exc_info=True)

    async def backfill(self) -> dict:
        """Recompute every counter and unlock from ClickHouse `raw_events` (all time), replacing what
        Postgres holds. `{"events": read, "unlocks": n, "players": with any counter, "watermark":
        epoch s, "seconds": elapsed}`.

        It holds the folding lock from start to end, so live folding waits meanwhile (the hooks then
        run behind). It folds the events received up to the watermark (the latest receipt time stored
        when it starts) and records it: live folding afterwards skips plays received at or before it,
        which the backfill has counted. (An event received before the watermark but stored only later,
        i.e. replayed from the spool during the backfill, is then counted by neither: run the backfill
        while the spool is empty.)"""
        started = time.monotonic()
        async with self.pool.acquire() as lock:
            await lock.execute("SELECT pg_advisory_lock($1)", _LOCK)
            try:
                return await self._backfill(started)
            finally:
                await lock.execute("SELECT pg_advisory_unlock($1)", _LOCK)

    async def _backfill(self, started: float) -> dict:
        await self.load_definitions()
        watermark = (await self.engines.query("SELECT toFloat64(max(received_at)) FROM raw_events"))[0][0] or 0.0
        spans = await self.engines.query(
            "SELECT received_at, count() FROM raw_events WHERE type IN {types:Array(String)}"
            " AND received_at <= {w:DateTime64(3, 'UTC')} GROUP BY received_at ORDER BY received_at",
            {"types": list(PLAY_TYPES), "w": _ts(watermark)})
        state, unlocks, events = State(), [], 0
        lo, gathered = None, 0
        for i, (at, n) in enumerate(spans):  # pages of whole receipt times, about `page_rows` events each
            lo = at if lo is None else lo
            gathered += n
            if gathered < self.page_rows and i + 1 < len(spans):
                continue
            rows = await self.engines.query_dicts(
                f"SELECT {_PLAY_COLUMNS} FROM raw_events WHERE type IN {{types:Array(String)}}"
                " AND received_at >= {lo:DateTime64(3, 'UTC')} AND received_at <= {hi:DateTime64(3, 'UTC')}"
                f" ORDER BY {_ORDER}", {"types": list(PLAY_TYPES), "lo": lo, "hi": at})
            lo, gathered = None, 0
            plays = [Play(**row) for row in rows]
            events += len(plays)
            unlocks += self.folder.fold(state, sorted(plays, key=sort_key))
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("TRUNCATE achievement_counters, achievement_unlocks, achievement_matches")
            state.changed = set(state.counters)
            await self._write(conn, state, unlocks, sorted(state.matches))
            await conn.execute("INSERT INTO achievement_backfills (watermark) VALUES ($1)", _ts(watermark))
        self.unlocks_total.inc(len(unlocks))
        return {"events": events, "unlocks": len(unlocks), "players": len({pid for pid, _ in state.counters}),
                "watermark": watermark, "seconds": round(time.monotonic() - started, 3)}

    # ---- reads ------------------------------------------------------------------------------

    def public_definitions(self, unlocked: set[str] = frozenset()) -> list[dict]:
        """Definitions as shown: a secret one the viewer has not unlocked shows no name, description
        or rule."""
        out = []
        for d in self.definitions:
            shown = {k: d[k] for k in ("code", "name", "description", "category", "tier", "points", "secret")}
            if d["secret"] and d["code"] not in unlocked:
                shown.update(name="Secret achievement", description="Keep playing to find out.")
            else:
                shown["rule"] = d["rule"]
            out.append(shown)
        return out

    async def of_players(self, player_ids: list[str]) -> dict:
        """Achievements of one or several player ids (a user's linked ids): `{"points", "unlocked":
        n, "achievements": [{"code", "name", "description", "category", "tier", "points", "secret",
        "unlocked": bool, "unlocked_at", "player_id", "event", "progress": {"counter", "value",
        "target"}}]}`; over several ids an achievement counts once (earliest unlock), progress is the
        best single id's."""
        unlocks = await self.pool.fetch(
            "SELECT DISTINCT ON (code) code, player_id, unlocked_at, event FROM achievement_unlocks"
            " WHERE player_id = ANY($1::text[]) ORDER BY code, unlocked_at, player_id", player_ids)
        counters = await self.pool.fetch(
            "SELECT counter, max(value) AS value FROM achievement_counters WHERE player_id = ANY($1::text[])"
            " GROUP BY counter", player_ids)
        got = {r["code"]: r for r in unlocks}
        values = {r["counter"]: r["value"] for r in counters}
        out, points = [], 0
        for d, rule in zip(self.public_definitions(set(got)), self.folder.rules):
            u = got.get(d["code"])
            if u:
                points += d["points"]
            shown = {**d, "unlocked": u is not None, "unlocked_at": _iso(u["unlocked_at"]) if u else None,
                     "player_id": u["player_id"] if u else None, "event": json.loads(u["event"]) if u else None}
            if not d["secret"] or u:
                shown["progress"] = {"counter": rule.progress_counter,
                                     "value": min(values.get(rule.progress_counter, 0.0), rule.progress_target),
                                     "target": rule.progress_target}
            out.append(shown)
        return {"points": points, "unlocked": len(got), "achievements": out}

    async def recent(self, limit: int) -> list[dict]:
        """The newest unlocks: `[{"code", "name", "player_id", "player_name", "unlocked_at", "event"}]`."""
        rows = await self.pool.fetch(
            "SELECT u.code, a.name, u.player_id, u.player_name, u.unlocked_at, u.event FROM achievement_unlocks u"
            " JOIN achievements a ON a.code = u.code ORDER BY u.unlocked_at DESC, u.code, u.player_id LIMIT $1", limit)
        return [{**dict(r), "unlocked_at": _iso(r["unlocked_at"]), "event": json.loads(r["event"])} for r in rows]

    async def leaderboard(self, limit: int, offset: int) -> dict:
        """Player ids by achievement points: `{"total", "players": [{"rank", "player_id", "player_name",
        "points", "unlocked"}]}`."""
        rows = await self.pool.fetch(
            "SELECT u.player_id, max(u.player_name) AS player_name, sum(a.points)::int AS points, count(*)::int AS unlocked,"
            " count(*) OVER () AS total FROM achievement_unlocks u JOIN achievements a ON a.code = u.code"
            " GROUP BY u.player_id ORDER BY points DESC, unlocked DESC, u.player_id LIMIT $1 OFFSET $2", limit, offset)
        total = rows[0]["total"] if rows else 0
        return {"total": total, "players": [{"rank": offset + i + 1, **{k: r[k] for k in (
            "player_id", "player_name", "points", "unlocked")}} for i, r in enumerate(rows)]}

