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
from fragstats.secrets import without_secrets

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


def _ranked(rows: list[dict], offset: int) -> tuple[int, list[dict]]:
    total = rows[0].pop("total") if rows else 0
    for i, row in enumerate(rows):
        row.pop("total", None)
        row["rank"] = offset + i + 1
    return int(total), rows


async def leaderboard(engines, *, stat: str, since: dt.date | None, server_id: int | None,
                      limit: int, offset: int) -> dict:
    """Players ranked by `stat` over days >= `since` (None: all time), optionally one server.

    Returns `{"total": players matching, "players": [{"rank", "player_id", "player_name", "kills",
    "deaths", "suicides", "team_kills", "world_deaths", "headshots", "damage_dealt", "damage_taken",
    "shots_fired", "shots_hit", "kd", "accuracy"}]}`. Raises ApiError 400 for an unknown stat.
    """
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
    rows = await engines.query_dicts(f"""
        SELECT player_id, argMax(player_name, day) AS player_name, {_TOTALS}, count() OVER () AS total
        FROM player_daily WHERE {' AND '.join(where)}
        GROUP BY player_id
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
    p = {"player_id": player_id}
    totals = await engines.query_dicts(f"""
        SELECT argMax(player_name, day) AS player_name, min(day) AS first_day, max(day) AS last_day, {_TOTALS}
        FROM player_daily WHERE player_id = {{player_id:String}} HAVING count() > 0""", p)
    if not totals:
        raise ApiError(404, "not_found", f"no player {player_id!r}")
    head = _clean(totals)[0]
    weapons = await engines.query_dicts(f"""
        SELECT weapon, {_WEAPON_COLUMNS} FROM player_weapon WHERE player_id = {{player_id:String}}
        GROUP BY weapon ORDER BY kills DESC, weapon""", p)
    maps = await engines.query_dicts(f"""
        SELECT map_name, {_MAP_COLUMNS} FROM player_map WHERE player_id = {{player_id:String}}
        GROUP BY map_name ORDER BY kills DESC, map_name""", p)
    matches = await engines.query_dicts("""
        SELECT match_id, server_id, max(map_name) AS map_name, min(started_at) AS started_at,
               sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides, sum(headshots) AS headshots
        FROM player_match WHERE player_id = {player_id:String}
        GROUP BY match_id, server_id ORDER BY started_at DESC LIMIT 20""", p)
    name = head.pop("player_name")
    first_day, last_day = head.pop("first_day"), head.pop("last_day")
    return {"player_id": player_id, "player_name": name, "first_day": first_day, "last_day": last_day,
            "totals": head, "weapons": _clean(weapons), "maps": _clean(maps), "matches": _clean(matches)}


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
    rows = _clean(rows)
    total = rows[0]["total"] if rows else 0
    for row in rows:
        row.pop("total")
    return {"total": int(total), "matches": rows}


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


# raw_events stores a player as the event's actor or target (clickhouse/0008); the timeline gives
# them back under the wire's names: a kill's or damage's attacker and victim, a shot's or hit's
# player and a hit's target (a suicide's killer, and a kill's killer block kept in `extra`, were
# never shown). NaN where a type has no such player; `_clean` drops it.
_KILLER_KEYS = ", ".join(f"'killer_{suffix}'" for suffix in
                         ("name", "guid", "smf_id", "team", "x", "y", "z", "pitch", "yaw", "stance"))
_TIMELINE_COLUMNS = f"""type, timestamp, occurred_at, received_at, server_id, map_name,
    if(by_attacker, a_id, '') AS attacker_id, if(by_attacker, a_name, '') AS attacker_name,
    if(by_attacker, t_id, '') AS victim_id, if(by_attacker, t_name, '') AS victim_name,
    if(by_attacker, '', a_id) AS player_id, if(by_attacker, '', a_name) AS player_name,
    if(type = 'weapon_hit', t_id, '') AS target_id, if(type = 'weapon_hit', t_name, '') AS target_name,
    weapon, mod, hitloc, damage, kill_kind,
    if(by_attacker, a_x, nan) AS attacker_x, if(by_attacker, a_y, nan) AS attacker_y,
    if(by_attacker, a_z, nan) AS attacker_z, if(by_attacker, t_x, nan) AS victim_x,
    if(by_attacker, t_y, nan) AS victim_y, if(by_attacker, t_z, nan) AS victim_z,
    if(by_attacker, nan, a_x) AS player_x, if(by_attacker, nan, a_y) AS player_y, if(by_attacker, nan, a_z) AS player_z,
    message, item, winning_team, flag,
    if(type IN ('round_start', 'round_end', 'heartbeat'), round_number, NULL) AS round_number,
    if(type IN ('match_end', 'heartbeat'), allies_score, NULL) AS allies_score,
    if(type IN ('match_end', 'heartbeat'), axis_score, NULL) AS axis_score,
    if(type = 'match_end', red_score, NULL) AS red_score,
    if(type = 'match_end', blue_score, NULL) AS blue_score,
    if(type IN ('match_start', 'match_end'), partial, NULL) AS partial,
    if(type = 'player_kill', mapFilter((k, v) -> k NOT IN ({_KILLER_KEYS}), extra), extra) AS extra"""
_TIMELINE_SOURCE = """(SELECT *, kill_kind, type IN ('player_kill', 'damage') AS by_attacker,
    actor_id AS a_id, actor_name AS a_name, actor_x AS a_x, actor_y AS a_y, actor_z AS a_z,
    target_id AS t_id, target_name AS t_name, target_x AS t_x, target_y AS t_y, target_z AS t_z
    FROM raw_events)"""


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
        SELECT {_TIMELINE_COLUMNS} FROM {_TIMELINE_SOURCE} WHERE {' AND '.join(where)}
        ORDER BY timestamp, occurred_at LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}""", params)
    for row in rows:
        row["extra"] = without_secrets(row["extra"])
    events = [{k: v for k, v in row.items() if v not in ("", None, {})} for row in _clean(rows)]
    return {"match_id": match_id, "events": events}
