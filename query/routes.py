"""JSON read routes under `/api/v1/stats`. Public (no auth). Each one parses its query string and
hands off to one function of `query/stats.py`. Leaderboards, profiles and heatmaps may be up to
`FRAGSTATS_STATS_CACHE_S` (1 s) old — the aggregates themselves only move once per batch."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.errors import ApiError
from fragstats.params import int_param, path_id
from query import analytics, live, overview, pages, stats
from query.answer import answer, json_response
from query.cache import StaleWhileRevalidate
from query.params import PERIODS, choice_param, offset_param, paging, period_start, server_id_param


_json = json_response
_answer = answer


async def _cached(request: Request, key: tuple, compute):
    """Aggregates change once per committed batch: serve them from the stale-while-revalidate cache
    (`query/cache.py`, at most `FRAGSTATS_STATS_CACHE_S` old while fresh; 0 turns it off)."""
    cache = getattr(request.app.state, "stats_cache", None)
    if cache is None:
        cache = request.app.state.stats_cache = StaleWhileRevalidate(request.app.state.settings.stats_cache_s)
    return await cache.get(key, compute)


async def leaderboard(request: Request) -> Response:
    """`GET /api/v1/stats/leaderboard?stat=kills|deaths|kd|headshots|accuracy|damage_dealt|suicides|rating
    &period=all|day|week|month&server_id=&limit=1..500&offset=&by=player|user&expand=none|identity`

    `by=user`: the player ids a user claimed count as one row, with `user_id` and `player_ids`
    (an unclaimed id stays alone, `user_id` null). `expand=identity`: every row also gets `user_id`,
    `display_name`, `avatar_url`, and the body `warnings` for ids linked to no user.

    Each stat is named as the member it sorts by; `stat=damage` (its name before) still means
    `damage_dealt`, and the answer's `stat` says `damage_dealt`.

    `stat=rating`: OpenSkill conservative rating (mu - 3 sigma) from ended matches, all time and all
    servers; players carry `rating`, `mu`, `sigma`, `matches` instead of the counters.

    200 `{"stat", "period", "server_id", "total", "limit", "offset", "players": [{"rank", "player_id",
    "player_name", "kills", "deaths", "suicides", "team_kills", "world_deaths", "headshots", "kd",
    "accuracy", "damage_dealt", "damage_taken", "shots_fired", "shots_hit"}]}`; 400 for a bad parameter.
    Periods are UTC days: day = today, week = last 7 days, month = last 30.
    """
    q = request.query_params
    stat = choice_param(q, "stat", [*stats.LEADERBOARD_STATS, "rating"], "kills", stats.STAT_ALIASES)
    period = choice_param(q, "period", PERIODS, "all")
    by_user = choice_param(q, "by", ("player", "user"), "player") == "user"
    server_id = server_id_param(q)
    limit, offset = paging(q)
    if stat == "rating":
        # Ratings live with the tournaments (OpenSkill, Postgres); the assembly hands us their reader
        # (fragstats.wiring) so that this package does not import that one. All-time, all servers.
        rating_leaderboard = request.app.state.wiring.rating_leaderboard
        if rating_leaderboard is None:
            raise ApiError(404, "not_found", "ratings are not available in this deployment")
        body = await rating_leaderboard(request.app.state.engines, limit=limit, offset=offset)
        return await _answer(request, {"stat": stat, "period": "all", "server_id": None, "limit": limit,
                                       "offset": offset, **body})
    engines, since = request.app.state.engines, period_start(period)
    body = await _cached(request, ("leaderboard", stat, since, server_id, limit, offset, by_user),
                         lambda: stats.leaderboard(engines, stat=stat, since=since, server_id=server_id,
                                                   limit=limit, offset=offset, by_user=by_user))
    return await _answer(request, {"stat": stat, "period": period, "server_id": server_id, "limit": limit,
                                   "offset": offset, **body})


async def weekly_leaderboard(request: Request) -> Response:
    """`GET /api/v1/stats/leaderboard/weekly?stat=kills|deaths|kd|headshots|accuracy|damage|suicides&server_id=&limit=1..500&offset=&by=player|user&expand=none|identity`:
    the leaderboard of the last 7 UTC days (the same as `?period=week`)."""
    q = request.query_params
    stat = choice_param(q, "stat", stats.LEADERBOARD_STATS, "kills")
    by_user = choice_param(q, "by", ("player", "user"), "player") == "user"
    server_id, (limit, offset) = server_id_param(q), paging(q)
    engines, since = request.app.state.engines, period_start("week")
    body = await _cached(request, ("leaderboard", stat, since, server_id, limit, offset, by_user),
                         lambda: stats.leaderboard(engines, stat=stat, since=since, server_id=server_id,
                                                   limit=limit, offset=offset, by_user=by_user))
    return await _answer(request, {"stat": stat, "period": "week", "server_id": server_id, "limit": limit,
                                   "offset": offset, **body})


async def _board_by(request: Request, param: str, board) -> Response:
    """A per-weapon or per-map board: the path parameter `param`, `server_id`, paging, one cache key."""
    limit, offset = paging(request.query_params)
    value, server_id = request.path_params[param], server_id_param(request.query_params)
    body = await _cached(request, (board.__name__, value, server_id, limit, offset),
                         lambda: board(request.app.state.engines, value, server_id=server_id, limit=limit,
                                       offset=offset))
    return await _answer(request, {"limit": limit, "offset": offset, **body})


async def weapon_leaderboard(request: Request) -> Response:
    """`GET /api/v1/stats/leaderboard/weapon/{weapon}?server_id=&limit=&offset=&expand=none|identity`: players by kills with
    that weapon (see `query.stats.weapon_leaderboard`)."""
    return await _board_by(request, "weapon", stats.weapon_leaderboard)


async def map_leaderboard(request: Request) -> Response:
    """`GET /api/v1/stats/leaderboard/map/{map_name}?server_id=&limit=&offset=&expand=none|identity`: players by kills on that
    map (see `query.stats.map_leaderboard`)."""
    return await _board_by(request, "map_name", stats.map_leaderboard)


async def player(request: Request) -> Response:
    """`GET /api/v1/stats/player/{player_id}`: totals, weapons, maps, recent matches; 404 if never seen.
    A player_id is the client GUID when persistent, else `<display name>@<server_id>`."""
    player_id = request.path_params["player_id"]
    return _json(await _cached(request, ("player", player_id),
                               lambda: stats.player_profile(request.app.state.engines, player_id)))


async def player_matches(request: Request) -> Response:
    """`GET /api/v1/stats/player/{player_id}/matches?limit=1..500&offset=`: the player's matches, newest
    first: `{"player_id", "total", "limit", "offset", "matches": [{"match_id", "server_id", "map_name",
    "started_at", "kills", "deaths", "suicides", "headshots"}]}`; 404 if never seen."""
    limit, offset = paging(request.query_params)
    player_id = request.path_params["player_id"]
    body = await stats.player_matches(request.app.state.engines, player_id, limit=limit, offset=offset)
    return _json({"player_id": player_id, "limit": limit, "offset": offset, **body})


async def player_weapons(request: Request) -> Response:
    """`GET /api/v1/stats/player/{player_id}/weapons`: the player's per-weapon counters, as in the profile:
    `{"player_id", "weapons": [{"weapon", "kills", "deaths", "headshots", "damage_dealt", "shots_fired",
    "shots_hit", "accuracy"}]}`; 404 if never seen."""
    profile = await _cached(request, ("player", request.path_params["player_id"]),
                            lambda: stats.player_profile(request.app.state.engines, request.path_params["player_id"]))
    return _json({"player_id": profile["player_id"], "weapons": profile["weapons"]})


async def server_stats(request: Request) -> Response:
    """`GET /api/v1/stats/server/{server_id}`: one server's all-time activity `{"server_id", "name", "events",
    "kills", "matches", "first_hour", "last_hour"}` (ISO-8601 UTC hours); 404 when it sent nothing."""
    server_id = path_id(request.path_params, "server_id")
    body = await stats.server_summary(request.app.state.engines, server_id)
    names = await overview.server_names(request.app.state.engines.pg, [server_id])
    return _json({**body, "name": names.get(server_id)})


async def user_stats(request: Request) -> Response:
    """`GET /api/v1/users/{user_id}/stats`: a user's profile summed over every player id they claimed:
    `{"user_id", "display_name", "avatar_url", "player_ids", "player_name", "first_day", "last_day",
    "totals", "weapons", "maps", "matches"}` (shapes of `GET /api/v1/stats/player/{id}`; `totals` null
    and the lists empty before any of them played); 404 for no such user."""
    user_id = path_id(request.path_params, "user_id")
    who = await request.app.state.identity_resolver.user(user_id)
    if who is None:
        raise ApiError(404, "not_found", f"no user {user_id}")
    body = await stats.players_profile(request.app.state.engines, who.player_ids) if who.player_ids else None
    empty = {"player_name": None, "first_day": None, "last_day": None, "totals": None, "weapons": [], "maps": [],
             "matches": []}
    return _json({"user_id": who.user_id, "display_name": who.display_name, "avatar_url": who.avatar_url,
                  "player_ids": who.player_ids, **(body or empty)})


async def player_heatmap(request: Request) -> Response:
    """`GET /api/v1/stats/player/{player_id}/heatmap/{map_name}?kind=kills|deaths`: grid cells (128 game
    units) of where the player killed or died (see `query.stats.heatmap`)."""
    kind = choice_param(request.query_params, "kind", stats.HEATMAP_KINDS, "kills")
    map_name, player_id = request.path_params["map_name"], request.path_params["player_id"]
    return _json(await _cached(request, ("heatmap", map_name, player_id, kind),
                               lambda: stats.heatmap(request.app.state.engines, map_name, player_id=player_id,
                                                     kind=kind)))


async def map_heatmap(request: Request) -> Response:
    """`GET /api/v1/stats/heatmap/{map_name}?kind=kills|deaths`: the same grid over all players."""
    kind = choice_param(request.query_params, "kind", stats.HEATMAP_KINDS, "kills")
    return _json(await stats.heatmap(request.app.state.engines, request.path_params["map_name"],
                                     player_id=None, kind=kind))


async def matches(request: Request) -> Response:
    """`GET /api/v1/stats/matches?server_id=&map_name=&limit=&offset=&expand=none|identity`: matches, newest first."""
    q = request.query_params
    limit, offset = paging(q)
    body = await stats.list_matches(request.app.state.engines, server_id=server_id_param(q),
                                    map_name=q.get("map_name") or None, limit=limit, offset=offset)
    return await _answer(request, {"limit": limit, "offset": offset, **body})


async def match(request: Request) -> Response:
    """`GET /api/v1/stats/match/{match_id}?expand=none|identity`: the match and its scoreboard; 404 if unknown."""
    return await _answer(request, await stats.match_scoreboard(request.app.state.engines,
                                                               request.path_params["match_id"]))


async def match_timeline(request: Request) -> Response:
    """`GET /api/v1/stats/match/{match_id}/timeline?type=player_kill&type=...&limit=1..10000&offset=&expand=none|identity`:
    the match's events in game-clock order (default limit 1000); the code of a `!claim CODE` chat line
    is shown as `****`."""
    q = request.query_params
    limit = int_param(q, "limit", 1000, lo=1, hi=10_000)
    offset = offset_param(q)
    body = await stats.match_timeline(request.app.state.engines, request.path_params["match_id"],
                                      types=q.getlist("type") or None, limit=limit, offset=offset)
    return await _answer(request, {"limit": limit, "offset": offset, **body})


routes = [
    Route("/api/v1/stats/leaderboard", leaderboard),
    Route("/api/v1/stats/leaderboard/weekly", weekly_leaderboard),
    Route("/api/v1/stats/leaderboard/weapon/{weapon}", weapon_leaderboard),
    Route("/api/v1/stats/leaderboard/map/{map_name:path}", map_leaderboard),
    Route("/api/v1/stats/player/{player_id}", player),
    Route("/api/v1/stats/player/{player_id}/matches", player_matches),
    Route("/api/v1/stats/player/{player_id}/weapons", player_weapons),
    Route("/api/v1/stats/player/{player_id}/heatmap/{map_name:path}", player_heatmap),
    Route("/api/v1/stats/server/{server_id:int}", server_stats),
    Route("/api/v1/users/{user_id:int}/stats", user_stats),
    Route("/api/v1/stats/heatmap/{map_name:path}", map_heatmap),
    Route("/api/v1/stats/matches", matches),
    Route("/api/v1/stats/match/{match_id}", match),
    Route("/api/v1/stats/match/{match_id}/timeline", match_timeline),
    *analytics.routes,
    *live.routes,
    *pages.routes,
]
