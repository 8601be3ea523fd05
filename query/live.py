"""Live state read from Redis (written by `ingest/live.py`): active matches, server status, and a
Server-Sent Events feed.

Redis is shared by every app process, so any process can serve any client's live view.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from fragstats.errors import ApiError
from fragstats.params import path_id
from query.answer import answer

FEED = "fragstats:live:feed"
MATCHES = "fragstats:live:matches"
SERVERS = "fragstats:live:servers"


def _num(value: str | None) -> float | int | None:
    if value in (None, "", "None"):
        return None
    f = float(value)
    return int(f) if f.is_integer() else f


async def live_matches(redis, *, server_id: int | None = None, limit: int = 50) -> list[dict]:
    """Active matches, most recent activity first: `[{"server_id", "match_id", "map_name", "gametype",
    "started_at", "last_event_at" (epoch s), "allies_score", "axis_score", "players": [{"player_id",
    "player_name", "kills", "deaths"}]}]` (players by kills)."""
    members = await redis.zrevrange(MATCHES, 0, 500)
    if server_id is not None:
        members = [m for m in members if m.split(":", 1)[0] == str(server_id)]
    members = members[:limit]
    pipe = redis.pipeline(transaction=False)
    for member in members:
        key = f"fragstats:live:match:{member}"
        pipe.hgetall(key)
        pipe.hgetall(key + ":kills")
        pipe.hgetall(key + ":deaths")
        pipe.hgetall(key + ":names")
    results = await pipe.execute()
    out = []
    for i in range(len(members)):
        head, kills, deaths, names = results[i * 4:(i + 1) * 4]
        if not head:  # expired between the two reads
            continue
        players = [{"player_id": pid, "player_name": names.get(pid, pid), "kills": int(kills.get(pid, 0)),
                    "deaths": int(deaths.get(pid, 0))} for pid in set(kills) | set(deaths) | set(names)]
        players.sort(key=lambda p: (-p["kills"], p["deaths"], p["player_id"]))
        out.append({"server_id": int(head["server_id"]), "match_id": head["match_id"],
                    "map_name": head.get("map_name", ""), "gametype": head.get("gametype", ""),
                    "started_at": _num(head.get("started_at")), "last_event_at": _num(head.get("last_event_at")),
                    "allies_score": _num(head.get("allies_score")), "axis_score": _num(head.get("axis_score")),
                    "players": players})
    return out


async def live_server(redis, server_id: int, ttl_s: int) -> dict | None:
    """`{"server_id", "match_id", "map_name", "gametype", "last_event_at", "players": n recently seen}` or None."""
    key = f"fragstats:live:server:{server_id}"
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(key)
    pipe.zcount(key + ":players", time.time() - ttl_s, "+inf")
    head, players = await pipe.execute()
    if not head:
        return None
    return {"server_id": server_id, "match_id": head.get("match_id"), "map_name": head.get("map_name", ""),
            "gametype": head.get("gametype", ""), "last_event_at": _num(head.get("last_event_at")), "players": players}


async def live_overview(redis, ttl_s: int) -> dict:
    """`{"matches": [...live_matches], "servers": [...live_server]}` for every server seen within the TTL."""
    server_ids = [int(s) for s in await redis.zrevrange(SERVERS, 0, 200)]
    servers = [s for s in await asyncio.gather(*(live_server(redis, sid, ttl_s) for sid in server_ids)) if s]
    return {"matches": await live_matches(redis), "servers": servers}


def _json(body) -> Response:
    return Response(msgspec.json.encode(body), media_type="application/json")


async def live_route(request: Request) -> Response:
    """`GET /api/v1/stats/live?expand=none|identity`: active matches (map, scores, per-player kills/deaths
    in this match) and live server status; times in epoch seconds. Data older than
    `FRAGSTATS_LIVE_TTL_S` has expired."""
    state = request.app.state
    return await answer(request, await live_overview(state.engines.redis, state.settings.live_ttl_s))


async def server_live_route(request: Request) -> Response:
    """`GET /api/v1/servers/{server_id}/live`: that server's status and active matches; 404 when it sent
    nothing within the live TTL."""
    state = request.app.state
    server_id = path_id(request.path_params, "server_id")
    status = await live_server(state.engines.redis, server_id, state.settings.live_ttl_s)
    if status is None:
        raise ApiError(404, "not_found", f"server {server_id} has sent nothing recently")
    return _json({**status, "matches": await live_matches(state.engines.redis, server_id=server_id)})


async def feed_events(redis, last_id: str, match_id: str | None, heartbeat_s: float):
    """SSE text chunks: one `id:`/`event: batch`/`data:` message per feed entry after `last_id`
    (optionally one match only), and a `: heartbeat` comment whenever `heartbeat_s` pass quietly."""
    yield "retry: 2000\n\n"
    while True:
        entries = await redis.xread({FEED: last_id}, count=100, block=int(heartbeat_s * 1000))
        if not entries:
            yield ": heartbeat\n\n"
            continue
        for _stream, items in entries:
            for entry_id, fields in items:
                last_id = entry_id
                if match_id and fields.get("match_id") != match_id:
                    continue
                yield f"id: {entry_id}\nevent: {fields.get('event', 'batch')}\ndata: {fields['data']}\n\n"


async def stream_route(request: Request) -> StreamingResponse:
    """`GET /api/v1/stream/live?match_id=`: Server-Sent Events of live activity.

    Each message: `id` (a Redis stream id; send it back as `Last-Event-ID` to resume after a
    reconnect), `event: batch`, `data` JSON `{"server_id", "match_id", "map_name", "ended",
    "allies_score", "axis_score", "kills": [{"attacker", "victim", "weapon", "kill_kind"}]}` — one per
    committed batch and match; or `event: achievement`, `data` `{"code", "name", "player_id",
    "player_name", "unlocked_at", "server_id", "match_id"}` — one per achievement unlocked. A `: heartbeat` comment every `FRAGSTATS_SSE_HEARTBEAT_S` (15 s).
    Without `Last-Event-ID` the stream starts with new activity only. The generator ends (and its
    Redis read with it) when the client goes away.
    """
    state = request.app.state
    last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or "$"
    if last_id == "$":
        # Pin "now" to a concrete id so a reconnect loop never skips entries between reads.
        info = await state.engines.redis.xinfo_stream(FEED) if await state.engines.redis.exists(FEED) else None
        last_id = info["last-generated-id"] if info else "0-0"
    gen = feed_events(state.engines.redis, last_id, request.query_params.get("match_id"),
                      state.settings.sse_heartbeat_s)
    return StreamingResponse(gen, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


routes = [
    Route("/api/v1/stats/live", live_route),
    Route("/api/v1/servers/{server_id:int}/live", server_live_route),
    Route("/api/v1/stream/live", stream_route),
]
