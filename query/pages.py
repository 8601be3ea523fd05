"""HTML pages (Jinja2 + htmx), rendered from the same query functions as the JSON routes.

Every page is plain HTML that works without JavaScript: filters are GET forms, paging is links.
With JavaScript, htmx turns those into partial swaps: a request carrying `HX-Request: true` (and
not `HX-History-Restore-Request`) gets only the fragment it targets (the leaderboard table, the
live list). The live list follows `/api/v1/stream/live` (SSE) through `static/live.js`, which asks
htmx to re-fetch the fragment after each `batch` message.

Errors the query functions raise (`ApiError`: unknown player, bad parameter) become HTML error
pages with the same status code. The layout, the generic filters and `render`/`page` are the
kernel's (`fragstats.web`); the tournament pages are `tournaments.pages`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fragstats import web
from fragstats.web import page, path_segment, plain_name, render, wants_fragment
from fragstats.web import url as _url
from query import analytics, live, overview, stats, svg
from fragstats.errors import ApiError
from fragstats.params import int_param, path_id
from query.params import PERIODS, choice_param, offset_param, period_start, server_id_param

HERE = Path(__file__).resolve().parent
web.add_templates(HERE / "templates")

PAGE_SIZE = 25
HEATMAP_MAPS = 12
# Timeline rows worth reading on a match page (weapon_fire, damage, ... stay in the JSON timeline).
TIMELINE_TYPES = ["match_start", "match_end", "round_start", "round_end", "player_kill", "player_suicide",
                  "connect", "disconnect", "team_join", "chat", "player_rename", "player_auth"]

# Leaderboard columns per board: (key, label, format)
BOARD_COLUMNS = {
    "overall": [("kills", "Kills", "num"), ("deaths", "Deaths", "num"), ("kd", "K/D", "ratio"),
                ("headshots", "Headshots", "num"), ("accuracy", "Accuracy", "pct"),
                ("damage_dealt", "Damage", "num"), ("suicides", "Suicides", "num")],
    "weapon": [("kills", "Kills", "num"), ("deaths", "Deaths", "num"), ("headshots", "Headshots", "num"),
               ("accuracy", "Accuracy", "pct"), ("damage_dealt", "Damage", "num")],
    "map": [("kills", "Kills", "num"), ("deaths", "Deaths", "num"), ("kd", "K/D", "ratio"),
            ("headshots", "Headshots", "num"), ("suicides", "Suicides", "num"), ("team_kills", "Team kills", "num")],
}
STAT_LABELS = {"kills": "Kills", "deaths": "Deaths", "kd": "K/D", "headshots": "Headshots",
               "accuracy": "Accuracy", "damage_dealt": "Damage", "suicides": "Suicides"}
PERIOD_LABELS = {"all": "All time", "day": "Today", "week": "Last 7 days", "month": "Last 30 days"}


# --- template helpers (the generic filters live in `fragstats.web`) ------------------------------

def describe(ev: dict) -> str:
    """One timeline event as a sentence."""
    t = ev.get("type", "")
    attacker, victim = plain_name(ev.get("attacker_name")), plain_name(ev.get("victim_name"))
    player = plain_name(ev.get("player_name"))
    weapon = ev.get("weapon") or ev.get("mod") or ""
    with_weapon = f" with {weapon}" if weapon else ""
    if t == "player_kill":
        kind = ev.get("kill_kind")
        if kind == "world":
            return f"{victim} died ({ev.get('mod') or 'world'})"
        if kind == "suicide":
            return f"{victim} killed themself{with_weapon}"
        where = f", {ev['hitloc']}" if ev.get("hitloc") and ev.get("hitloc") != "general" else ""
        team = " (team kill)" if kind == "team_kill" else ""
        return f"{attacker} killed {victim}{with_weapon}{where}{team}"
    if t == "player_suicide":
        return f"{player} killed themself"
    if t == "match_start":
        mode = f" ({ev['gametype']})" if ev.get("gametype") else ""
        return f"Match started on {ev.get('map_name') or 'an unknown map'}{mode}"
    if t == "match_end":
        return "Match ended"
    if t in ("round_start", "round_end"):
        return t.replace("_", " ").capitalize()
    if t == "chat":
        return f"{player}: {ev.get('message', '')}"
    if t == "player_rename":
        return f"{player} renamed"
    return f"{player} {t.replace('_', ' ')}".strip()


web.env.globals.update(describe=describe, STAT_LABELS=STAT_LABELS, PERIOD_LABELS=PERIOD_LABELS)


async def _names(request: Request, server_ids) -> dict[int, str]:
    return await overview.server_names(request.app.state.engines.pg, server_ids)


# --- pages -------------------------------------------------------------------------------------

@page
async def home(request: Request) -> Response:
    """`GET /`: site totals, the hourly activity chart, live matches (following the SSE feed), the
    latest matches and the top players."""
    state = request.app.state
    engines = state.engines
    ov, live_list, recent, top = await asyncio.gather(
        overview.overview(engines), live.live_matches(engines.redis),
        stats.list_matches(engines, server_id=None, map_name=None, limit=10, offset=0),
        stats.leaderboard(engines, stat="kills", since=None, server_id=None, limit=10, offset=0))
    names = await _names(request, [m["server_id"] for m in live_list + recent["matches"]])
    return render(request, "home.html", {
        "totals": ov["totals"], "activity": ov["activity"], "activity_svg": svg.activity_svg(ov["activity"]),
        "live_matches": live_list, "recent": recent["matches"], "top": top["players"], "server_names": names})


@page
async def live_page(request: Request) -> Response:
    """`GET /live`: the active matches (same data as `GET /api/v1/stats/live`); the list fragment alone
    for htmx."""
    live_list = await live.live_matches(request.app.state.engines.redis)
    names = await _names(request, [m["server_id"] for m in live_list])
    ctx = {"live_matches": live_list, "server_names": names}
    return render(request, "_live.html" if wants_fragment(request) else "live.html", ctx)


def _board_params(request: Request) -> dict:
    q = request.query_params
    return {
        "stat": choice_param(q, "stat", stats.LEADERBOARD_STATS, "kills", stats.STAT_ALIASES),
        "period": choice_param(q, "period", PERIODS, "all"),
        "weapon": q.get("weapon") or None,
        "map": q.get("map") or None,
        "server_id": server_id_param(q),
        "limit": int_param(q, "limit", PAGE_SIZE, lo=1, hi=500),
        "offset": offset_param(q),
    }


async def board_data(engines, p: dict) -> dict:
    """The leaderboard a page shows for parameters `p`, from the JSON routes' query functions: a weapon
    board (`weapon`), else a map board (`map`), else the overall board by `stat` and `period`."""
    notice = None
    if p["weapon"]:
        if p["map"]:
            notice = "Weapon and map boards cannot be combined: showing the weapon board."
        body = await stats.weapon_leaderboard(engines, p["weapon"], server_id=p["server_id"], limit=p["limit"],
                                              offset=p["offset"])
        kind, api = "weapon", _url(f"/api/v1/stats/leaderboard/weapon/{path_segment(p['weapon'])}",
                                   {"server_id": p["server_id"], "limit": p["limit"], "offset": p["offset"]})
    elif p["map"]:
        body = await stats.map_leaderboard(engines, p["map"], server_id=p["server_id"], limit=p["limit"],
                                           offset=p["offset"])
        kind, api = "map", _url(f"/api/v1/stats/leaderboard/map/{p['map']}",
                                {"server_id": p["server_id"], "limit": p["limit"], "offset": p["offset"]})
    else:
        body = await stats.leaderboard(engines, stat=p["stat"], since=period_start(p["period"]),
                                       server_id=p["server_id"], limit=p["limit"], offset=p["offset"])
        kind, api = "overall", _url("/api/v1/stats/leaderboard", {k: p[k] for k in ("stat", "period", "server_id",
                                                                                    "limit", "offset")})
    if kind != "overall" and (p["stat"] != "kills" or p["period"] != "all"):
        notice = (notice or "") + (" " if notice else "") + \
            f"{kind.capitalize()} boards rank by kills over all time."
    return {"kind": kind, "total": body["total"], "players": body["players"], "api": api, "notice": notice,
            "columns": BOARD_COLUMNS[kind], "sorted_by": p["stat"] if kind == "overall" else "kills"}


@page
async def leaderboard_page(request: Request) -> Response:
    """`GET /leaderboard?stat=&period=&weapon=&map=&server_id=&limit=&offset=`: the ranked table with
    filters and paging; with `HX-Request` only the table fragment (`#board`)."""
    p = _board_params(request)
    engines = request.app.state.engines
    board = await board_data(engines, p)
    link = {k: p[k] for k in ("stat", "period", "weapon", "map", "server_id")}
    link = {k: v for k, v in link.items() if not (k == "stat" and v == "kills") and not (k == "period" and v == "all")}
    if p["limit"] != PAGE_SIZE:
        link["limit"] = p["limit"]
    prev_url = _url("/leaderboard", {**link, "offset": max(p["offset"] - p["limit"], 0) or None}) \
        if p["offset"] > 0 else None
    next_url = _url("/leaderboard", {**link, "offset": p["offset"] + p["limit"]}) \
        if p["offset"] + p["limit"] < board["total"] else None
    ctx = {"p": p, "board": board, "prev_url": prev_url, "next_url": next_url}
    if wants_fragment(request):
        return render(request, "_board.html", ctx)
    choices = await overview.filter_choices(engines)
    names = await _names(request, choices["servers"])
    return render(request, "leaderboard.html", {**ctx, "choices": choices, "server_names": names,
                                                "stats": list(stats.LEADERBOARD_STATS), "periods": list(PERIODS)})


@page
async def player_page(request: Request) -> Response:
    """`GET /player/{player_id}`: totals, weapons, maps, recent matches and a kills and a deaths heatmap
    per map (SVG, drawn here from `query.stats.heatmap`); 404 for a player never seen."""
    engines = request.app.state.engines
    player_id = request.path_params["player_id"]
    profile = await stats.player_profile(engines, player_id)
    maps = [m["map_name"] for m in profile["maps"]][:HEATMAP_MAPS]
    heat = await asyncio.gather(*(stats.heatmap(engines, m, player_id=player_id, kind=k)
                                  for m in maps for k in ("kills", "deaths")))
    heatmaps = []
    for i, map_name in enumerate(maps):
        kills, deaths = heat[2 * i], heat[2 * i + 1]
        bounds = svg.heatmap_bounds(kills, deaths)
        heatmaps.append({"map_name": map_name, "has_positions": bounds is not None,
                         "kills": svg.heatmap_svg(kills, bounds, title=f"Kills on {map_name}"),
                         "deaths": svg.heatmap_svg(deaths, bounds, title=f"Deaths on {map_name}"),
                         "kill_count": sum(c["count"] for c in kills["cells"]),
                         "death_count": sum(c["count"] for c in deaths["cells"])})
    names = await _names(request, [m["server_id"] for m in profile["matches"]])
    found, _ = await request.app.state.identity_resolver.resolve([player_id])
    return render(request, "player.html", {"profile": profile, "heatmaps": heatmaps, "server_names": names,
                                           "owner": found.get(player_id),
                                           "achievements": f"/achievements/player/{path_segment(player_id)}",
                                           "api": f"/api/v1/stats/player/{path_segment(player_id)}"})


@page
async def user_page(request: Request) -> Response:
    """`GET /user/{user_id}`: a user's profile over every player id they claimed (the data of `GET
    /api/v1/users/{user_id}/stats`), their identities and achievements; 404 for no such user."""
    user_id = path_id(request.path_params, "user_id")
    who = await request.app.state.identity_resolver.user(user_id)
    if who is None:
        raise ApiError(404, "not_found", f"no user {user_id}")
    profile = await stats.players_profile(request.app.state.engines, who.player_ids) if who.player_ids else None
    profile = profile or {"player_name": who.display_name, "first_day": None, "last_day": None, "weapons": [],
                          "maps": [], "matches": [], "totals": {}}
    names = await _names(request, [m["server_id"] for m in profile["matches"]])
    return render(request, "player.html", {"profile": {**profile, "player_name": who.display_name,
                                                       "player_id": f"{len(who.player_ids)} identities"},
                                           "user": who, "heatmaps": [], "server_names": names,
                                           "achievements": f"/achievements/user/{user_id}",
                                           "api": f"/api/v1/users/{user_id}/stats"})


@page
async def heatmap_image(request: Request) -> Response:
    """`GET /heatmap/{map_name}.svg?player_id=&kind=kills|deaths`: one heatmap as a standalone SVG image
    (everyone's, or one player's), for embedding elsewhere."""
    q = request.query_params
    kind = choice_param(q, "kind", stats.HEATMAP_KINDS, "kills")
    data = await stats.heatmap(request.app.state.engines, request.path_params["map_name"],
                               player_id=q.get("player_id") or None, kind=kind)
    return Response(str(svg.heatmap_svg(data)), media_type="image/svg+xml",
                    headers={"Cache-Control": "max-age=60"})


@page
async def match_page(request: Request) -> Response:
    """`GET /match/{match_id}`: scoreboard, the readable part of the timeline and the kill map; 404."""
    engines = request.app.state.engines
    match_id = request.path_params["match_id"]
    board = await stats.match_scoreboard(engines, match_id)
    timeline = await stats.match_timeline(engines, match_id, types=TIMELINE_TYPES, limit=2000, offset=0)
    events = timeline["events"]
    names = await _names(request, [board["match"]["server_id"]])
    return render(request, "match.html", {
        "m": board["match"], "players": board["players"], "events": events, "server_names": names,
        "kill_map": svg.kill_map_svg(events, title=f"Kills on {board['match']['map_name'] or 'this map'}"),
        "api": f"/api/v1/stats/match/{path_segment(match_id)}"})


@page
async def matches_page(request: Request) -> Response:
    """`GET /matches?server_id=&map=&offset=`: matches, newest first, with paging links."""
    q = request.query_params
    server_id, map_name = server_id_param(q), q.get("map") or None
    offset = offset_param(q)
    body = await stats.list_matches(request.app.state.engines, server_id=server_id, map_name=map_name,
                                    limit=PAGE_SIZE, offset=offset)
    link = {"server_id": server_id, "map": map_name}
    names = await _names(request, [m["server_id"] for m in body["matches"]])
    return render(request, "matches.html", {
        "matches": body["matches"], "total": body["total"], "offset": offset, "server_names": names,
        "map_name": map_name, "server_id": server_id,
        "prev_url": _url("/matches", {**link, "offset": max(offset - PAGE_SIZE, 0) or None}) if offset else None,
        "next_url": _url("/matches", {**link, "offset": offset + PAGE_SIZE}) if offset + PAGE_SIZE < body["total"] else None,
        "api": _url("/api/v1/stats/matches", {"server_id": server_id, "map_name": map_name, "offset": offset or None})})


@page
async def servers_page(request: Request) -> Response:
    """`GET /servers`: servers live now (from Redis, as `GET /api/v1/stats/live`), their active matches,
    and every server's all-time activity. The registry itself (tokens, URLs) stays admin-only."""
    state = request.app.state
    live_state, activity = await asyncio.gather(live.live_overview(state.engines.redis, state.settings.live_ttl_s),
                                                overview.server_activity(state.engines))
    names = await _names(request, [s["server_id"] for s in live_state["servers"] + activity])
    return render(request, "servers.html", {"live_servers": live_state["servers"],
                                            "live_matches": live_state["matches"], "activity": activity,
                                            "server_names": names})


@page
async def activity_page(request: Request) -> Response:
    """`GET /activity?window=7d|30d|90d&bucket=1h|6h|1d&server_id=`: events per bucket (total and by type)
    and the connect -> first kill and match duration percentiles, as charts and tables (the data of
    `GET /api/v1/stats/timeseries` and `GET /api/v1/stats/latency`)."""
    q = request.query_params
    window, bucket, start, end, step = analytics.window_of(q)
    server_id, engines = server_id_param(q), request.app.state.engines
    series, first_kill, duration = await asyncio.gather(
        analytics.timeseries(engines, window=window, bucket=bucket, start=start, end=end, step=step,
                             server_id=server_id, types=[]),
        *(analytics.latency(engines, pair=pair, window=window, bucket=bucket, start=start, end=end, step=step,
                            server_id=server_id) for pair in ("connect_first_kill", "match_duration")))
    chart = {"start": series["start"], "end": series["end"],
             "series": [{"hour": b["bucket"], "events": b["total"]} for b in series["series"]]}
    totals: dict[str, int] = {}
    for b in series["series"]:
        for etype, n in b["counts"].items():
            totals[etype] = totals.get(etype, 0) + n
    latencies = [(label, data, svg.activity_svg(
        {"start": data["start"], "end": data["end"],
         "series": [{"hour": b["bucket"], "p95 seconds": b["p95"] or 0} for b in data["series"]]},
        metric="p95 seconds")) for label, data in (("Connect to first kill", first_kill), ("Match duration", duration))]
    return render(request, "activity.html", {
        "window": window, "bucket": bucket, "server_id": server_id, "windows": list(analytics.WINDOWS),
        "buckets": list(analytics.BUCKETS), "chart": svg.activity_svg(chart), "types": sorted(totals.items(), key=lambda kv: -kv[1]),
        "latencies": latencies,
        "api": _url("/api/v1/stats/timeseries", {"window": window, "bucket": bucket, "server_id": server_id})})


routes = [
    Route("/", home),
    Route("/activity", activity_page),
    Route("/live", live_page),
    Route("/leaderboard", leaderboard_page),
    Route("/player/{player_id}", player_page),
    Route("/user/{user_id:int}", user_page),
    Route("/heatmap/{map_name:path}.svg", heatmap_image),
    Route("/matches", matches_page),
    Route("/match/{match_id}", match_page),
    Route("/servers", servers_page),
    *overview.routes,
    Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
]
