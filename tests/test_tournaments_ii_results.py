"""Results with provenance through the API: best-of-3 series from telemetry (one game per telemetry
match, repeats counted once), player-score results from `player_match`, telemetry against a
captain's report (dispute), a refused telemetry draw, captains agreeing with `scores_csv`; the
participants CSV import; webhook failures; odds for other formats; ratings refresh auth."""

from __future__ import annotations

import base64
import uuid

import pytest
from conftest import ADMIN, new_server, settle
from helpers import ok
from test_tournaments_ii_event import Receiver, envelope, hooked, kill, send  # noqa: F401 (fixture)

from tournaments import telemetry, webhooks

pytestmark = pytest.mark.asyncio(loop_scope="session")
API = "/api/v1/tournaments"


@pytest.fixture(scope="module")
async def org(client) -> dict:
    body = await ok(await client.post("/api/v1/keys", json={"name": "results org", "scopes": ["tournaments"]},
                                      headers=ADMIN), 201)
    return {"Authorization": f"Bearer {body['key']}"}


async def two_player_event(client, org, fmt="single_elimination", settings=None, kind="player", n=2,
                           members=None) -> tuple[int, list[dict], list[str]]:
    tid = (await ok(await client.post(API, json={"name": "r cup", "format": fmt, "settings": settings or {}},
                                      headers=org), 201))["id"]
    event = {"kind": kind} if kind == "player" else {"kind": kind, "roster_min": 1, "roster_max": 2}
    await ok(await client.put(f"{API}/{tid}/event", json=event, headers=org))
    regs, toks = [], []
    for i in range(n):
        body = {"name": f"side{i + 1}", "seed": i + 1}
        if members:
            body["members"] = members[i]
        r = await ok(await client.post(f"{API}/{tid}/registrations", json=body, headers=org), 201)
        regs.append(r["registration"])
        toks.append(r["token"])
    await ok(await client.post(f"{API}/{tid}/launch", json={"seeding": "manual"}, headers=org))
    return tid, regs, toks


async def first_match(client, tid) -> dict:
    return (await ok(await client.get(f"{API}/{tid}/matches")))["matches"][0]


async def test_best_of_three_from_telemetry_and_captains(client, org):
    server_id, stoken = await new_server(client, "bo3 server")
    tid, regs, toks = await two_player_event(client, org, settings={"best_of": 3})
    m = await first_match(client, tid)
    tok = (await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/token", json={}, headers=org), 201))["token"]
    post = lambda match, a, b: client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},  # noqa: E731
                                           json={"token": tok, "match_id": match, "allies_score": a, "axis_score": b})
    body = await ok(await post("match_bo3_1", 5, 3))
    assert body["outcome"]["status"] == "running" and body["outcome"]["provenance"] == "telemetry"
    body = await ok(await post("match_bo3_1", 5, 3))                  # the same map again: counted once
    assert len(body["outcome"]["evidence"]) == 1
    # a captain claims 2-0 while only one map is in: no contradiction yet
    body = await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/report", json={"scores_csv": "5-3,4-1"},
                                      headers={"X-Registration-Token": toks[0]}))
    assert body["outcome"]["dispute"] == "none" and body["match"]["status"] == "completed"
    body = await ok(await post("match_bo3_2", 4, 1))                  # telemetry confirms the second map
    assert body["outcome"]["provenance"] == "confirmed"
    assert [e["game"] for e in body["outcome"]["evidence"]] == [[5, 3], [4, 1]]
    exported = await ok(await client.get(f"{API}/{tid}/export"))
    assert exported["matches"][0]["scores_csv"] == "5-3,4-1" and exported["matches"][0]["provenance"] == "confirmed"
    # bad claims
    for bad in ({"scores_csv": "1-0,1-0,1-0,1-0"}, {"scores": [1, 0], "forfeit": 1}, {}):
        r = await client.post(f"{API}/{tid}/matches/{m['id']}/report", json=bad,
                              headers={"X-Registration-Token": toks[1]})
        assert r.status_code == 422, r.text
    assert (await client.post(f"{API}/{tid}/matches/{m['id']}/report", json={"scores": [2, 0]})).status_code == 401


async def test_captains_agreeing_confirm(client, org):
    tid, regs, toks = await two_player_event(client, org)
    m = await first_match(client, tid)
    body = await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/report", json={"scores": [3, 13]},
                                      headers={"X-Registration-Token": toks[1]}))
    assert body["outcome"]["provenance"] == "reported" and body["match"]["opponent2"]["result"] == "win"
    body = await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/report", json={"scores": [3, 13]},
                                      headers={"X-Registration-Token": toks[0]}))
    assert body["outcome"]["provenance"] == "confirmed" and body["outcome"]["dispute"] == "none"
    # organiser word is final; later claims are recorded but change nothing
    await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/resolve", json={"scores": [13, 3]}, headers=org))
    body = await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/report", json={"scores": [3, 13]},
                                      headers={"X-Registration-Token": toks[1]}))
    assert body["outcome"]["provenance"] == "organiser" and body["match"]["opponent1"]["result"] == "win"


async def test_player_scores_from_player_match_and_disputes(client, app, org, hooked):
    run = uuid.uuid4().hex[:8]
    server_id, stoken = await new_server(client, f"ffa {run}")
    a, b = (f"Alpha{run}", f"ga-{run}"), (f"Bravo{run}", f"gb-{run}")
    tid, regs, toks = await two_player_event(
        client, org, kind="team", members=[[{"name": a[0], "player_id": a[1]}], [{"name": b[0], "player_id": b[1]}]])
    m = await first_match(client, tid)
    tok = (await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/token", json={}, headers=org), 201))["token"]
    tm = f"match_{run}ffa00001"
    await send(client, stoken, [kill(tm, a, b, 1.0), kill(tm, b, a, 2.0), kill(tm, b, a, 3.0)])
    await settle(app)
    # side 2 reports a win first; the telemetry (kills 1-2) agrees -> confirmed
    await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/report", json={"scores": [1, 2]},
                               headers={"X-Registration-Token": toks[1]}))
    body = await ok(await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},
                                      json={"token": tok, "match_id": tm}))
    assert body["outcome"]["provenance"] == "confirmed" and body["outcome"]["evidence"][0]["game"] == [1, 2]

    # another event: a captain claims a win the telemetry contradicts -> dispute, nothing changes
    tid, regs, toks = await two_player_event(
        client, org, kind="team", members=[[{"name": a[0], "player_id": a[1]}], [{"name": b[0], "player_id": b[1]}]])
    m = await first_match(client, tid)
    tok = (await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/token", json={}, headers=org), 201))["token"]
    await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/report", json={"scores": [5, 0]},
                               headers={"X-Registration-Token": toks[0]}))
    await send(client, stoken, [envelope("match_end", tm + "b", tournament_match_token=tok)])  # no team scores
    await send(client, stoken, [kill(tm + "c", a, b, 1.0), kill(tm + "c", b, a, 2.0), kill(tm + "c", b, a, 3.0),
                                envelope("match_end", tm + "c", tournament_match_token=tok)])
    await settle(app)
    out = await ok(await client.get(f"{API}/{tid}/matches/{m['id']}/outcome"))
    assert out["dispute"] == "open" and out["provenance"] == "reported", out
    assert out["claims"]["telemetry"]["games"] == [[1, 2]]
    match = await ok(await client.get(f"{API}/{tid}/matches/{m['id']}"))
    assert match["opponent1"]["score"] == 5                       # the bracket keeps the first report


async def test_telemetry_draw_is_refused_and_noted(client, org, app):
    server_id, stoken = await new_server(client, "draw server")
    tid, regs, toks = await two_player_event(client, org)
    m = await first_match(client, tid)
    tok = (await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/token", json={"allies_side": 2},
                                      headers=org), 201))["token"]
    # a result that cannot be applied is an error with why (never 200-and-nothing), and still recorded
    r = await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},
                          json={"token": tok, "match_id": "match_draw", "allies_score": 2, "axis_score": 2})
    assert r.status_code == 422 and r.json()["error"] == "invalid_result" and "draw" in r.json()["detail"], r.text
    out = await ok(await client.get(f"{API}/{tid}/matches/{m['id']}/outcome"))
    assert out["status"] == "ready" and "draw" in out["note"] and out["evidence"][0]["game"] == [2, 2]
    audit = (await ok(await client.get(f"{API}/{tid}/audit", params={"match_id": m["id"]})))["entries"]
    assert audit[-1]["action"] == "telemetry_rejected"
    body = await ok(await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},
                                      json={"token": tok, "match_id": "match_draw2", "allies_score": 1, "axis_score": 3}))
    assert body["outcome"]["evidence"][-1]["game"] == [3, 1]      # allies played as opponent 2
    assert (await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},
                              json={"token": tok, "match_id": "x", "event": "round_end"})).status_code == 422


async def test_participants_csv_import(client, org):
    tid = (await ok(await client.post(API, json={"name": "csv cup", "format": "round_robin"}, headers=org), 201))["id"]
    await ok(await client.put(f"{API}/{tid}/event", json={"capacity": 2}, headers=org))
    csv_text = "name,tag,seed\nOne,ONE,2\nTwo,,1\nThree,,\n"
    body = await ok(await client.post(f"{API}/{tid}/registrations/import", content=csv_text, headers=org), 201)
    assert [r["status"] for r in body["registrations"]] == ["registered", "registered", "waitlisted"]
    assert len(body["tokens"]) == 3
    r = await client.post(f"{API}/{tid}/registrations/import", content="name\nFour\nOne\n", headers=org)
    assert r.status_code == 422 and "line 3" in r.json()["detail"]
    regs = (await ok(await client.get(f"{API}/{tid}/registrations")))["registrations"]
    assert [x["name"] for x in regs] == ["One", "Two", "Three"]   # all or nothing
    assert (await client.post(f"{API}/{tid}/registrations/import", content=csv_text)).status_code == 401
    launched = await ok(await client.post(f"{API}/{tid}/launch", json={"seeding": "manual"}, headers=org))
    assert [s["name"] for s in launched["seeds"]] == ["Two", "One"]
    o = await ok(await client.get(f"{API}/{tid}/odds", params={"runs": 500}))
    assert sum(p["win"] for p in o["participants"]) == pytest.approx(1.0)


async def test_webhook_failures_and_admin(client, org, app):
    tid = (await ok(await client.post(API, json={"name": "hook cup", "format": "swiss"}, headers=org), 201))["id"]
    assert (await client.post(f"{API}/{tid}/webhooks", json={"url": "ftp://x"}, headers=org)).status_code == 422
    async with Receiver(fail_first=0) as rx:
        gone = rx.url.replace("/hook", "/missing")              # the receiver answers 404 there: no retry
        r = await client.post(f"{API}/{tid}/webhooks", json={"url": gone, "secret": "s"}, headers=org)
        assert r.status_code == 422                               # not a Standard Webhooks secret
        secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
        hook = await ok(await client.post(f"{API}/{tid}/webhooks", json={"url": gone, "secret": secret},
                                          headers=org), 201)
        good = await ok(await client.post(f"{API}/{tid}/webhooks", json={"url": rx.url}, headers=org), 201)
        await ok(await client.put(f"{API}/{tid}/event", json={}, headers=org))
        await webhooks.wait_idle(app)
        listed = {w["id"]: w for w in (await ok(await client.get(f"{API}/{tid}/webhooks", headers=org)))["webhooks"]}
        failed = listed[hook["id"]]["deliveries"][0]
        assert failed["status"] == "failed" and failed["attempts"] == 1 and failed["response_status"] == 404
        assert listed[good["id"]]["deliveries"][0]["status"] == "delivered"
        assert [d["type"] for d in rx.delivered()] == ["tournament.event_updated"]
    assert (await client.delete(f"{API}/{tid}/webhooks/{hook['id']}", headers=org)).status_code == 204
    assert (await client.delete(f"{API}/{tid}/webhooks/{hook['id']}", headers=org)).status_code == 404
    assert (await client.get(f"{API}/{tid}/odds")).status_code == 422     # not started
    assert (await client.post("/api/v1/stats/ratings/refresh", headers=org)).status_code == 401
    assert "rated" in await ok(await client.post("/api/v1/stats/ratings/refresh", headers=ADMIN))
    assert telemetry.evidence_url("match/1 x") == "/api/v1/stats/match/match%2F1%20x"
