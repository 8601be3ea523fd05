"""A whole event through the API, real engines and a real webhook receiver on loopback:
ratings from telemetry matches, registration with a waitlist, check-in with a no-show removed,
seeds by rating, a semi-final reported by the game server's telemetry end to end through
`/api/v1/ingest/events` (token in `match_start`/`match_end`), the other by captains with a dispute
the organiser resolves, the final by `POST /api/v1/ingest/match-result`, odds updated after each
result, webhooks delivered signed, retried and de-duplicable; export/import round trip."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import uuid

import pytest
import uvicorn
from conftest import ADMIN, free_port, new_server, settle
from standardwebhooks.webhooks import Webhook as StandardWebhook
from helpers import ok
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tournaments import telemetry, webhooks

pytestmark = pytest.mark.asyncio(loop_scope="session")
API = "/api/v1/tournaments"


class Receiver:
    """A real HTTP server on 127.0.0.1 that records webhook deliveries; fails the first `fail_first`."""

    def __init__(self, fail_first: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.attempts: list[tuple[dict, bytes, int]] = []
        self.fail_first = fail_first

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        status = 503 if len(self.attempts) < self.fail_first else 200
        self.attempts.append((dict(request.headers), body, status))
        return Response(status_code=status)

    async def __aenter__(self) -> "Receiver":
        app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await self.task

    def delivered(self) -> list[dict]:
        """Bodies acknowledged with 2xx, de-duplicated by delivery id (`webhook-id`) as a receiver should."""
        seen, out = set(), []
        for headers, body, status in self.attempts:
            if status == 200 and headers["webhook-id"] not in seen:
                seen.add(headers["webhook-id"])
                out.append(json.loads(body))
        return out


@pytest.fixture(scope="module")
async def hooked(app):
    """The tournaments after-commit hook on the shared app's pipeline (as `fragstats/app.py` will wire it)."""
    present = any(getattr(h, "__name__", "") == "tournament_results" for h in app.state.pipeline.after_commit)
    hook = None
    if not present:
        hook = telemetry.after_commit_factory(app)
        app.state.pipeline.after_commit.append(hook)
    app.state.webhook_backoff_s = 0.05
    yield
    if hook is not None:
        app.state.pipeline.after_commit.remove(hook)


def kill(match: str, attacker: tuple[str, str], victim: tuple[str, str], ts: float) -> dict:
    return {"type": "player_kill", "match_id": match, "session_id": "sess_" + match[-16:], "timestamp": ts,
            "attacker_name": attacker[0], "attacker_guid": attacker[1], "attacker_team": "allies",
            "victim_name": victim[0], "victim_guid": victim[1], "victim_team": "axis", "weapon": "Thompson",
            "damage": "100", "hitloc": "head", "mod": "bullet"}


def envelope(kind: str, match: str, **extra) -> dict:
    return {"type": kind, "match_id": match, "session_id": "sess_" + match[-16:], "timestamp": 1.0,
            "map_name": "obj/obj_team2", "gametype": "obj", **extra}


async def send(client, token: str, events: list[dict]) -> None:
    r = await client.post("/api/v1/ingest/events", json=events, headers={"X-Server-Token": token})
    assert r.status_code == 202 and r.json()["rejected"] == 0, r.text


async def test_a_whole_event(client, app, hooked):
    run = uuid.uuid4().hex[:8]
    server_id, stoken = await new_server(client, f"cup server {run}")
    players = {n: (n.title(), f"guid-{n}-{run}") for n in ("ace", "mid", "low", "new", "wait")}

    # 1. ratings from telemetry: two ended free-for-all matches, ace > mid > low by kills - deaths
    for i in range(2):
        m = f"match_{run}{i:08x}"
        evs = [envelope("match_start", m)]
        evs += [kill(m, players["ace"], players["mid"], 2 + k) for k in range(3)]
        evs += [kill(m, players["ace"], players["low"], 6 + k) for k in range(2)]
        evs += [kill(m, players["mid"], players["low"], 9 + k) for k in range(2)]
        evs.append(envelope("match_end", m, allies_score="0", axis_score="0", winning_team="draw"))
        await send(client, stoken, evs)
    await settle(app)
    board = (await ok(await client.get("/api/v1/stats/ratings", params={"limit": 500})))["players"]
    mine = [p for p in board if p["player_id"].endswith(run)]
    assert [p["player_id"] for p in mine] == [players[n][1] for n in ("ace", "mid", "low")]
    assert all(p["matches"] == 2 and p["rating"] == pytest.approx(p["mu"] - 3 * p["sigma"], abs=1e-2) for p in mine)
    assert [p["rating"] for p in board] == sorted((p["rating"] for p in board), reverse=True)

    org = {"Authorization": f"Bearer {(await ok(await client.post('/api/v1/keys', headers=ADMIN, json={'name': 'cup org', 'scopes': ['tournaments']}), 201))['key']}"}
    tid = (await ok(await client.post(API, json={"name": f"cup {run}", "format": "single_elimination"},
                                      headers=org), 201))["id"]
    async with Receiver(fail_first=1) as rx:
        hook = await ok(await client.post(f"{API}/{tid}/webhooks", json={"url": rx.url}, headers=org), 201)
        starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)
        await ok(await client.put(f"{API}/{tid}/event", headers=org, json={
            "capacity": 4, "checkin_minutes": 60, "starts_at": starts.isoformat(), "timezone": "Europe/Paris"}))
        await ok(await client.post(f"{API}/{tid}/registration/open", headers=org))

        # 2. registration: four places, the fifth waits; members linked to telemetry by name
        reg, tok = {}, {}
        for n in ("ace", "mid", "low", "new", "wait"):
            body = await ok(await client.post(f"{API}/{tid}/registrations", json={"name": players[n][0]}), 201)
            reg[n], tok[n] = body["registration"], body["token"]
        assert [reg[n]["status"] for n in ("ace", "wait")] == ["registered", "waitlisted"]
        assert reg["ace"]["members"][0]["player_id"] == players["ace"][1]     # linked by name
        assert reg["new"]["members"][0]["player_id"] is None                 # never seen in telemetry

        # 3. check-in: mid does not show up; wait (checked in) takes the place
        for n in ("ace", "low", "new", "wait"):
            await ok(await client.post(f"{API}/{tid}/registrations/{reg[n]['id']}/checkin",
                                       headers={"X-Registration-Token": tok[n]}))
        body = await ok(await client.post(f"{API}/{tid}/launch", json={"seeding": "rating"}, headers=org))
        assert body["no_shows"] == [reg["mid"]["id"]] and body["promoted"] == [reg["wait"]["id"]]
        order = [s["participant_id"] for s in body["seeds"]]
        assert order[0] == reg["ace"]["id"] and order[-1] == reg["low"]["id"]   # rated low is below the unrated

        ms = (await ok(await client.get(f"{API}/{tid}/matches")))["matches"]
        semis = [m for m in ms if m["round"] == 1]
        final = next(m for m in ms if m["round"] == 2)
        ace_semi = next(m for m in semis if reg["ace"]["id"] in (m["opponent1"]["participant_id"],
                                                                 m["opponent2"]["participant_id"]))
        other = next(m for m in semis if m is not ace_semi)
        odds0 = (await ok(await client.get(f"{API}/{tid}/odds", params={"runs": 4000})))["participants"]
        assert sum(p["win"] for p in odds0) == pytest.approx(1.0)
        assert odds0[0]["participant_id"] == reg["ace"]["id"]
        assert all(p["reach"]["winners:1"] == 1.0 for p in odds0)

        # 4. semi-final 1 by the game server: token in match_start / match_end through /ingest/events
        t1 = await ok(await client.post(f"{API}/{tid}/matches/{ace_semi['id']}/token", json={"allies_side": 1},
                                        headers=org), 201)
        tm = f"match_{run}semi0001"
        await send(client, stoken, [envelope("match_start", tm, tournament_match_token=t1["token"])])
        await settle(app)
        assert (await ok(await client.get(f"{API}/{tid}/matches/{ace_semi['id']}")))["status"] == "running"
        ace_side = 1 if ace_semi["opponent1"]["participant_id"] == reg["ace"]["id"] else 2
        allies, axis = (5, 2) if ace_side == 1 else (2, 5)
        await send(client, stoken, [kill(tm, players["ace"], players["new"], 3.0),
                                    envelope("match_end", tm, allies_score=str(allies), axis_score=str(axis),
                                             winning_team="allies" if ace_side == 1 else "axis",
                                             tournament_match_token=t1["token"])])
        await settle(app)
        out = await ok(await client.get(f"{API}/{tid}/matches/{ace_semi['id']}/outcome"))
        assert out["status"] == "completed" and out["provenance"] == "telemetry"
        # The game's match is `telemetry_match_id` (a string), apart from the bracket's integer
        # `match_id`; `match_id` inside the evidence stays as a deprecated copy for older clients.
        assert out["match_id"] == ace_semi["id"]
        assert out["evidence"] == [{"server_id": server_id, "telemetry_match_id": tm, "url": f"/api/v1/stats/match/{tm}",
                                    "game": [allies, axis], "match_id": tm}]
        assert (await client.get(out["evidence"][0]["url"])).status_code == 200
        # the winner's captain agrees: confirmed; the loser's captain claims otherwise: dispute
        agree = {"scores": [allies, axis]}
        body = await ok(await client.post(f"{API}/{tid}/matches/{ace_semi['id']}/report", json=agree,
                                          headers={"X-Registration-Token": tok["ace"]}))
        assert body["outcome"]["provenance"] == "confirmed"
        # a stranger cannot report
        r = await client.post(f"{API}/{tid}/matches/{ace_semi['id']}/report", json=agree,
                              headers={"X-Registration-Token": tok["low"] if reg["low"]["id"] not in (
                                  ace_semi["opponent1"]["participant_id"], ace_semi["opponent2"]["participant_id"])
                                  else tok["wait"]})
        assert r.status_code == 403
        odds1 = (await ok(await client.get(f"{API}/{tid}/odds")))["participants"]
        loser1 = (ace_semi["opponent2"] if ace_side == 1 else ace_semi["opponent1"])["participant_id"]
        assert next(p for p in odds1 if p["participant_id"] == loser1)["win"] == 0
        assert next(p for p in odds1 if p["participant_id"] == reg["ace"]["id"])["reach"]["winners:2"] == 1.0

        # 5. semi-final 2 by the captains: a report, a contradiction, the organiser resolves
        side_tok = {}
        for n in ("low", "new", "wait"):
            for s in (1, 2):
                if other[f"opponent{s}"]["participant_id"] == reg[n]["id"]:
                    side_tok[s] = tok[n]
        body = await ok(await client.post(f"{API}/{tid}/matches/{other['id']}/report", json={"scores": [10, 5]},
                                          headers={"X-Registration-Token": side_tok[1]}))
        assert body["outcome"]["provenance"] == "reported" and body["match"]["status"] == "completed"
        body = await ok(await client.post(f"{API}/{tid}/matches/{other['id']}/report", json={"scores": [5, 10]},
                                          headers={"X-Registration-Token": side_tok[2]}))
        assert body["outcome"]["dispute"] == "open" and body["match"]["opponent1"]["score"] == 10
        disputes = (await ok(await client.get(f"{API}/{tid}/outcomes", params={"dispute": "open"})))["outcomes"]
        assert [d["match_id"] for d in disputes] == [other["id"]]
        assert set(disputes[0]["claims"]) == {"captain1", "captain2"}
        assert (await client.post(f"{API}/{tid}/matches/{other['id']}/resolve", json={"scores": [4, 10]},
                                  headers={"X-Registration-Token": side_tok[1]})).status_code == 401
        body = await ok(await client.post(f"{API}/{tid}/matches/{other['id']}/resolve", json={"scores": [7, 10]},
                                          headers=org))
        assert body["outcome"] == {**body["outcome"], "provenance": "organiser", "dispute": "resolved"}
        assert body["match"]["opponent2"]["result"] == "win"

        # 6. the final by POST /api/v1/ingest/match-result (team scores, ace plays axis)
        fin = await ok(await client.get(f"{API}/{tid}/matches/{final['id']}"))
        ace_final_side = 1 if fin["opponent1"]["participant_id"] == reg["ace"]["id"] else 2
        t3 = await ok(await client.post(f"{API}/{tid}/matches/{final['id']}/token", headers=org,
                                        json={"allies_side": 3 - ace_final_side, "server_id": server_id}), 201)
        other_server = await new_server(client, f"other {run}")
        r = await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": other_server[1]},
                              json={"token": t3["token"], "match_id": "match_x"})
        assert r.status_code == 403
        assert (await client.post("/api/v1/ingest/match-result", json={"token": t3["token"], "match_id": "m"})
                ).status_code == 401
        assert (await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},
                                  json={"token": "fst_nope", "match_id": "m"})).status_code == 404
        body = await ok(await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": stoken},
                                          json={"token": t3["token"], "match_id": f"match_{run}final001",
                                                "allies_score": 1, "axis_score": 4}))
        assert body["outcome"]["provenance"] == "telemetry" and body["outcome"]["status"] == "completed"
        standings = (await ok(await client.get(f"{API}/{tid}/standings")))["standings"]
        assert standings[0]["participant_id"] == reg["ace"]["id"]
        odds2 = (await ok(await client.get(f"{API}/{tid}/odds")))
        assert odds2["status"] == "completed" and odds2["participants"][0]["win"] == 1.0

        # 7. webhooks: every change arrived, once each after de-duplication, signed, the first retried
        await webhooks.wait_idle(app)
        got = rx.delivered()
        events = [d["type"] for d in got]
        for e in ("tournament.event_updated", "registration.opened", "participant.registered",
                  "participant.checked_in", "participant.no_show", "participant.promoted", "tournament.started",
                  "participant.entered", "match.created", "match.ready", "match.telemetry_linked", "match.underway",
                  "match.completed", "match.claim_recorded", "match.disputed", "match.dispute_resolved",
                  "match.corrected", "tournament.completed"):
            assert e in events, e
        assert set(events) <= {e["type"] for e in (await ok(await client.get(f"{API}/webhook-events")))["events"]}
        assert [d["data"]["seq"] for d in got] == sorted(d["data"]["seq"] for d in got)
        first_headers, first_body, first_status = rx.attempts[0]
        second_headers, second_body, _ = rx.attempts[1]
        assert first_status == 503 and first_headers["webhook-id"] == second_headers["webhook-id"]
        verifier = StandardWebhook(hook["secret"])
        for headers, body, _ in rx.attempts:
            assert verifier.verify(body, headers) == json.loads(body)   # an off-the-shelf receiver checks it
            mac = hmac.new(hook["secret"].encode(), f"{headers['x-fragstats-timestamp']}.".encode() + body,
                           hashlib.sha256).hexdigest()
            assert headers["x-fragstats-signature"] == f"sha256={mac}"   # Tournaments II's header, still sent
            assert headers["x-fragstats-delivery"] == headers["webhook-id"]
        listed = (await ok(await client.get(f"{API}/{tid}/webhooks", headers=org)))["webhooks"][0]
        assert listed["deliveries"] and all(d["status"] == "delivered" for d in listed["deliveries"])
        assert max(d["attempts"] for d in listed["deliveries"]) == 2

    # 8. export and import: the same bracket, results and provenance
    exported = await ok(await client.get(f"{API}/{tid}/export"))
    assert {m["provenance"] for m in exported["matches"]} == {"confirmed", "organiser", "telemetry"}
    assert next(m for m in exported["matches"] if m["id"] == other["id"])["scores_csv"] == "7-10"
    copy = await ok(await client.post(f"{API}/import", json=exported, headers=org), 201)
    assert copy["status"] == "completed"
    again = await ok(await client.get(f"{API}/{copy['id']}/standings"))
    assert [s["participant_id"] for s in again["standings"]] == [s["participant_id"] for s in standings]
