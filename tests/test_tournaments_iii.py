"""Tournaments III (issue 13) through the real app and Postgres: the organiser's whole day end to end
with webhooks verified by the `standardwebhooks` library, and each new operation on its own: one
entrant model, participant remove / reseed / randomise, PATCH of a tournament and of the event,
registration closed unless opened, undo of a check-in, one result body on every result route,
`winning_team` alone deciding a match, match reset / reopen, forced corrections in the audit,
webhooks woken by every commit, odds for Swiss and group stages, the hidden grand-final reset."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest
from conftest import ADMIN, new_server
from helpers import AT, make, ok
from standardwebhooks.webhooks import Webhook as StandardWebhook
from test_tournaments_ii_event import Receiver, envelope, hooked, kill, send  # noqa: F401 (fixture)

from tournaments import pages, results, webhooks

pytestmark = pytest.mark.asyncio(loop_scope="session")
API = "/api/v1/tournaments"


@pytest.fixture(scope="module")
async def org(client) -> dict:
    body = await ok(await client.post("/api/v1/keys", json={"name": "day org", "scopes": ["tournaments"]},
                                      headers=ADMIN), 201)
    return {"Authorization": f"Bearer {body['key']}"}


async def new(client, org, fmt: str = "single_elimination", settings: dict | None = None) -> int:
    body = {"name": f"{fmt} {uuid.uuid4().hex[:6]}", "format": fmt, "settings": settings or {}}
    return (await ok(await client.post(API, json=body, headers=org), 201))["id"]


async def entrants(client, org, tid: int, n: int) -> list[int]:
    return [(await ok(await client.post(f"{API}/{tid}/participants", json={"name": f"p{i}"}, headers=org), 201))["id"]
            for i in range(1, n + 1)]


async def matches(client, tid: int) -> list[dict]:
    return (await ok(await client.get(f"{API}/{tid}/matches")))["matches"]


def one(ms: list[dict], bracket: str, rnd: int, number: int = 1) -> dict:
    return next(m for m in ms if m["bracket"] == bracket and m["round"] == rnd and m["number"] == number)


def sides(m: dict) -> tuple[int, int]:
    return m["opponent1"]["participant_id"], m["opponent2"]["participant_id"]


# --- the organiser's whole day ---------------------------------------------------------------------

async def test_an_organisers_day(client, app, org):
    app.state.webhook_backoff_s = 0.05
    server_id, stoken = await new_server(client, f"day server {uuid.uuid4().hex[:6]}")
    tid = await new(client, org, "double_elimination", {"grand_final": "double"})
    async with Receiver(fail_first=1) as rx:
        hook = await ok(await client.post(f"{API}/{tid}/webhooks", json={"url": rx.url}, headers=org), 201)
        assert hook["secret"].startswith("whsec_")
        starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)
        await ok(await client.put(f"{API}/{tid}/event", headers=org, json={
            "checkin_minutes": 60, "starts_at": starts.isoformat(), "timezone": "Europe/Paris"}))

        # registration is closed until opened; then anyone signs up, and the organiser adds one directly
        assert (await client.post(f"{API}/{tid}/registrations", json={"name": "Ann"})).status_code == 401
        await ok(await client.post(f"{API}/{tid}/registration/open", headers=org))
        tok, ids = {}, {}
        for name in ("Ann", "Bob", "Cid"):
            body = await ok(await client.post(f"{API}/{tid}/registrations", json={"name": name}), 201)
            tok[name], ids[name] = body["token"], body["registration"]["id"]
        ids["Dee"] = (await ok(await client.post(f"{API}/{tid}/participants", json={"name": "Dee"}, headers=org),
                               201))["id"]
        assert sorted(ids.values()) == [1, 2, 3, 4]                        # one entrant model, ids per tournament
        listed = (await ok(await client.get(f"{API}/{tid}/registrations")))["registrations"]
        assert {r["name"] for r in listed} == set(ids)

        # check in; Bob undoes his and checks in again; the organiser checks Dee in
        for name in ("Ann", "Bob", "Cid"):
            await ok(await client.post(f"{API}/{tid}/registrations/{ids[name]}/checkin",
                                       headers={"X-Registration-Token": tok[name]}))
        body = await ok(await client.delete(f"{API}/{tid}/registrations/{ids['Bob']}/checkin",
                                            headers={"X-Registration-Token": tok["Bob"]}))
        assert body["registration"]["checked_in"] is False
        await ok(await client.post(f"{API}/{tid}/registrations/{ids['Bob']}/checkin",
                                   headers={"X-Registration-Token": tok["Bob"]}))
        await ok(await client.post(f"{API}/{tid}/registrations/{ids['Dee']}/checkin", headers=org))

        # reseed Dee to first, rename the tournament, start (the entrants however they came)
        body = await ok(await client.patch(f"{API}/{tid}/participants/{ids['Dee']}", json={"seed": 1}, headers=org))
        assert [(p["name"], p["seed"]) for p in body["participants"]] == [("Dee", 1), ("Ann", 2), ("Bob", 3), ("Cid", 4)]
        await ok(await client.patch(f"{API}/{tid}", json={"name": "The Day Cup"}, headers=org))
        started = await ok(await client.post(f"{API}/{tid}/start", headers=org))
        assert started["status"] == "running" and started["name"] == "The Day Cup"
        assert [s["participant_id"] for s in started["seeds"]] == [ids[n] for n in ("Dee", "Ann", "Bob", "Cid")]

        ms = await matches(client, tid)
        top, low = one(ms, "winners", 1, 1), one(ms, "winners", 1, 2)       # Dee v Cid, Ann v Bob
        assert sides(top) == (ids["Dee"], ids["Cid"]) and sides(low) == (ids["Ann"], ids["Bob"])

        # each result route, one body: the organiser's winner alone ...
        await ok(await client.post(f"{API}/{tid}/matches/{top['id']}/result", json={"winner": 1}, headers=org))
        # ... the captains' scores_csv with the winner, agreeing: confirmed
        for name in ("Ann", "Bob"):
            body = await ok(await client.post(f"{API}/{tid}/matches/{low['id']}/report", json={
                "scores_csv": "13-7", "winner": 1}, headers={"X-Registration-Token": tok[name]}))
        assert body["outcome"]["provenance"] == "confirmed"
        # ... the game server's winning_team alone (Dee plays allies), after the organiser marks it underway
        final_wb = one(await matches(client, tid), "winners", 2)
        await ok(await client.post(f"{API}/{tid}/matches/{final_wb['id']}/underway", headers=org))
        token = (await ok(await client.post(f"{API}/{tid}/matches/{final_wb['id']}/token", json={"allies_side": 1},
                                            headers=org), 201))["token"]
        body = await ok(await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken}, json={
            "token": token, "match_id": f"match_day_{tid}", "winning_team": "allies"}))
        assert body["outcome"]["status"] == "completed" and body["outcome"]["provenance"] == "telemetry"
        # ... and the organiser's resolve in the losers' bracket: Cid beats Bob
        ms = await matches(client, tid)
        lb1 = one(ms, "losers", 1)
        cid_side = 1 if lb1["opponent1"]["participant_id"] == ids["Cid"] else 2
        await ok(await client.post(f"{API}/{tid}/matches/{lb1['id']}/resolve",
                                   json={"winner": cid_side}, headers=org))
        lb_final = one(await matches(client, tid), "losers", 2)
        assert set(sides(lb_final)) == {ids["Cid"], ids["Ann"]}
        cid_final = 1 if lb_final["opponent1"]["participant_id"] == ids["Cid"] else 2
        await ok(await client.post(f"{API}/{tid}/matches/{lb_final['id']}/result", json={"winner": cid_final},
                                   headers=org))

        # reset the losers' final (nothing after it has started): ready again, the grand final waits
        body = await ok(await client.post(f"{API}/{tid}/matches/{lb_final['id']}/reset", headers=org))
        assert body["match"]["status"] == "ready" and body["match"]["opponent1"]["result"] is None
        gf = one(await matches(client, tid), "grand_final", 1)
        assert gf["status"] == "pending"
        await ok(await client.post(f"{API}/{tid}/matches/{lb_final['id']}/result", json={"winner": cid_final},
                                   headers=org))
        gf = one(await matches(client, tid), "grand_final", 1)
        await ok(await client.post(f"{API}/{tid}/matches/{gf['id']}/underway", headers=org))

        # a correction upstream of a started match needs force, and is audited as forced
        r = await client.post(f"{API}/{tid}/matches/{lb1['id']}/result", json={"winner": 3 - cid_side}, headers=org)
        assert r.status_code == 409 and r.json()["error"] == "downstream_started"
        body = await ok(await client.post(f"{API}/{tid}/matches/{lb1['id']}/result",
                                          json={"winner": 3 - cid_side, "force": True}, headers=org))
        assert set(body["changed"]) >= {lb1["id"], lb_final["id"], gf["id"]}
        audit = (await ok(await client.get(f"{API}/{tid}/audit", params={"limit": 1000})))["entries"]
        forced = [e for e in audit if e["forced"]]
        assert {e["match_id"] for e in forced} >= {lb1["id"], lb_final["id"], gf["id"]}
        assert all(e["action"] == "report_result" for e in forced)

        # finish: Bob now plays Ann in the losers' final, Dee wins the grand final
        lb_final = one(await matches(client, tid), "losers", 2)
        await ok(await client.post(f"{API}/{tid}/matches/{lb_final['id']}/result", json={"scores": [10, 4]},
                                   headers=org))
        gf = one(await matches(client, tid), "grand_final", 1)
        dee = 1 if gf["opponent1"]["participant_id"] == ids["Dee"] else 2
        await ok(await client.post(f"{API}/{tid}/matches/{gf['id']}/result", json={"winner": dee}, headers=org))
        t = await ok(await client.get(f"{API}/{tid}"))
        assert t["status"] == "completed"
        standings = (await ok(await client.get(f"{API}/{tid}/standings")))["standings"]
        assert standings[0]["participant_id"] == ids["Dee"]

        # every change reached the webhook, each verified by the standardwebhooks library
        await webhooks.wait_idle(app)
        verifier = StandardWebhook(hook["secret"])
        for headers, body, _ in rx.attempts:
            assert verifier.verify(body, headers) == json.loads(body)
        got = rx.delivered()
        types = [d["type"] for d in got]
        audit = (await ok(await client.get(f"{API}/{tid}/audit", params={"limit": 1000})))["entries"]
        # each change after the webhook's creation (all but `create_tournament`) once, in order
        assert [d["data"]["seq"] for d in got] == [e["seq"] for e in audit[1:]]
        for e in ("registration.opened", "participant.registered", "participant.checked_in",
                  "participant.checkin_undone", "participant.reseeded", "tournament.updated", "tournament.started",
                  "participant.entered", "match.created", "match.ready", "match.underway", "match.completed",
                  "match.claim_recorded", "match.telemetry_linked", "match.reset", "match.corrected",
                  "match.not_needed", "tournament.completed"):
            assert e in types, e
        corrected = [d for d in got if d["type"] == "match.corrected"]
        assert any(d["data"]["forced"] for d in corrected)
        assert all(d["version"] == 1 and d["timestamp"].endswith("Z") for d in got)


# --- one entrant model and changes before the start ---------------------------------------------

async def test_entrants_remove_randomise_launch_alias(client, org):
    tid = await new(client, org)
    await ok(await client.put(f"{API}/{tid}/event", json={"capacity": 4}, headers=org))
    a, b, c, d = await entrants(client, org, tid, 4)
    waiting = (await ok(await client.post(f"{API}/{tid}/registrations", json={"name": "late"}, headers=org),
                        201))["registration"]
    assert waiting["status"] == "waitlisted" and waiting["id"] == 5
    # removing an entrant frees its place for the waitlist; its id is not given out again
    assert (await client.delete(f"{API}/{tid}/participants/{b}", headers=org)).status_code == 204
    regs = {r["id"]: r["status"] for r in (await ok(await client.get(f"{API}/{tid}/registrations")))["registrations"]}
    assert b not in regs and regs[5] == "registered"
    assert (await ok(await client.post(f"{API}/{tid}/participants", json={"name": "new"}, headers=org), 201))["id"] == 6
    assert (await client.delete(f"{API}/{tid}/participants/{b}", headers=org)).status_code == 404
    # randomised seeds are reproducible from the recorded random_seed
    one_draw = await ok(await client.post(f"{API}/{tid}/participants/randomize", json={"random_seed": 7}, headers=org))
    again = await ok(await client.post(f"{API}/{tid}/participants/randomize", json={"random_seed": 7}, headers=org))
    assert [p["seed"] for p in one_draw["participants"]] == [1, 2, 3, 4, 5]
    assert [p["id"] for p in again["participants"]] == [p["id"] for p in one_draw["participants"]]
    # a seed outside 1..n, or disqualifying before the start, is refused
    assert (await client.patch(f"{API}/{tid}/participants/{a}", json={"seed": 9}, headers=org)).status_code == 422
    assert (await client.post(f"{API}/{tid}/participants/{a}/disqualify", headers=org)).status_code == 409
    # /launch is /start in its old shape, on the same entrants
    body = await ok(await client.post(f"{API}/{tid}/launch", json={"seeding": "manual"}, headers=org))
    assert body["tournament"]["status"] == "running"
    assert [s["participant_id"] for s in body["seeds"]] == [p["id"] for p in one_draw["participants"]]
    for call in (client.delete(f"{API}/{tid}/participants/{a}", headers=org),
                 client.patch(f"{API}/{tid}/participants/{a}", json={"seed": 1}, headers=org),
                 client.post(f"{API}/{tid}/participants/randomize", json={}, headers=org),
                 client.post(f"{API}/{tid}/start", headers=org)):
        r = await call
        assert r.status_code == 409 and r.json()["error"] == "stage_error", r.text
    audit = [e["action"] for e in (await ok(await client.get(f"{API}/{tid}/audit")))["entries"]]
    for action in ("register", "remove_participant", "promote", "randomize", "randomize_seeds", "add_participant",
                   "launch"):
        assert action in audit, action


async def test_patch_tournament_and_event(client, org):
    tid = await new(client, org, "single_elimination", {"best_of": 3})
    body = await ok(await client.patch(f"{API}/{tid}", json={"format": "double_elimination",
                                                             "settings": {"grand_final": "simple"}}, headers=org))
    assert body["format"] == "double_elimination" and body["settings"]["grand_final"] == "simple"
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat()
    r = await client.patch(f"{API}/{tid}", json={"starts_at": past}, headers=org)
    assert r.status_code == 422 and r.json()["error"] == "invalid_time"
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(microsecond=0)
    await ok(await client.patch(f"{API}/{tid}", json={"starts_at": soon.isoformat(), "round_minutes": 30}, headers=org))
    event = await ok(await client.patch(f"{API}/{tid}/event", json={"capacity": 8}, headers=org))
    assert event["capacity"] == 8 and event["round_minutes"] == 30               # PATCH keeps the rest
    assert event["starts_at"]["utc"] == soon.isoformat().replace("+00:00", "Z")
    assert (await client.patch(f"{API}/{tid}", json={"format": "ladder"}, headers=org)).status_code == 422
    await entrants(client, org, tid, 3)
    await ok(await client.post(f"{API}/{tid}/start", headers=org))
    r = await client.patch(f"{API}/{tid}", json={"settings": {"grand_final": "double"}}, headers=org)
    assert r.status_code == 409 and r.json()["error"] == "stage_error"
    assert (await client.patch(f"{API}/{tid}/event", json={"capacity": 4}, headers=org)).status_code == 409
    assert (await ok(await client.patch(f"{API}/{tid}", json={"name": "renamed"}, headers=org)))["name"] == "renamed"
    entry = [e for e in (await ok(await client.get(f"{API}/{tid}/audit")))["entries"]
             if e["action"] == "update_tournament"][-1]
    assert entry["before"]["name"] != "renamed" and entry["after"]["name"] == "renamed"


async def test_registration_window(client, org):
    tid = await new(client, org)
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).isoformat()
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).isoformat()
    assert (await client.post(f"{API}/{tid}/registration/open", json={"closes_at": past}, headers=org)).status_code == 422
    await ok(await client.post(f"{API}/{tid}/registration/open", json={"opens_at": later}, headers=org))
    r = await client.post(f"{API}/{tid}/registrations", json={"name": "eager"})
    assert r.status_code == 409 and "opens at" in r.json()["detail"]
    await ok(await client.post(f"{API}/{tid}/registration/open", json={"closes_at": later}, headers=org))
    await ok(await client.post(f"{API}/{tid}/registrations", json={"name": "eager"}), 201)
    await ok(await client.post(f"{API}/{tid}/registration/close", headers=org))
    assert (await client.post(f"{API}/{tid}/registrations", json={"name": "tardy"})).status_code == 401
    # the organiser still registers; an entrant cannot open registration
    await ok(await client.post(f"{API}/{tid}/registrations", json={"name": "tardy"}, headers=org), 201)
    assert (await client.post(f"{API}/{tid}/registration/open")).status_code == 401


# --- results --------------------------------------------------------------------------------------

async def test_one_result_body_everywhere(client, org):
    tid = await new(client, org, "single_elimination", {"best_of": 3})
    await ok(await client.put(f"{API}/{tid}/event", json={}, headers=org))
    await ok(await client.post(f"{API}/{tid}/registration/open", headers=org))
    toks = [(await ok(await client.post(f"{API}/{tid}/registrations", json={"name": n}), 201))["token"]
            for n in ("x1", "x2", "x3", "x4")]
    await ok(await client.post(f"{API}/{tid}/start", headers=org))
    ms = await matches(client, tid)
    m1, m2 = one(ms, "winners", 1, 1), one(ms, "winners", 1, 2)
    by_id = {i + 1: t for i, t in enumerate(toks)}
    # the same refusals on the three routes: a winner against the scores, two scores at once, nothing
    routes = [("result", org), ("resolve", org),
              ("report", {"X-Registration-Token": by_id[m1["opponent1"]["participant_id"]]})]
    for path, headers in routes:
        for bad, code in (({"scores_csv": "3-1,3-2", "winner": 2}, "invalid_result"),
                          ({"scores": [2, 0], "scores_csv": "3-1,3-2"}, "invalid_result"),
                          ({}, "invalid_result"), ({"winner": 3}, "invalid_result")):
            r = await client.post(f"{API}/{tid}/matches/{m1['id']}/{path}", json=bad, headers=headers)
            assert r.status_code == 422 and r.json()["error"] == code, (path, bad, r.text)
    # scores_csv on /result (games), winner alone on /report
    body = await ok(await client.post(f"{API}/{tid}/matches/{m1['id']}/result", json={"scores_csv": "3-1,1-3,3-0"},
                                      headers=org))
    assert body["match"]["status"] == "completed" and [g["scores"] for g in body["match"]["games"]] == [[3, 1], [1, 3], [3, 0]]
    captain = {"X-Registration-Token": by_id[m2["opponent2"]["participant_id"]]}
    body = await ok(await client.post(f"{API}/{tid}/matches/{m2['id']}/report", json={"winner": 2}, headers=captain))
    assert body["match"]["opponent2"]["result"] == "win" and body["match"]["opponent2"]["score"] is None
    # a winner-only claim that agrees with a scored one confirms it; one that disagrees disputes it
    other = {"X-Registration-Token": by_id[m2["opponent1"]["participant_id"]]}
    body = await ok(await client.post(f"{API}/{tid}/matches/{m2['id']}/report", json={"scores": [0, 2]}, headers=other))
    assert body["outcome"]["provenance"] == "confirmed"


async def test_winning_team_decides_and_refusals_say_why(client, org):
    server_id, stoken = await new_server(client, f"wt server {uuid.uuid4().hex[:6]}")
    tid = await new(client, org, "single_elimination", {"best_of": 3})
    await entrants(client, org, tid, 4)
    await ok(await client.post(f"{API}/{tid}/start", headers=org))
    ms = await matches(client, tid)
    m, final = one(ms, "winners", 1, 1), one(ms, "winners", 2)
    token = (await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/token", json={"allies_side": 2},
                                        headers=org), 201))["token"]
    post = lambda match, **kw: client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},  # noqa: E731
                                           json={"token": token, "match_id": match, **kw})
    body = await ok(await post("match_wt_1", winning_team="allies"))        # allies are opponent 2
    assert body["outcome"]["status"] == "running" and body["outcome"]["evidence"][0]["winner"] == 2
    body = await ok(await post("match_wt_2", winning_team="axis"))
    assert body["outcome"]["status"] == "running"
    body = await ok(await post("match_wt_3", winning_team="allies"))
    assert body["outcome"]["status"] == "completed"
    done = await ok(await client.get(f"{API}/{tid}/matches/{m['id']}"))
    assert (done["opponent1"]["score"], done["opponent2"]["score"]) == (1, 2) and done["opponent2"]["result"] == "win"
    # nothing to tell: 422 with why; a match not ready: 409 -- never 200 and nothing
    r = await post("match_wt_4")
    assert r.status_code == 422 and "no result" in r.json()["detail"]
    token2 = (await ok(await client.post(f"{API}/{tid}/matches/{final['id']}/token", json={}, headers=org),
                       201))["token"]
    r = await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},
                          json={"token": token2, "match_id": "match_wt_5", "winning_team": "allies"})
    assert r.status_code == 409 and r.json()["error"] == "match_not_ready"
    assert (await post("match_wt_6", winning_team="nobody")).status_code == 422


async def test_reset_reopen_and_forced_flag(client, org):
    tid = await new(client, org)
    await entrants(client, org, tid, 4)
    await ok(await client.post(f"{API}/{tid}/start", headers=org))
    ms = await matches(client, tid)
    semi, final = one(ms, "winners", 1, 1), one(ms, "winners", 2)
    assert (await client.post(f"{API}/{tid}/matches/{semi['id']}/reset", headers=org)).status_code == 409
    await ok(await client.post(f"{API}/{tid}/matches/{semi['id']}/result", json={"scores": [3, 1]}, headers=org))
    await ok(await client.post(f"{API}/{tid}/matches/{one(ms, 'winners', 1, 2)['id']}/result", json={"winner": 1},
                               headers=org))
    await ok(await client.post(f"{API}/{tid}/matches/{final['id']}/start", headers=org))   # the old name of underway
    r = await client.post(f"{API}/{tid}/matches/{semi['id']}/reopen", json={}, headers=org)
    assert r.status_code == 409 and r.json()["error"] == "downstream_started"
    body = await ok(await client.post(f"{API}/{tid}/matches/{semi['id']}/reopen", json={"force": True}, headers=org))
    assert body["match"]["status"] == "ready" and sorted(body["changed"]) == sorted([semi["id"], final["id"]])
    audit = (await ok(await client.get(f"{API}/{tid}/audit", params={"match_id": semi["id"]})))["entries"]
    reset = audit[-1]
    assert reset["action"] == "reset_match" and reset["forced"] and reset["before"]["status"] == "completed"
    assert reset["after"]["status"] == "ready" and reset["after"]["opponent1"]["score"] is None


async def test_every_commit_wakes_the_webhooks(client, app, org):
    """A write through a bracket route is delivered by itself, without a later write to wake anything."""
    app.state.webhook_backoff_s = 0.05
    tid = await new(client, org)
    await entrants(client, org, tid, 2)
    await ok(await client.post(f"{API}/{tid}/start", headers=org))
    async with Receiver(fail_first=0) as rx:
        await ok(await client.post(f"{API}/{tid}/webhooks", json={"url": rx.url}, headers=org), 201)
        m = (await matches(client, tid))[0]
        await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/result", json={"winner": 2}, headers=org))
        await webhooks.wait_idle(app)
        assert [d["type"] for d in rx.delivered()] == ["match.completed", "tournament.completed"]


# --- odds, pages, OpenAPI, migrations -------------------------------------------------------------

@pytest.mark.parametrize("fmt,n,settings", [("swiss", 8, {}), ("valve_swiss", 8, {"wins_to_advance": 2,
                                            "losses_to_eliminate": 2}),
                                            ("round_robin", 8, {"groups": 2, "advance_per_group": 2})])
async def test_odds_for_swiss_and_groups(client, org, fmt, n, settings):
    tid = await new(client, org, fmt, settings)
    await entrants(client, org, tid, n)
    await ok(await client.post(f"{API}/{tid}/start", headers=org))
    body = await ok(await client.get(f"{API}/{tid}/odds", params={"runs": 200, "seed": 3}))
    assert body["runs"] == 200 and len(body["participants"]) == n
    wins = sum(p["win"] for p in body["participants"])
    assert wins == pytest.approx(n / 2 if fmt == "valve_swiss" else 1.0, abs=0.01)
    assert (await ok(await client.get(f"{API}/{tid}/odds", params={"runs": 200, "seed": 3}))) == body
    assert (await ok(await client.get(f"{API}/{tid}/odds")))["runs"] == 500


async def test_the_page_hides_a_reset_that_is_not_needed():  # async only because the module is marked asyncio
    t = make("double_elimination", 4)
    while True:
        todo = [m for m in t.matches if m.status == "ready"]
        if not todo:
            break
        for m in todo:  # the better seed wins: the winners' champion takes the first final
            better = 1 if m.opponent1.seed < m.opponent2.seed else 2
            t, _ = results.report_result(t, m.id, winner=better, actor="t", at=AT)
    assert any(m.bracket == "grand_final" and m.round == 2 and m.status == "not_needed" for m in t.matches)
    finals = [s for s in pages.bracket_view(t) if s["title"] == "Grand final"][0]
    assert [r["round"] for r in finals["rounds"]] == [1]


async def test_openapi_marks_aliases_and_lists_the_webhook_catalogue(client):
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    assert paths[f"{API}/{{tournament_id}}/launch"]["post"]["deprecated"] is True
    assert paths[f"{API}/{{tournament_id}}/matches/{{match_id}}/start"]["post"]["deprecated"] is True
    assert paths[f"{API}/{{tournament_id}}/matches/{{match_id}}/reopen"]["post"]["deprecated"] is True
    assert "deprecated" not in paths[f"{API}/{{tournament_id}}/start"]["post"]
    for route in ("result", "report", "resolve"):
        schema = paths[f"{API}/{{tournament_id}}/matches/{{match_id}}/{route}"]["post"]["requestBody"]
        assert schema["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ResultBody"}
    for path in (f"{API}/{{tournament_id}}/participants", f"{API}/{{tournament_id}}/registrations"):
        schema = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/EntrantBody"}
    assert "patch" in paths[f"{API}/{{tournament_id}}"] and "patch" in paths[f"{API}/{{tournament_id}}/event"]
    catalogue = (await client.get(f"{API}/webhook-events")).json()
    assert catalogue["version"] == 1 and set(doc["webhooks"]) == {e["type"] for e in catalogue["events"]}
    ref = doc["webhooks"]["match.completed"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    envelope = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "match.completed" in envelope["properties"]["type"]["enum"]


async def test_unstarted_participants_move_to_entrants(app):
    """sql/0005 moves the participants of tournaments not started yet (kept only in the state document
    before) to entrant rows, moving a clashing id or name out of the way."""
    pool = app.state.engines.pg
    sql = (Path(__file__).resolve().parents[1] / "sql" / "0005_one_entrant_model.sql").read_text()
    move = sql[sql.index("WITH legacy AS"):]
    state = {"format": "single_elimination", "settings": {}, "matches": [],
             "participants": [{"id": 1, "name": "old one", "seed": 2, "disqualified": False},
                              {"id": 2, "name": "taken", "seed": None, "disqualified": False}]}
    tid = await pool.fetchval("INSERT INTO tournaments (name, format, settings, status, state) VALUES"
                              " ('legacy', 'single_elimination', '{}', 'setup', $1::jsonb) RETURNING id",
                              json.dumps(state))
    await pool.execute("INSERT INTO tournament_registrations (tournament_id, id, name, members, status, queued_at,"
                       " token_hash, created_at) VALUES ($1, 2, 'taken', '[]', 'registered', now(), '\\x00', now())",
                       tid)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:  # run the move on this tournament and look, then roll back: other tournaments stay as they are
            for statement in move.split(";"):
                if statement.strip():
                    await conn.execute(statement)
            rows = await conn.fetch("SELECT id, name, seed, status FROM tournament_registrations"
                                    " WHERE tournament_id = $1 ORDER BY id", tid)
            assert [(r["id"], r["name"], r["seed"], r["status"]) for r in rows] == [
                (1, "old one", 2, "registered"), (2, "taken", None, "registered"), (4, "taken #4", None, "registered")]
            assert await conn.fetchval("SELECT state -> 'participants' FROM tournaments WHERE id = $1", tid) == "[]"
            assert await conn.fetchval("SELECT last_entrant_id FROM tournaments WHERE id = $1", tid) == 4
        finally:
            await tx.rollback()
    await pool.execute("DELETE FROM tournaments WHERE id = $1", tid)


# --- the after-commit hook off the writer's path ----------------------------------------------------

async def until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_tournament_hook_stuck_on_a_lock_does_not_slow_inserts(client, app, org, hooked):
    """Issue 13, point 9: the tournament results hook runs on its own task (the pipeline's after-commit
    runners): while it waits for a tournament locked by another transaction, the batch writer goes on
    committing; once the lock goes, the result it held is applied."""
    server_id, stoken = await new_server(client, f"lock server {uuid.uuid4().hex[:6]}")
    tid = await new(client, org)
    await entrants(client, org, tid, 2)
    await ok(await client.post(f"{API}/{tid}/start", headers=org))
    m = (await matches(client, tid))[0]
    token = (await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/token", json={}, headers=org), 201))["token"]
    pipeline, pool = app.state.pipeline, app.state.engines.pg

    def committed() -> bool:  # everything admitted is in ClickHouse (the hooks may still be behind)
        return pipeline.queue.size == 0 and pipeline.in_flight == 0

    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT 1 FROM tournaments WHERE id = $1 FOR UPDATE", tid)  # an organiser's long write
        try:
            tm = f"match_lock{uuid.uuid4().hex[:12]}"
            start = time.monotonic()
            await send(client, stoken, [envelope("match_end", tm, allies_score="5", axis_score="2",
                                                 tournament_match_token=token)])
            for i in range(3):  # more batches after it, each committed while the hook still waits
                await until(committed)
                await send(client, stoken, [kill(tm, ("A", f"ga-{tm}"), ("B", f"gb-{tm}"), float(i))])
            await until(committed)
            assert time.monotonic() - start < 3.0
            assert (await ok(await client.get(f"{API}/{tid}/matches/{m['id']}")))["status"] == "ready"
        finally:
            await tx.rollback()
    async def applied() -> bool:
        return (await ok(await client.get(f"{API}/{tid}/matches/{m['id']}")))["status"] == "completed"

    deadline = time.monotonic() + 10
    while not await applied():
        assert time.monotonic() < deadline, "the held result was not applied after the lock went"
        await asyncio.sleep(0.05)
