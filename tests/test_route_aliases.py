"""The routes the replaced system documented, served as aliases of ours and listed in OpenAPI:
`GET /api/v1/stats/leaderboard/weekly`, `/stats/player/{id}/matches`, `/stats/player/{id}/weapons`,
`/stats/server/{server_id}`, `PUT /api/v1/tournaments/{id}`, `/tournaments/{id}/bracket`,
`/tournaments/{id}/register`, `/tournaments/{id}/checkin`."""

from __future__ import annotations

import datetime as dt
import uuid

from conftest import ADMIN, new_server, settle


async def test_stats_aliases_answer_as_the_routes_they_stand_for(app, client):
    server_id, token = await new_server(client, "aliases")
    match_id, killer = f"alias-{uuid.uuid4().hex[:8]}", f"alias-{uuid.uuid4().hex[:8]}"
    events = [{"type": "player_kill", "match_id": match_id, "timestamp": i, "attacker_name": "K", "attacker_guid": killer,
               "victim_name": "V", "victim_guid": killer + "-v", "weapon": "MP40"} for i in range(3)]
    assert (await client.post("/api/v1/ingest/events", json=events, headers={"X-Server-Token": token})).status_code == 202
    await settle(app)
    weekly = (await client.get(f"/api/v1/stats/leaderboard/weekly?server_id={server_id}")).json()
    week = (await client.get(f"/api/v1/stats/leaderboard?period=week&server_id={server_id}")).json()
    assert weekly == week and weekly["players"][0]["player_id"] == killer
    matches = (await client.get(f"/api/v1/stats/player/{killer}/matches")).json()
    assert matches["total"] == 1 and matches["matches"][0]["match_id"] == match_id and matches["matches"][0]["kills"] == 3
    weapons = (await client.get(f"/api/v1/stats/player/{killer}/weapons")).json()
    profile = (await client.get(f"/api/v1/stats/player/{killer}")).json()
    assert weapons["weapons"] == profile["weapons"] and weapons["weapons"][0]["weapon"] == "MP40"
    server = (await client.get(f"/api/v1/stats/server/{server_id}")).json()
    assert server["name"] == "aliases" and server["events"] == 3 and server["kills"] == 3
    assert (await client.get("/api/v1/stats/server/2147483000")).status_code == 404
    assert (await client.get("/api/v1/stats/player/never-seen/matches")).status_code == 404


async def test_tournament_aliases(client):
    tid = (await client.post("/api/v1/tournaments", json={"name": "Alias Cup", "format": "single_elimination"},
                             headers=ADMIN)).json()["id"]
    opens = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    put = await client.put(f"/api/v1/tournaments/{tid}", json={"capacity": 8, "checkin_minutes": 60, "starts_at": opens},
                           headers=ADMIN)
    assert put.status_code == 200 and put.json()["capacity"] == 8
    assert (await client.get(f"/api/v1/tournaments/{tid}/event")).json()["capacity"] == 8
    assert (await client.get(f"/api/v1/tournaments/{tid}/bracket")).json() == (await client.get(f"/api/v1/tournaments/{tid}")).json()
    assert (await client.post(f"/api/v1/tournaments/{tid}/registration/open", headers=ADMIN)).status_code == 200
    entrant = await client.post(f"/api/v1/tournaments/{tid}/register", json={"name": "Alias Team"})
    assert entrant.status_code == 201
    checked = await client.post(f"/api/v1/tournaments/{tid}/checkin",
                                headers={"X-Registration-Token": entrant.json()["token"]})
    assert checked.status_code == 200 and checked.json()["registration"]["checked_in"] is True
    assert (await client.post(f"/api/v1/tournaments/{tid}/checkin")).status_code == 401
    assert (await client.post(f"/api/v1/tournaments/{tid}/checkin", headers={"X-Registration-Token": "x"})).status_code == 404
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/tournaments/{tournament_id}/bracket", "/api/v1/tournaments/{tournament_id}/register",
                 "/api/v1/tournaments/{tournament_id}/checkin", "/api/v1/stats/leaderboard/weekly",
                 "/api/v1/stats/server/{server_id}", "/api/v1/users/{user_id}/stats", "/api/v1/auth/device/poll"):
        assert path in paths, path
    assert "put" in paths["/api/v1/tournaments/{tournament_id}"]
    assert paths["/api/v1/tournaments/{tournament_id}/bracket"]["get"]["deprecated"] is True
