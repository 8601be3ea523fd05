"""Live state in Redis (written per batch), its JSON routes, the SSE feed, and the Python/ClickHouse
twin of the identity rules."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import redis
from conftest import ADMIN, new_server, settle

from ingest.decode import validate
from ingest.identity import kill_kind, player_id


def match_events(m: str, *, end: bool = False) -> list[dict]:
    events = [{"type": "match_start", "match_id": m, "session_id": "s" + m, "timestamp": "0",
               "map_name": "obj/obj_team2", "gametype": "obj"},
              *[{"type": "player_kill", "match_id": m, "session_id": "s" + m, "timestamp": str(i),
                 "attacker_name": "^4Hunter", "attacker_team": "allies", "victim_name": f"Prey{i % 2}",
                 "victim_team": "axis", "weapon": "M1 Garand"} for i in range(1, 4)],
              {"type": "heartbeat", "match_id": m, "session_id": "s" + m, "timestamp": "30",
               "allies_score": "3", "axis_score": "1", "player_count": "3"}]
    if end:
        events.append({"type": "match_end", "match_id": m, "session_id": "s" + m, "timestamp": "40",
                       "winning_team": "allies"})
    return events


async def test_live_matches_and_server_status(client, app):
    server_id, token = await new_server(client, "live")
    m = "match_" + uuid.uuid4().hex[:16]
    resp = await client.post("/api/v1/ingest/events", json=match_events(m), headers={"X-Server-Token": token})
    assert resp.status_code == 202
    await settle(app)
    live = (await client.get("/api/v1/stats/live")).json()
    match = [x for x in live["matches"] if x["match_id"] == m][0]
    assert match["map_name"] == "obj/obj_team2" and match["allies_score"] == 3 and match["axis_score"] == 1
    players = {p["player_name"]: (p["kills"], p["deaths"]) for p in match["players"]}
    assert players == {"Hunter": (3, 0), "Prey0": (0, 1), "Prey1": (0, 2)}
    server = (await client.get(f"/api/v1/servers/{server_id}/live")).json()
    assert server["map_name"] == "obj/obj_team2" and server["players"] == 3 and server["match_id"] == m
    assert [x["match_id"] for x in server["matches"]] == [m]
    # Every key expires on its own: a crashed server's match disappears.
    r = app.state.engines.redis
    keys = [k async for k in r.scan_iter(f"fragstats:live:*{server_id}*")]
    ttls = [await r.ttl(k) for k in keys]
    assert keys and all(0 < t <= app.state.settings.live_ttl_s for t in ttls), dict(zip(keys, ttls))
    assert (await client.get("/api/v1/servers/999999/live")).status_code == 404


async def test_match_end_leaves_the_live_list(client, app):
    _, token = await new_server(client, "live end")
    m = "match_" + uuid.uuid4().hex[:16]
    await client.post("/api/v1/ingest/events", json=match_events(m, end=True), headers={"X-Server-Token": token})
    await settle(app)
    live = (await client.get("/api/v1/stats/live")).json()
    assert m not in [x["match_id"] for x in live["matches"]]


async def test_python_identity_rules_match_clickhouse(client, app):
    """The live state computes ids and kill kinds in Python; raw_events in SQL. Same inputs, same answers."""
    server_id, token = await new_server(client, "identity twin")
    m = "match_" + uuid.uuid4().hex[:16]
    cases = [("A", "g1", "allies", "B", "g2", "axis"), ("A", "unauth_3", "american", "A", "unauth_3", "american"),
             ("^1Bo^7b", "", "german", "Carl", "", "axis"), ("", "", "", "D", "", "axis"),
             ("<world>", "", "", "E", "", "axis"), ("F", "77", "red", "G", "78", "red"),
             ("H", "", "freeforall", "I", "", "freeforall"), ("J", "unauth_1", "allies", "K", "unauth_2", "american")]
    events = [{"type": "player_kill", "match_id": m, "timestamp": str(i), "attacker_name": an, "attacker_guid": ag,
               "attacker_team": at, "victim_name": vn, "victim_guid": vg, "victim_team": vt}
              for i, (an, ag, at, vn, vg, vt) in enumerate(cases)]
    assert (await client.post("/api/v1/ingest/events", json=events, headers={"X-Server-Token": token})).status_code == 202
    await settle(app)
    rows = await app.state.engines.query(
        "SELECT actor_id, target_id, kill_kind FROM raw_events WHERE match_id = {m:String} ORDER BY timestamp",
        {"m": m})
    python = [(player_id(e.attacker_guid, e.attacker_name, server_id), player_id(e.victim_guid, e.victim_name, server_id),
               kill_kind(e)) for e in validate(events, server_id).accepted]
    assert rows == python
    # german = axis, american = allies: both naming styles of the tracker are one team
    assert [r[2] for r in rows] == ["kill", "suicide", "team_kill", "world", "world", "team_kill", "kill", "team_kill"]


def read_sse(response, want_events: int, timeout: float = 20.0) -> tuple[list[dict], int]:
    """Parse SSE lines until `want_events` messages arrived; returns (messages, heartbeats seen)."""
    messages, heartbeats, current = [], 0, {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if line.startswith(": heartbeat"):
            heartbeats += 1
        elif line.startswith("id: "):
            current["id"] = line[4:]
        elif line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and current:
            messages.append(current)
            current = {}
        if len(messages) >= want_events or time.monotonic() > deadline:
            break
    return messages, heartbeats


def blocked_feed_readers(serve) -> int:
    sock = serve.data_dir / "redis" / "run" / "redis.sock"
    r = redis.Redis(unix_socket_path=str(sock), decode_responses=True)
    return sum(1 for c in r.client_list() if c.get("cmd") == "xread")


def test_sse_feed_heartbeat_resume_and_cleanup(serve_factory):
    serve = serve_factory({"FRAGSTATS_SSE_HEARTBEAT_S": "0.5", "FRAGSTATS_FLUSH_INTERVAL_MS": "20"}).start()
    token = httpx.post(serve.url + "/api/v1/servers", json={"name": "sse"}, headers=ADMIN).json()["token"]
    m1, m2 = ("match_" + uuid.uuid4().hex[:16] for _ in range(2))

    def send(m):
        assert httpx.post(serve.url + "/api/v1/ingest/events", json=match_events(m),
                          headers={"X-Server-Token": token}).status_code == 202

    with httpx.Client(timeout=30) as c:
        with c.stream("GET", serve.url + f"/api/v1/stream/live?match_id={m2}") as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            send(m1)  # another match: filtered out
            send(m2)
            messages, heartbeats = read_sse(resp, 1)
        assert [msg["data"]["match_id"] for msg in messages] == [m2]
        kills = messages[0]["data"]["kills"]
        assert len(kills) == 3 and kills[0]["attacker"] == "Hunter" and kills[0]["kill_kind"] == "kill"
        first_id = messages[0]["id"]

        with c.stream("GET", serve.url + "/api/v1/stream/live") as resp:
            quiet, heartbeats = read_sse(resp, 1, timeout=1.6)  # nothing new: heartbeats only
        assert quiet == [] and heartbeats >= 2

        send(m2)
        # Resume after the first message: the entry sent while disconnected is delivered.
        with c.stream("GET", serve.url + "/api/v1/stream/live", headers={"Last-Event-ID": first_id}) as resp:
            resumed, _ = read_sse(resp, 1)
        assert len(resumed) == 1 and resumed[0]["id"] > first_id and resumed[0]["data"]["match_id"] == m2

    deadline = time.monotonic() + 10
    while blocked_feed_readers(serve) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert blocked_feed_readers(serve) == 0  # the server let go of its Redis reads when clients left
