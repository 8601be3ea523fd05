"""Dashboard analytics on the session's real engines: `GET /api/v1/stats/timeseries` and
`GET /api/v1/stats/latency` read aggregate tables; here they are checked against a direct SQL count of
the same events in `raw_events`, every bucket of the window present, with ETag and Cache-Control."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from conftest import new_server, settle


def make_events(now_ms: int) -> list[dict]:
    """Three matches over the last two days: players connect, then kill at random times."""
    rng = random.Random(14)
    out = []
    for m in range(3):
        match_id = f"an-{m}-{uuid.uuid4().hex[:8]}"
        start = now_ms - (m * 17 + 3) * 3_600_000
        out.append({"type": "match_start", "match_id": match_id, "timestamp": 0, "occurred_at": start})
        for p in range(4):
            joined = start + rng.randint(0, 60_000)
            out.append({"type": "connect", "match_id": match_id, "timestamp": 1, "occurred_at": joined,
                        "player_name": f"P{p}", "player_guid": f"an-guid-{p}"})
            for k in range(rng.randint(1, 3)):
                at = joined + rng.randint(1_000, 900_000)
                out.append({"type": "player_kill", "match_id": match_id, "timestamp": 2 + k, "occurred_at": at,
                            "attacker_name": f"P{p}", "attacker_guid": f"an-guid-{p}",
                            "victim_name": f"P{(p + 1) % 4}", "victim_guid": f"an-guid-{(p + 1) % 4}"})
        out.append({"type": "match_end", "match_id": match_id, "timestamp": 999,
                    "occurred_at": start + rng.randint(1_000_000, 1_500_000)})
    return out


async def test_timeseries_and_latency_match_a_direct_sql_count(app, client):
    server_id, token = await new_server(client, "analytics")
    now_ms = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    resp = await client.post("/api/v1/ingest/events", json=make_events(now_ms), headers={"X-Server-Token": token})
    assert resp.status_code == 202 and resp.json()["rejected"] == 0, resp.text
    await settle(app)
    engines = app.state.engines

    series = await client.get(f"/api/v1/stats/timeseries?window=7d&bucket=6h&server_id={server_id}")
    assert series.status_code == 200 and series.headers["cache-control"] == "public, max-age=60"
    body = series.json()
    assert len(body["series"]) == 7 * 4  # every 6 h bucket of the window, empty ones too
    direct = await engines.query(
        "SELECT toStartOfInterval(occurred_at, INTERVAL 6 HOUR) AS b, type, count() FROM raw_events"
        " WHERE server_id = {s:UInt32} GROUP BY b, type", {"s": server_id})
    expected = {}
    for b, etype, n in direct:
        expected.setdefault(b.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z"), {})[etype] = n
    got = {row["bucket"]: row["counts"] for row in body["series"] if row["counts"]}
    assert got == expected and sum(r["total"] for r in body["series"]) == resp.json()["accepted"]
    only = (await client.get(f"/api/v1/stats/timeseries?window=7d&bucket=1d&server_id={server_id}&type=connect")).json()
    assert sum(r["total"] for r in only["series"]) == 12 and only["types"] == ["connect"]
    again = await client.get(f"/api/v1/stats/timeseries?window=7d&bucket=6h&server_id={server_id}",
                             headers={"If-None-Match": series.headers["etag"]})
    assert again.status_code == 304

    latency = (await client.get(f"/api/v1/stats/latency?pair=connect_first_kill&window=7d&bucket=1d&server_id={server_id}")).json()
    direct = await engines.query("""
        SELECT toStartOfInterval(c, INTERVAL 1 DAY) AS b, count(), avg(d), quantilesExact(0.5, 0.95)(d) FROM (
            SELECT minIf(occurred_at, type = 'connect') AS c, dateDiff('millisecond', c, minIf(occurred_at, type = 'player_kill')) / 1000 AS d
            FROM raw_events WHERE server_id = {s:UInt32} AND (type = 'connect' OR kill_kind = 'kill')
            GROUP BY match_id, if(type = 'connect', player_id, attacker_id))
        GROUP BY b""", {"s": server_id})
    assert len(latency["series"]) == 7 and latency["unit"] == "s"
    got = {r["bucket"]: (r["count"], r["avg"], r["p50"], r["p95"]) for r in latency["series"] if r["count"]}
    assert got == {b.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z"):
                   (n, round(a, 3), round(q[0], 3), round(q[1], 3)) for b, n, a, q in direct}
    assert sum(v[0] for v in got.values()) == 12

    durations = (await client.get(f"/api/v1/stats/latency?pair=match_duration&window=7d&bucket=1d&server_id={server_id}")).json()
    direct = await engines.query("""
        SELECT toStartOfInterval(s, INTERVAL 1 DAY) AS b, count(), avg(d) FROM (
            SELECT min(occurred_at) AS s, dateDiff('millisecond', s, max(occurred_at)) / 1000 AS d
            FROM raw_events WHERE server_id = {s:UInt32} GROUP BY match_id) GROUP BY b""", {"s": server_id})
    got = {r["bucket"]: (r["count"], r["avg"]) for r in durations["series"] if r["count"]}
    assert got == {b.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z"): (n, round(a, 3))
                   for b, n, a in direct}
    assert (await client.get("/api/v1/stats/latency?pair=nope")).status_code == 400
    assert (await client.get("/api/v1/stats/timeseries?window=1y")).status_code == 400
