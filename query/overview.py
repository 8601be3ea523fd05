"""Site-wide numbers for the home page and the filters of the leaderboard page: totals, hourly
activity (from `server_hourly`), the weapons/maps/servers seen, and public server names.

Like `query/stats.py`, each function returns JSON-ready data that both a JSON route and a page render.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.params import int_param
from query.params import server_id_param
from query.stats import _clean, _iso

MAX_HOURS = 24 * 14


async def site_totals(engines) -> dict:
    """`{"events", "kills", "matches", "players", "servers"}` over all time.

    `kills` counts kills of other players only (as everywhere); `players` are distinct player ids
    with a kill or a death; `servers` sent at least one event.
    """
    hourly, matches, players = await asyncio.gather(
        engines.query("SELECT sum(events), sum(kills), uniqExact(server_id) FROM server_hourly"),
        engines.query("SELECT count() FROM (SELECT 1 FROM matches GROUP BY server_id, match_id)"),
        engines.query("SELECT uniqExact(player_id) FROM player_daily"))
    events, kills, servers = hourly[0] if hourly else (0, 0, 0)
    return {"events": int(events or 0), "kills": int(kills or 0), "matches": int(matches[0][0]),
            "players": int(players[0][0]), "servers": int(servers or 0)}


async def hourly_activity(engines, *, hours: int = 48, server_id: int | None = None) -> dict:
    """Events, kills and matches started per UTC hour for the `hours` hours up to the latest hour with
    any activity (so an imported old log still shows): `{"hours", "start", "end" (ISO-8601 UTC, hour
    starts), "series": [{"hour", "events", "kills", "matches"}]}` with every hour present (zeros
    filled in), oldest first. With no data at all, the window ends at the current hour."""
    where, params = "1", {}
    if server_id is not None:
        where, params = "server_id = {server_id:UInt32}", {"server_id": server_id}
    latest = await engines.query(f"SELECT max(hour), count() FROM server_hourly WHERE {where}", params)
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    end = latest[0][0].replace(tzinfo=dt.timezone.utc) if latest and latest[0][1] else now
    start = end - dt.timedelta(hours=hours - 1)
    rows = await engines.query(f"""
        SELECT hour, sum(events), sum(kills), sum(matches_started) FROM server_hourly
        WHERE {where} AND hour >= {{start:DateTime}} AND hour <= {{end:DateTime}}
        GROUP BY hour ORDER BY hour""", {**params, "start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)})
    by_hour = {h.replace(tzinfo=dt.timezone.utc): (e, k, m) for h, e, k, m in rows}
    series = []
    for i in range(hours):
        hour = start + dt.timedelta(hours=i)
        e, k, m = by_hour.get(hour, (0, 0, 0))
        series.append({"hour": _iso(hour), "events": int(e), "kills": int(k), "matches": int(m)})
    return {"hours": hours, "start": _iso(start), "end": _iso(end), "series": series}


async def filter_choices(engines) -> dict:
    """What the leaderboard can be filtered by: `{"weapons": [by kills], "maps": [by name],
    "servers": [server ids]}` as seen in the aggregate tables."""
    weapons, maps, servers = await asyncio.gather(
        engines.query("SELECT weapon FROM player_weapon WHERE weapon != '' GROUP BY weapon "
                      "ORDER BY sum(kills) DESC, weapon LIMIT 200"),
        engines.query("SELECT map_name FROM player_map WHERE map_name != '' GROUP BY map_name ORDER BY map_name LIMIT 500"),
        engines.query("SELECT server_id FROM server_hourly GROUP BY server_id ORDER BY server_id"))
    return {"weapons": [r[0] for r in weapons], "maps": [r[0] for r in maps], "servers": [int(r[0]) for r in servers]}


async def server_activity(engines) -> list[dict]:
    """Every server that sent events, most recently active first: `[{"server_id", "events", "kills",
    "matches", "first_hour", "last_hour"}]` (all time; hours ISO-8601 UTC)."""
    rows = await engines.query_dicts("""
        SELECT server_id, sum(events) AS events, sum(kills) AS kills, sum(matches_started) AS matches,
               min(hour) AS first_hour, max(hour) AS last_hour
        FROM server_hourly GROUP BY server_id ORDER BY last_hour DESC, server_id""")
    return _clean(rows)


async def server_names(pg, server_ids) -> dict[int, str]:
    """Public names of the given (not revoked) game servers: `{server_id: name}`. Tokens and URLs stay
    admin-only."""
    ids = sorted({int(i) for i in server_ids if i is not None})
    if not ids:
        return {}
    rows = await pg.fetch("SELECT id, name FROM servers WHERE id = ANY($1::int[]) AND revoked_at IS NULL", ids)
    return {r["id"]: r["name"] for r in rows}


async def overview(engines) -> dict:
    """`{"totals": site_totals, "activity": hourly_activity(48 h)}`: the home page's numbers."""
    totals, activity = await asyncio.gather(site_totals(engines), hourly_activity(engines))
    return {"totals": totals, "activity": activity}


async def overview_route(request: Request) -> Response:
    """`GET /api/v1/stats/overview?hours=1..336&server_id=`: 200 `{"totals": {"events", "kills", "matches",
    "players", "servers"}, "activity": {"hours", "start", "end", "series": [{"hour", "events", "kills",
    "matches"}]}}`. Activity covers the `hours` (default 48) UTC hours up to the latest active hour;
    totals are all-time and site-wide. 400 for a bad parameter."""
    q = request.query_params
    engines = request.app.state.engines
    hours, server_id = int_param(q, "hours", 48, lo=1, hi=MAX_HOURS), server_id_param(q)
    totals, activity = await asyncio.gather(site_totals(engines), hourly_activity(engines, hours=hours, server_id=server_id))
    return Response(msgspec.json.encode({"totals": totals, "activity": activity}), media_type="application/json")


routes = [Route("/api/v1/stats/overview", overview_route)]
