"""Dashboard analytics: event counts over time and paired-duration percentiles, from aggregate tables
only (`server_hourly_types`, `player_match_firsts`, `matches`; never a raw_events scan).

Windows end at the current UTC bucket (its start) and reach back `window`; every bucket of the window
is present, empty ones with zero counts (timeseries) or `count` 0 and null statistics (latency).
Buckets are UTC, aligned like ClickHouse's `toStartOfInterval` (6 h buckets start at 00, 06, 12, 18).
Both answers carry an `ETag` (304 for a matching `If-None-Match`) and `Cache-Control: public, max-age=60`.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.errors import ApiError
from query.params import choice_param, server_id_param
from query.stats import _iso

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
BUCKETS = {"1h": 3600, "6h": 6 * 3600, "1d": 86_400}
# pair -> (the aggregate's rows as (bucket time, duration s)), in SQL over the window.
PAIRS = {
    "connect_first_kill": """
        SELECT toStartOfInterval(fc, INTERVAL {bucket_s:UInt32} SECOND) AS b, dateDiff('millisecond', fc, fk) / 1000 AS d
        FROM (SELECT server_id, min(first_connect) AS fc, min(first_kill) AS fk FROM player_match_firsts
              WHERE {where} GROUP BY server_id, match_id, player_id)
        WHERE fc IS NOT NULL AND fk IS NOT NULL AND fk >= fc AND fc >= {start:DateTime64(3, 'UTC')}""",
    "match_duration": """
        SELECT toStartOfInterval(s, INTERVAL {bucket_s:UInt32} SECOND) AS b, dateDiff('millisecond', s, e) / 1000 AS d
        FROM (SELECT server_id, min(started_at) AS s, max(last_event_at) AS e, max(has_end) AS ended FROM matches
              WHERE {where} GROUP BY server_id, match_id)
        WHERE ended = 1 AND s >= {start:DateTime64(3, 'UTC')}""",
}


def window_of(params) -> tuple[str, str, dt.datetime, dt.datetime, int]:
    """(window, bucket, first bucket's start, last bucket's start, bucket seconds) from `window` and
    `bucket` (400 for other values); the last bucket is the current one."""
    window = choice_param(params, "window", WINDOWS, "7d")
    bucket = choice_param(params, "bucket", BUCKETS, "1h")
    step = BUCKETS[bucket]
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    end = dt.datetime.fromtimestamp(now - now % step, dt.timezone.utc)
    start = end - dt.timedelta(days=WINDOWS[window]) + dt.timedelta(seconds=step)
    return window, bucket, start, end, step


def _buckets(start: dt.datetime, end: dt.datetime, step: int) -> list[dt.datetime]:
    n = int((end - start).total_seconds()) // step + 1
    return [start + dt.timedelta(seconds=i * step) for i in range(n)]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def timeseries(engines, *, window: str, bucket: str, start: dt.datetime, end: dt.datetime, step: int,
                     server_id: int | None, types: list[str]) -> dict:
    """`{"window", "bucket", "start", "end", "server_id", "types": [type names seen], "series":
    [{"bucket": ISO-8601 UTC, "total", "counts": {type: events}}]}`, oldest bucket first."""
    where = ["hour >= {start:DateTime('UTC')}"]
    params: dict = {"start": start.replace(tzinfo=None), "bucket_s": step}
    if server_id is not None:
        where.append("server_id = {server_id:UInt32}")
        params["server_id"] = server_id
    if types:
        where.append("type IN {types:Array(String)}")
        params["types"] = types
    rows = await engines.query(f"""
        SELECT toStartOfInterval(hour, INTERVAL {{bucket_s:UInt32}} SECOND) AS b, type, sum(events)
        FROM server_hourly_types WHERE {' AND '.join(where)} GROUP BY b, type ORDER BY b, type""", params)
    counts: dict[dt.datetime, dict[str, int]] = {}
    seen: set[str] = set()
    for b, etype, n in rows:
        counts.setdefault(_utc(b), {})[etype] = int(n)
        seen.add(etype)
    series = [{"bucket": _iso(b), "total": sum(counts.get(b, {}).values()), "counts": counts.get(b, {})}
              for b in _buckets(start, end, step)]
    return {"window": window, "bucket": bucket, "start": _iso(start), "end": _iso(end), "server_id": server_id,
            "types": sorted(seen), "series": series}


async def latency(engines, *, pair: str, window: str, bucket: str, start: dt.datetime, end: dt.datetime, step: int,
                  server_id: int | None) -> dict:
    """`{"pair", "unit": "s", "window", "bucket", "start", "end", "server_id", "series": [{"bucket",
    "count", "avg", "p50", "p95"}]}`: per bucket, the durations of `pair` (ClickHouse `avg` and
    `quantilesExact(0.5, 0.95)`), bucketed by the pair's first time."""
    where, params = "1", {"start": start.replace(tzinfo=None), "bucket_s": step}
    if server_id is not None:
        where = "server_id = {server_id:UInt32}"
        params["server_id"] = server_id
    rows = await engines.query(f"""
        SELECT b, count(), avg(d), quantilesExact(0.5, 0.95)(d) FROM ({PAIRS[pair].replace('{where}', where)})
        GROUP BY b ORDER BY b""", params)
    by_bucket = {_utc(b): (n, a, q) for b, n, a, q in rows}
    series = []
    for b in _buckets(start, end, step):
        n, a, q = by_bucket.get(b, (0, None, (None, None)))
        series.append({"bucket": _iso(b), "count": int(n), "avg": None if a is None else round(a, 3),
                       "p50": None if q[0] is None else round(q[0], 3), "p95": None if q[1] is None else round(q[1], 3)})
    return {"pair": pair, "unit": "s", "window": window, "bucket": bucket, "start": _iso(start), "end": _iso(end),
            "server_id": server_id, "series": series}


def cached_json(request: Request, body: dict) -> Response:
    """`body` as JSON with an ETag of its bytes and `Cache-Control: public, max-age=60`; 304 when the
    client's `If-None-Match` holds that ETag."""
    data = msgspec.json.encode(body)
    etag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/json", headers=headers)


async def timeseries_route(request: Request) -> Response:
    """`GET /api/v1/stats/timeseries?window=7d|30d|90d&bucket=1h|6h|1d&server_id=&type=`: events per UTC
    bucket and type (`type` repeatable: only those types), from the per-server-hour aggregate; see
    `query.analytics.timeseries`. 400 for a bad parameter."""
    q = request.query_params
    window, bucket, start, end, step = window_of(q)
    types = q.getlist("type")
    if len(types) > 50 or any(len(t) > 100 for t in types):
        raise ApiError(400, "invalid_parameter", "type may be given at most 50 times, each at most 100 characters")
    body = await timeseries(request.app.state.engines, window=window, bucket=bucket, start=start, end=end, step=step,
                            server_id=server_id_param(q), types=types)
    return cached_json(request, body)


async def latency_route(request: Request) -> Response:
    """`GET /api/v1/stats/latency?pair=connect_first_kill|match_duration&window=7d|30d|90d&bucket=1h|6h|1d&server_id=`:
    per UTC bucket the count, mean, median and 95th percentile (seconds) of a paired duration: a
    player's connect to their first kill in a match, or a match's first event to its last (ended
    matches); see `query.analytics.latency`. 400 for a bad parameter."""
    q = request.query_params
    pair = choice_param(q, "pair", PAIRS, "connect_first_kill")
    window, bucket, start, end, step = window_of(q)
    body = await latency(request.app.state.engines, pair=pair, window=window, bucket=bucket, start=start, end=end,
                         step=step, server_id=server_id_param(q))
    return cached_json(request, body)


routes = [
    Route("/api/v1/stats/timeseries", timeseries_route),
    Route("/api/v1/stats/latency", latency_route),
]
