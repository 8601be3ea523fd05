"""The read API over data ingested through the real app: leaderboards, profiles, heatmaps, matches."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from conftest import ADMIN, new_server, settle

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ev(etype: str, match_id: str, t: float, **fields) -> dict:
    return {"type": etype, "match_id": match_id, "session_id": "sess_" + match_id[-16:], "timestamp": str(t), **fields}


def kill(m, t, attacker, victim, weapon="Thompson", hitloc="torso_mid", ax="10", ay="10", vx="300", vy="-300",
         a_team="allies", v_team="axis", **extra):
    return ev("player_kill", m, t, attacker_name=attacker, attacker_guid=f"g-{attacker}", attacker_team=a_team,
              attacker_x=ax, attacker_y=ay, attacker_z="0", victim_name=victim, victim_guid=f"g-{victim}",
              victim_team=v_team, victim_x=vx, victim_y=vy, victim_z="0", weapon=weapon, hitloc=hitloc,
              mod="bullet", **extra)


@pytest.fixture(scope="module")
async def world(client, app):
    """One server, one match on dm/mohdm1 with a known story, and a second server with one kill."""
    server_id, token = await new_server(client, "query tests")
    other_id, other_token = await new_server(client, "other server")
    m = "match_" + uuid.uuid4().hex[:16]
    tag = uuid.uuid4().hex[:6]
    alice, bob, carol = f"Alice{tag}", f"Bob{tag}", f"Carol{tag}"
    events = [
        ev("match_start", m, 0, map_name="dm/mohdm1", gametype="tdm", timelimit="20", fraglimit="50", maxclients="16"),
        kill(m, 1, alice, bob, hitloc="head"),
        kill(m, 2, alice, bob, weapon="Kar98", ax="700", ay="10"),
        kill(m, 3, bob, alice),
        kill(m, 4, carol, alice, v_team="allies", a_team="allies"),        # team kill
        kill(m, 5, carol, carol, weapon="Grenade", a_team="allies", v_team="allies"),  # suicide
        ev("player_kill", m, 6, victim_name=bob, victim_guid=f"g-{bob}", victim_team="axis", mod="falling"),  # world
        ev("weapon_fire", m, 7, player_name=alice, player_guid=f"g-{alice}", weapon="Thompson"),
        ev("weapon_fire", m, 7.1, player_name=alice, player_guid=f"g-{alice}", weapon="Thompson"),
        ev("weapon_fire", m, 7.2, player_name=alice, player_guid=f"g-{alice}", weapon="Thompson"),
        ev("weapon_fire", m, 7.3, player_name=alice, player_guid=f"g-{alice}", weapon="Thompson"),
        ev("weapon_hit", m, 7.4, player_name=alice, player_guid=f"g-{alice}", target_name=bob, hitloc="head"),
        ev("damage", m, 8, attacker_name=alice, attacker_guid=f"g-{alice}", victim_name=bob,
           victim_guid=f"g-{bob}", damage="40.5", weapon="Thompson"),
        ev("match_end", m, 9, map="dm/mohdm1", winning_team="allies", allies_score="2", axis_score="1"),
    ]
    resp = await client.post("/api/v1/ingest/events", content=json.dumps(events),
                             headers={"X-Server-Token": token, "Content-Type": "application/json"})
    assert resp.status_code == 202 and resp.json()["rejected"] == 0, resp.text
    m2 = "match_" + uuid.uuid4().hex[:16]
    resp = await client.post("/api/v1/ingest/events", content=json.dumps([kill(m2, 1, bob, alice)]),
                             headers={"X-Server-Token": other_token, "Content-Type": "application/json"})
    assert resp.status_code == 202
    await settle(app)
    return {"server_id": server_id, "other_id": other_id, "match_id": m, "alice": f"g-{alice}", "bob": f"g-{bob}",
            "carol": f"g-{carol}", "names": (alice, bob, carol)}


async def board(client, **params) -> dict:
    resp = await client.get("/api/v1/stats/leaderboard", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_counting_rules_on_one_server(client, world):
    out = await board(client, server_id=world["server_id"], limit=10)
    players = {p["player_id"]: p for p in out["players"]}
    alice, bob, carol = players[world["alice"]], players[world["bob"]], players[world["carol"]]
    assert (alice["kills"], alice["deaths"], alice["headshots"]) == (2, 2, 1)
    assert (bob["kills"], bob["deaths"], bob["world_deaths"]) == (1, 3, 1)
    assert (carol["kills"], carol["team_kills"], carol["suicides"], carol["deaths"]) == (0, 1, 1, 1)
    assert alice["kd"] == 1.0 and bob["kd"] == round(1 / 3, 3)
    assert alice["shots_fired"] == 4 and alice["shots_hit"] == 1 and alice["accuracy"] == 0.25
    assert alice["damage_dealt"] == 40.5 and bob["damage_taken"] == 40.5
    assert out["total"] == 3 and [p["rank"] for p in out["players"]] == [1, 2, 3]


async def test_stat_ordering_paging_and_server_filter(client, world):
    by_deaths = await board(client, server_id=world["server_id"], stat="deaths")
    assert by_deaths["players"][0]["player_id"] == world["bob"]
    page = await board(client, server_id=world["server_id"], limit=1, offset=1)
    assert page["total"] == 3 and len(page["players"]) == 1 and page["players"][0]["rank"] == 2
    other = await board(client, server_id=world["other_id"])
    assert [(p["player_id"], p["kills"], p["deaths"]) for p in other["players"]] == \
        [(world["bob"], 1, 0), (world["alice"], 0, 1)]
    everywhere = {p["player_id"]: p for p in (await board(client, limit=500))["players"]}
    assert everywhere[world["bob"]]["kills"] == 2  # GUID identities span servers


async def test_periods(client, world):
    today = await board(client, server_id=world["server_id"], period="day")
    assert today["total"] == 3
    for period in ("week", "month", "all"):
        assert (await board(client, server_id=world["server_id"], period=period))["total"] == 3


@pytest.mark.parametrize("params", [{"stat": "elo"}, {"period": "year"}, {"limit": "0"}, {"limit": "x"},
                                    {"offset": "-1"}, {"server_id": "abc"}])
async def test_bad_parameters_are_400(client, params):
    resp = await client.get("/api/v1/stats/leaderboard", params=params)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_parameter"


async def test_weapon_and_map_leaderboards(client, world):
    kar = (await client.get("/api/v1/stats/leaderboard/weapon/Kar98", params={"server_id": world["server_id"]})).json()
    # Bob appears too: a death by the weapon counts in its deaths column.
    assert [(p["player_id"], p["kills"], p["deaths"]) for p in kar["players"]] == \
        [(world["alice"], 1, 0), (world["bob"], 0, 1)]
    mohdm1 = (await client.get("/api/v1/stats/leaderboard/map/dm/mohdm1",
                               params={"server_id": world["server_id"]})).json()
    players = {p["player_id"]: p for p in mohdm1["players"]}
    assert mohdm1["map_name"] == "dm/mohdm1"
    assert players[world["alice"]]["kills"] == 2 and players[world["carol"]]["team_kills"] == 1


async def test_player_profile_and_404(client, world):
    resp = await client.get(f"/api/v1/stats/player/{world['alice']}")
    assert resp.status_code == 200
    prof = resp.json()
    assert prof["player_name"] == world["names"][0]
    assert prof["totals"]["kills"] == 2
    assert {w["weapon"]: w["kills"] for w in prof["weapons"]} == {"Thompson": 1, "Kar98": 1}
    assert prof["maps"][0]["map_name"] == "dm/mohdm1"
    assert world["match_id"] in [m["match_id"] for m in prof["matches"]]
    assert prof["last_day"] == dt.datetime.now(dt.timezone.utc).date().isoformat()
    missing = await client.get("/api/v1/stats/player/nobody-ever")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_heatmap_cells_from_positions(client, world):
    kills = (await client.get(f"/api/v1/stats/player/{world['alice']}/heatmap/dm/mohdm1?kind=kills")).json()
    # Alice killed from (10, 10) and (700, 10): cells (0, 0) and (5, 0) of the 128-unit grid.
    assert kills["cell_size"] == 128
    assert sorted((c["x"], c["y"], c["count"]) for c in kills["cells"]) == [(0, 0, 1), (5, 0, 1)]
    deaths = (await client.get(f"/api/v1/stats/player/{world['bob']}/heatmap/dm/mohdm1?kind=deaths")).json()
    assert [(c["x"], c["y"], c["count"]) for c in deaths["cells"]] == [(2, -3, 2)]  # (300, -300), twice
    everyone = (await client.get("/api/v1/stats/heatmap/dm/mohdm1?kind=kills")).json()
    assert sum(c["count"] for c in everyone["cells"]) >= 3
    assert (await client.get("/api/v1/stats/heatmap/dm/mohdm1?kind=spawns")).status_code == 400


async def test_matches_scoreboard_and_timeline(client, world):
    listed = (await client.get("/api/v1/stats/matches", params={"server_id": world["server_id"]})).json()
    match = [x for x in listed["matches"] if x["match_id"] == world["match_id"]][0]
    assert match["map_name"] == "dm/mohdm1" and match["gametype"] == "tdm" and match["ended"] == 1
    assert match["events"] == 14 and match["kills"] == 3 and match["players"] == 3
    by_map = (await client.get("/api/v1/stats/matches", params={"map_name": "dm/mohdm1",
                                                                "server_id": world["server_id"]})).json()
    assert by_map["total"] == 1

    score = (await client.get(f"/api/v1/stats/match/{world['match_id']}")).json()
    assert [p["player_id"] for p in score["players"]][0] == world["alice"]
    assert {p["player_id"]: p["deaths"] for p in score["players"]}[world["bob"]] == 3

    tl = (await client.get(f"/api/v1/stats/match/{world['match_id']}/timeline")).json()
    assert [e["timestamp"] for e in tl["events"]] == sorted(e["timestamp"] for e in tl["events"])
    assert tl["events"][0]["type"] == "match_start" and len(tl["events"]) == 14
    assert all(e["map_name"] == "dm/mohdm1" for e in tl["events"])  # filled in from match_start
    only_kills = (await client.get(f"/api/v1/stats/match/{world['match_id']}/timeline?type=player_kill")).json()
    assert [e["kill_kind"] for e in only_kills["events"]] == ["kill", "kill", "kill", "team_kill", "suicide", "world"]
    assert (await client.get("/api/v1/stats/match/match_nope")).status_code == 404


async def test_health_ready_metrics(client):
    assert (await client.get("/health")).json()["status"] == "ok"
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"clickhouse": "ok", "postgres": "ok", "redis": "ok", "disk": "ok"}
    text = (await client.get("/metrics")).text
    for name in ("fragstats_ingest_events_accepted_total", "fragstats_queue_capacity_events",
                 "fragstats_insert_seconds_bucket", "fragstats_http_request_seconds_bucket"):
        assert name in text
    assert 'route="/api/v1/stats/match/{match_id}"' in text  # route templates, never raw paths


async def test_server_admin_routes(client):
    assert (await client.post("/api/v1/servers", json={"name": "x"})).status_code == 401
    assert (await client.post("/api/v1/servers", json={"name": "x"},
                              headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.post("/api/v1/servers", json={"nom": "x"}, headers=ADMIN)).status_code == 422
    assert (await client.post("/api/v1/servers", content=b"{", headers=ADMIN)).status_code == 400
    server_id, _ = await new_server(client, "listed")
    listed = (await client.get("/api/v1/servers", headers=ADMIN)).json()["servers"]
    assert any(s["server_id"] == server_id and "token" not in s for s in listed)
    assert (await client.get("/api/v1/servers")).status_code == 401
    assert (await client.delete("/api/v1/servers/999999", headers=ADMIN)).status_code == 404


async def test_stale_while_revalidate_cache():
    import asyncio

    from query.cache import StaleWhileRevalidate

    calls = []

    async def compute():
        calls.append(1)
        return len(calls)

    cache = StaleWhileRevalidate(ttl_s=0.05, max_stale_s=1.0)
    assert await cache.get("k", compute) == 1
    assert await cache.get("k", compute) == 1  # fresh: not recomputed
    await asyncio.sleep(0.06)
    assert await cache.get("k", compute) == 1  # stale: served at once, refresh started
    await asyncio.sleep(0.01)
    assert await cache.get("k", compute) == 2  # the refresh landed
    assert await StaleWhileRevalidate(0).get("k", compute) == 3  # ttl 0: always computes

    async def failing():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await cache.get("other", failing)  # errors are not cached
    assert "other" not in cache._entries


async def test_every_rejection_reason_and_shed_status_is_exposed_from_the_start(client):
    """Panels read these labelled counters: they must show 0, never "no data", before the first event."""
    from ingest.decode import BODY_REASONS, EVENT_REASONS

    text = (await client.get("/metrics")).text
    for reason in {*BODY_REASONS, *EVENT_REASONS}:
        assert f'fragstats_ingest_events_rejected_total{{reason="{reason}"}}' in text, reason
    for status in ("429", "503", "507"):
        assert f'fragstats_ingest_requests_shed_total{{status="{status}"}}' in text, status


async def test_stat_damage_is_an_alias_of_damage_dealt(client):
    """One spelling from column to JSON to parameter; the old one kept for clients that use it."""
    new = (await client.get("/api/v1/stats/leaderboard?stat=damage_dealt&limit=5")).json()
    old = (await client.get("/api/v1/stats/leaderboard?stat=damage&limit=5")).json()
    assert new["stat"] == old["stat"] == "damage_dealt"
    assert new["players"] == old["players"]
    dealt = [p["damage_dealt"] for p in new["players"]]
    assert dealt == sorted(dealt, reverse=True)
    page = await client.get("/leaderboard?stat=damage")
    assert page.status_code == 200 and "Damage" in page.text
