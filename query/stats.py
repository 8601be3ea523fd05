"""Read-side query functions: each returns the JSON-ready dict that both the JSON route and the
HTML page of a view render (Datasette's rule: one query function per view).

All of them read the aggregate tables with sum()/-Merge and GROUP BY (their rows merge only
eventually) — never a scan of raw_events for a leaderboard. raw_events serves the match timeline,
where its sort key (match_id first) makes the read a range, not a scan.

Definitions (the same as the materialized columns of `clickhouse/0008_raw_events_narrow.sql`):
`kills` counts only kills of other, non-team players; `deaths` counts every death, including
`suicides` and `world_deaths`; `team_kills` are their own counter. `kd` = kills / deaths (kills when
deaths is 0). `accuracy` = shots_hit / shots_fired (0 without shots). `damage` = damage dealt to
other players (hit points). Times are ISO-8601 UTC strings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fragstats.errors import ApiError
from fragstats.secrets import masked_claim, without_secrets

# stat name -> ORDER BY expression over the summed columns; each stat is named as its column and
# its JSON member (one spelling end to end).
LEADERBOARD_STATS = {
    "kills": "kills",
    "deaths": "deaths",
    "kd": "kd",
    "headshots": "headshots",
    "accuracy": "accuracy",
    "damage_dealt": "damage_dealt",
    "suicides": "suicides",
}
# Old spellings still understood (`stat=damage` before it was named after its column).
STAT_ALIASES = {"damage": "damage_dealt"}

_TOTALS = """
    sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides, sum(team_kills) AS team_kills,
    sum(world_deaths) AS world_deaths, sum(headshots) AS headshots,
    round(sum(damage_dealt), 1) AS damage_dealt, round(sum(damage_taken), 1) AS damage_taken,
    sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit,
    round(if(deaths = 0, toFloat64(kills), kills / deaths), 3) AS kd,
    round(if(shots_fired = 0, 0, shots_hit / shots_fired), 4) AS accuracy"""


def _iso(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None  # NaN: a position or angle the client did not send
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _clean(rows: list[dict]) -> list[dict]:
    return [{k: _iso(v) for k, v in row.items()} for row in rows]


def _paged(rows: list[dict]) -> tuple[int, list[dict]]:
    """A page of rows that each carry `total` (the query's `count() OVER ()`): the total, taken off
    every row, and the rows."""
    total = rows[0]["total"] if rows else 0
    for row in rows:
        row.pop("total")
    return int(total), rows


def _ranked(rows: list[dict], offset: int) -> tuple[int, list[dict]]:
    total, rows = _paged(rows)
    for i, row in enumerate(rows):
        row["rank"] = offset + i + 1
    return total, rows


# `by=user`: a player id claimed by a user counts as that user (ClickHouse `player_links`, the copy
# of the identity package's links); an unclaimed id stays itself.
_BY_USER = """LEFT JOIN (SELECT player_id, user_id FROM player_links FINAL WHERE linked = 1) AS l
    ON l.player_id = player_daily.player_id"""


async def leaderboard(engines, *, stat: str, since: dt.date | None, server_id: int | None,
                      limit: int, offset: int, by_user: bool = False) -> dict:
    """Players ranked by `stat` over days >= `since` (None: all time), optionally one server.

    Returns `{"total": players matching, "players": [{"rank", "player_id", "player_name", "kills",
    "deaths", "suicides", "team_kills", "world_deaths", "headshots", "damage_dealt", "damage_taken",
    "shots_fired", "shots_hit", "kd", "accuracy"}]}`. `by_user`: the player ids a user claimed count
    as one row, which also holds `user_id` (null for an unclaimed id) and `player_ids` (all its ids;
    `player_id` is the first of them). Raises ApiError 400 for an unknown stat.
    """
    if by_user:
        return await _leaderboard_by_user(engines, stat=stat, since=since, server_id=server_id, limit=limit,
                                          offset=offset)
    order, where, params = _board_query(stat, since, server_id, limit, offset)
    rows = await engines.query_dicts(f"""
        SELECT player_id, argMax(player_name, day) AS player_name, {_TOTALS}, count() OVER () AS total
        FROM player_daily WHERE {' AND '.join(where)}
        GROUP BY player_id
        ORDER BY {order} DESC, kills DESC, player_id
        LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}""", params)
    total, players = _ranked(_clean(rows), offset)
    return {"total": total, "players": players}


def _board_query(stat: str, since: dt.date | None, server_id: int | None, limit: int,
                 offset: int) -> tuple[str, list[str], dict[str, Any]]:
    """(ORDER BY expression, WHERE conditions, parameters) of a leaderboard over player_daily;
    raises ApiError 400 for an unknown stat."""
    order = LEADERBOARD_STATS.get(stat)
    if order is None:
        raise ApiError(400, "invalid_parameter", f"stat must be one of {sorted(LEADERBOARD_STATS)}")
    where = ["1"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if since is not None:
        where.append("day >= {since:Date}")
        params["since"] = since
    if server_id is not None:
        where.append("server_id = {server_id:UInt32}")
        params["server_id"] = server_id
    return order, where, params


async def _leaderboard_by_user(engines, *, stat: str, since: dt.date | None, server_id: int | None,
                               limit: int, offset: int) -> dict:
    order, where, params = _board_query(stat, since, server_id, limit, offset)
    rows = await engines.query_dicts(f"""
        SELECT arraySort(groupUniqArray(player_daily.player_id))[1] AS player_id,
               nullIf(any(l.user_id), 0) AS user_id, arraySort(groupUniqArray(player_daily.player_id)) AS player_ids,
               argMax(player_name, day) AS player_name, {_TOTALS}, count() OVER () AS total
        FROM player_daily {_BY_USER} WHERE {' AND '.join(where)}
        GROUP BY if(l.user_id = 0, concat('p:', player_daily.player_id), concat('u:', toString(l.user_id)))
        ORDER BY {order} DESC, kills DESC, player_id
        LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}""", params)
    total, players = _ranked(_clean(rows), offset)
    return {"total": total, "players": players}


async def _breakdown(engines, table: str, key: str, value: str, server_id: int | None, limit: int,
                     offset: int, columns: str) -> tuple[int, list[dict]]:
    where = [f"{key} = {{value:String}}"]
    params: dict[str, Any] = {"value": value, "limit": limit, "offset": offset}
    if server_id is not None:
        where.append("server_id = {server_id:UInt32}")
        params["server_id"] = server_id
    rows = await engines.query_dicts(f"""
        SELECT player_id, anyLast(player_name) AS player_name, {columns}, count() OVER () AS total
        FROM {table} WHERE {' AND '.join(where)}
        GROUP BY player_id
        ORDER BY kills DESC, player_id
        LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}""", params)
    return _ranked(_clean(rows), offset)


_WEAPON_COLUMNS = """sum(kills) AS kills, sum(deaths) AS deaths, sum(headshots) AS headshots,
    round(sum(damage_dealt), 1) AS damage_dealt, sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit,
    round(if(shots_fired = 0, 0, shots_hit / shots_fired), 4) AS accuracy"""
_MAP_COLUMNS = """sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides,
    sum(team_kills) AS team_kills, sum(world_deaths) AS world_deaths, sum(headshots) AS headshots,
    round(if(deaths = 0, toFloat64(kills), kills / deaths), 3) AS kd"""


async def weapon_leaderboard(engines, weapon: str, *, server_id: int | None, limit: int, offset: int) -> dict:
    """Players ranked by kills with `weapon` (all time): `{"weapon", "total", "players": [{"rank",
    "player_id", "player_name", "kills", "deaths", "headshots", "damage_dealt", "shots_fired", "shots_hit",
    "accuracy"}]}`; deaths are deaths by that weapon."""
    total, players = await _breakdown(engines, "player_weapon", "weapon", weapon, server_id, limit, offset,
                                      _WEAPON_COLUMNS)
    return {"weapon": weapon, "total": total, "players": players}


async def map_leaderboard(engines, map_name: str, *, server_id: int | None, limit: int, offset: int) -> dict:
    """Players ranked by kills on `map_name` (all time): `{"map_name", "total", "players": [{"rank",
    "player_id", "player_name", "kills", "deaths", "suicides", "team_kills", "world_deaths", "headshots", "kd"}]}`."""
    total, players = await _breakdown(engines, "player_map", "map_name", map_name, server_id, limit, offset,
                                      _MAP_COLUMNS)
    return {"map_name": map_name, "total": total, "players": players}


async def player_profile(engines, player_id: str) -> dict:
    """Totals, per weapon, per map and the 20 latest matches of one player.

    `{"player_id", "player_name", "totals": {...same counters as the leaderboard}, "first_day",
    "last_day", "weapons": [{"weapon", "kills", "deaths", "headshots", "damage_dealt", "shots_fired",
    "shots_hit", "accuracy"}], "maps": [{"map_name", "kills", "deaths", ...}], "matches": [{"match_id",
    "server_id", "map_name", "started_at", "kills", "deaths", ...}]}`. Raises ApiError 404 for a player
    never seen.
    """
    body = await players_profile(engines, [player_id])
    if body is None:
        raise ApiError(404, "not_found", f"no player {player_id!r}")
    return {"player_id": player_id, **body}


async def players_profile(engines, player_ids: list[str]) -> dict | None:
    """`player_profile` summed over several player ids (a user's claimed identities), without
    `player_id`; the name is the one last played under. None when none of them was ever seen."""
    p = {"ids": player_ids}
    totals = await engines.query_dicts(f"""
        SELECT argMax(player_name, day) AS player_name, min(day) AS first_day, max(day) AS last_day, {_TOTALS}
        FROM player_daily WHERE player_id IN {{ids:Array(String)}} HAVING count() > 0""", p)
    if not totals:
        return None
    head = _clean(totals)[0]
    weapons = await engines.query_dicts(f"""
        SELECT weapon, {_WEAPON_COLUMNS} FROM player_weapon WHERE player_id IN {{ids:Array(String)}}
        GROUP BY weapon ORDER BY kills DESC, weapon""", p)
    maps = await engines.query_dicts(f"""
        SELECT map_name, {_MAP_COLUMNS} FROM player_map WHERE player_id IN {{ids:Array(String)}}
        GROUP BY map_name ORDER BY kills DESC, map_name""", p)
    matches = await engines.query_dicts("""
        SELECT match_id, server_id, max(map_name) AS map_name, min(started_at) AS started_at,
               sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides, sum(headshots) AS headshots
        FROM player_match WHERE player_id IN {ids:Array(String)}
        GROUP BY match_id, server_id ORDER BY started_at DESC LIMIT 20""", p)
    name = head.pop("player_name")
    first_day, last_day = head.pop("first_day"), head.pop("last_day")
    return {"player_name": name, "first_day": first_day, "last_day": last_day,
            "totals": head, "weapons": _clean(weapons), "maps": _clean(maps), "matches": _clean(matches)}


async def player_matches(engines, player_id: str, *, limit: int, offset: int) -> dict:
    """A player's matches, newest first: `{"total", "matches": [{"match_id", "server_id", "map_name",
    "started_at", "kills", "deaths", "suicides", "headshots"}]}`. Raises ApiError 404 for a player
    never seen."""
    rows = await engines.query_dicts("""
        SELECT match_id, server_id, max(map_name) AS map_name, min(started_at) AS started_at,
               sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides, sum(headshots) AS headshots,
               count() OVER () AS total
        FROM player_match WHERE player_id = {player_id:String}
        GROUP BY match_id, server_id ORDER BY started_at DESC, match_id
        LIMIT {limit:UInt32} OFFSET {offset:UInt32}""", {"player_id": player_id, "limit": limit, "offset": offset})
    if not rows:
        seen = await engines.query("SELECT count() FROM player_match WHERE player_id = {player_id:String}",
                                   {"player_id": player_id})
        if not seen[0][0]:
            raise ApiError(404, "not_found", f"no player {player_id!r}")
    total, rows = _paged(_clean(rows))
    return {"total": total, "matches": rows}


async def server_summary(engines, server_id: int) -> dict:
    """`{"server_id", "events", "kills", "matches", "first_hour", "last_hour"}` of one server, all time
    (from `server_hourly`). Raises ApiError 404 when it never sent an event."""
    rows = await engines.query_dicts("""
        SELECT server_id, sum(events) AS events, sum(kills) AS kills, sum(matches_started) AS matches,
               min(hour) AS first_hour, max(hour) AS last_hour
        FROM server_hourly WHERE server_id = {server_id:UInt32} GROUP BY server_id""", {"server_id": server_id})
    if not rows:
        raise ApiError(404, "not_found", f"server {server_id} has sent no events")
    return _clean(rows)[0]


HEATMAP_CELL_UNITS = 128
HEATMAP_KINDS = ("kills", "deaths")  # the `kind` column of the heatmap table (clickhouse/0009)


async def heatmap(engines, map_name: str, *, player_id: str | None, kind: str) -> dict:
    """Kill or death positions on `map_name` as grid cells, for one player or (None) everyone.

    `{"map_name", "player_id", "kind", "cell_size": 128 (game units), "cells": [{"x", "y", "count"}],
    "max": largest count}`; a cell (x, y) covers [x*128, (x+1)*128) x [y*128, (y+1)*128) in game units.
    Kill positions are where the killer stood; death positions where the victim fell.
    """
    where = ["map_name = {map_name:String}", "kind = {kind:String}"]
    params: dict[str, Any] = {"map_name": map_name, "kind": kind}
    if player_id is not None:
        where.append("player_id = {player_id:String}")
        params["player_id"] = player_id
    rows = await engines.query(f"""
        SELECT x, y, sum(count) FROM heatmap WHERE {' AND '.join(where)}
        GROUP BY x, y ORDER BY x, y""", params)
    cells = [{"x": x, "y": y, "count": n} for x, y, n in rows]
    return {"map_name": map_name, "player_id": player_id, "kind": kind, "cell_size": HEATMAP_CELL_UNITS,
            "cells": cells, "max": max((c["count"] for c in cells), default=0)}


_MATCH_COLUMNS = """server_id, match_id, max(session_id) AS session_id, max(map_name) AS map_name,
    max(gametype) AS gametype, min(started_at) AS started_at, max(last_event_at) AS last_event_at,
    max(has_end) = 1 AS ended, sum(events) AS events, sum(kills) AS kills, uniqArrayMerge(players) AS players"""


async def list_matches(engines, *, server_id: int | None, map_name: str | None, limit: int, offset: int) -> dict:
    """Matches, newest first: `{"total", "matches": [{"server_id", "match_id", "session_id", "map_name",
    "gametype", "started_at", "last_event_at", "ended", "events", "kills", "players"}]}`."""
    where = ["1"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if server_id is not None:
        where.append("server_id = {server_id:UInt32}")
        params["server_id"] = server_id
    having = ""
    if map_name:
        having = "HAVING map_name = {map_name:String}"
        params["map_name"] = map_name
    rows = await engines.query_dicts(f"""
        SELECT {_MATCH_COLUMNS}, count() OVER () AS total FROM matches WHERE {' AND '.join(where)}
        GROUP BY server_id, match_id {having}
        ORDER BY started_at DESC, match_id LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}""", params)
    total, rows = _paged(_clean(rows))
    return {"total": total, "matches": rows}


async def match_scoreboard(engines, match_id: str) -> dict:
    """One match and its players: `{"match": {...as in list_matches}, "players": [{"player_id",
    "player_name", "kills", "deaths", "suicides", "team_kills", "world_deaths", "headshots",
    "damage_dealt", "shots_fired", "shots_hit", "kd"}]}` ordered by kills. Raises ApiError 404."""
    p = {"match_id": match_id}
    head = await engines.query_dicts(f"""
        SELECT {_MATCH_COLUMNS} FROM matches WHERE match_id = {{match_id:String}}
        GROUP BY server_id, match_id""", p)
    if not head:
        raise ApiError(404, "not_found", f"no match {match_id!r}")
    players = await engines.query_dicts("""
        SELECT player_id, anyLast(player_name) AS player_name, sum(kills) AS kills, sum(deaths) AS deaths,
               sum(suicides) AS suicides, sum(team_kills) AS team_kills, sum(world_deaths) AS world_deaths,
               sum(headshots) AS headshots, round(sum(damage_dealt), 1) AS damage_dealt,
               sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit,
               round(if(deaths = 0, toFloat64(kills), kills / deaths), 3) AS kd
        FROM player_match WHERE match_id = {match_id:String}
        GROUP BY player_id ORDER BY kills DESC, deaths, player_id""", p)
    return {"match": _clean(head)[0], "players": _clean(players)}


# raw_events stores a player as the event's actor or target (clickhouse/0008) and reads it back
# under the wire's names through ALIAS columns (attacker_*, victim_*, player_*); a hit's target is
# the target role itself, which other types use too (a kill's victim): the timeline shows target_*
# for hits only, as before. A kill's killer block, kept in `extra`, was never shown.
_KILLER_KEYS = ", ".join(f"'killer_{suffix}'" for suffix in
                         ("name", "guid", "smf_id", "team", "x", "y", "z", "pitch", "yaw", "stance"))
_TIMELINE_COLUMNS = f"""type, timestamp, occurred_at, received_at, server_id, map_name,
    attacker_id, attacker_name, victim_id, victim_name, player_id, player_name,
    if(type = 'weapon_hit', target_id, '') AS target_id, if(type = 'weapon_hit', target_name, '') AS target_name,
    weapon, mod, hitloc, damage, kill_kind,
    attacker_x, attacker_y, attacker_z, victim_x, victim_y, victim_z, player_x, player_y, player_z,
    message, item, winning_team, flag,
    if(type IN ('round_start', 'round_end', 'heartbeat'), round_number, NULL) AS round_number,
    if(type IN ('match_end', 'heartbeat'), allies_score, NULL) AS allies_score,
    if(type IN ('match_end', 'heartbeat'), axis_score, NULL) AS axis_score,
    if(type = 'match_end', red_score, NULL) AS red_score,
    if(type = 'match_end', blue_score, NULL) AS blue_score,
    if(type IN ('match_start', 'match_end'), partial, NULL) AS partial,
    if(type = 'player_kill', mapFilter((k, v) -> k NOT IN ({_KILLER_KEYS}), extra), extra) AS extra"""


async def match_timeline(engines, match_id: str, *, types: list[str] | None, limit: int, offset: int) -> dict:
    """The events of one match in game-clock order: `{"match_id", "events": [{"type", "timestamp" (s, game
    clock), "occurred_at", "received_at", ...non-empty fields}]}`; optionally only some `types`.
    `extra` never shows a secret key (`fragstats.secrets`: sealed at the door, and rows stored
    before that may hold the clear token)."""
    where = ["match_id = {match_id:String}"]
    params: dict[str, Any] = {"match_id": match_id, "limit": limit, "offset": offset}
    if types:
        where.append("type IN {types:Array(String)}")
        params["types"] = types
    rows = await engines.query_dicts(f"""
        SELECT {_TIMELINE_COLUMNS} FROM raw_events WHERE {' AND '.join(where)}
        ORDER BY timestamp, occurred_at LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}""", params)
    for row in rows:
        row["extra"] = without_secrets(row["extra"])
        if row["type"] == "chat":
            row["message"] = masked_claim(row["message"])
    events = [{k: v for k, v in row.items() if v not in ("", None, {})} for row in _clean(rows)]
    return {"match_id": match_id, "events": events}
