"""Players on the session's real engines: the RFC 8628 device grant through each of its answers,
`login <code>` checked by the game (`POST /api/v1/auth/verify`), identity claims typed in game chat
and posted by a game server, the player across identities (user stats, `?by=user`,
`?expand=identity`, the resolver route), and 10,000 wrong codes that never get through.

Users are made with the identity package's own sign-in and session code (the provider round trip
itself is tested against real providers in test_identity_signin.py).
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from conftest import new_server, settle
from identity.codes import ALPHABET, new_code, pretty
from identity.users import sign_in_user


async def user_headers(app, name: str) -> tuple[int, dict]:
    """A fresh user called `name` and the bearer header of its API session."""
    ident = app.state.identity
    user = await sign_in_user(ident.pool, "test", f"{name}-{uuid.uuid4().hex}", name, None, None)
    tokens = await ident.sessions.issue_tokens(user.id, "test")
    return user.id, {"Authorization": f"Bearer {tokens['access_token']}"}


def client_from(app, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address` (wrong-code limits are per address)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://test",
                             timeout=30)


async def test_device_grant_answers_every_rfc8628_case(app):
    user_id, auth = await user_headers(app, "Device Dan")
    async with client_from(app, "10.1.0.1") as c:
        grant = (await c.post("/api/v1/auth/device/init", json={"client": "mohaa"})).json()
        assert len(grant["user_code"]) == 9 and grant["user_code"][4] == "-"
        assert all(ch in ALPHABET for ch in grant["user_code"].replace("-", ""))
        assert grant["expires_in"] == 600 and grant["interval"] == 5
        assert grant["verification_uri"] == "http://test/device"

        def poll():
            return c.post("/api/v1/auth/device/poll", json={"device_code": grant["device_code"]})

        first = await poll()
        assert first.status_code == 400 and first.json()["error"] == "authorization_pending"
        fast = await poll()
        assert fast.status_code == 400 and fast.json()["error"] == "slow_down" and fast.headers["retry-after"] == "10"
        approve = await c.post("/api/v1/auth/device/approve", json={"user_code": grant["user_code"].lower()},
                               headers=auth)
        assert approve.json() == {"status": "approved", "client": "mohaa"}
        tokens = await poll()
        assert tokens.status_code == 200, tokens.text
        me = await c.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
        assert me.json()["user_id"] == user_id
        used = await poll()
        assert used.status_code == 400 and used.json()["error"] == "invalid_grant"

        denied = (await c.post("/api/v1/auth/device/init", json={})).json()
        assert (await c.post("/api/v1/auth/device/approve", json={"user_code": denied["user_code"], "approve": False},
                             headers=auth)).json()["status"] == "denied"
        answer = await c.post("/api/v1/auth/device/poll", json={"device_code": denied["device_code"]})
        assert answer.status_code == 400 and answer.json()["error"] == "access_denied"

        late = (await c.post("/api/v1/auth/device/init", json={})).json()
        await app.state.engines.pg.execute("UPDATE device_grants SET expires_at = now() - interval '1 second'"
                                           " WHERE expires_at = (SELECT max(expires_at) FROM device_grants)")
        answer = await c.post("/api/v1/auth/device/poll", json={"device_code": late["device_code"]})
        assert answer.status_code == 400 and answer.json()["error"] == "expired_token"
        gone = await c.post("/api/v1/auth/device/approve", json={"user_code": late["user_code"]}, headers=auth)
        assert gone.status_code == 400 and gone.json()["error"] == "invalid_code"
        unknown = await c.post("/api/v1/auth/device/poll", json={"device_code": "nope"})
        assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"
        assert (await c.post("/api/v1/auth/device/approve", json={"user_code": "x"})).status_code == 401


async def test_game_login_code_as_the_openmohaa_scripts_send_it(app):
    user_id, auth = await user_headers(app, "Login Lou")
    async with client_from(app, "10.1.0.2") as c:
        issued = await c.post("/api/v1/auth/login-code", headers=auth)
        assert issued.status_code == 201
        body = {"token": issued.json()["code"], "player_guid": "7f3a", "player_name": "Lou", "server_id": "3",
                "server_ip": "1.2.3.4", "server_port": 12203}
        ok = await c.post("/api/v1/auth/verify", json=body)
        assert ok.status_code == 200
        assert ok.json() == {"valid": True, "forum_user_id": user_id, "member_name": "Login Lou", "player_guid": "7f3a"}
        again = await c.post("/api/v1/auth/verify", json=body)
        assert again.status_code == 401 and again.json()["valid"] is False


def kill(match_id: str, attacker: tuple[str, str], victim: tuple[str, str], t: float, **extra) -> dict:
    return {"type": "player_kill", "match_id": match_id, "timestamp": t, "attacker_name": attacker[0],
            "attacker_guid": attacker[1], "victim_name": victim[0], "victim_guid": victim[1], "weapon": "Thompson",
            **extra}


async def test_a_claim_typed_in_game_chat_links_the_guid_and_the_player_page_sums_both_identities(app, client):
    user_id, auth = await user_headers(app, "Claire")
    _, other_auth = await user_headers(app, "Mallory")
    server_a, token_a = await new_server(client, "claims A")
    server_b, token_b = await new_server(client, "claims B")
    g1, g2, foe = f"guid-{uuid.uuid4().hex[:12]}", f"guid-{uuid.uuid4().hex[:12]}", f"guid-{uuid.uuid4().hex[:12]}"
    m1, m2 = f"claim-m1-{uuid.uuid4().hex[:8]}", f"claim-m2-{uuid.uuid4().hex[:8]}"
    code = (await client.post("/api/v1/auth/claim/init", headers=auth)).json()
    assert code["chat"] == f"!claim {code['code']}"

    events = [kill(m1, ("Clairvoyant", g1), ("Foe", foe), i) for i in range(1, 4)]
    events.append({"type": "chat", "match_id": m1, "timestamp": 5, "player_name": "Clairvoyant", "player_guid": g1,
                   "message": f"!claim {code['code']}"})
    resp = await client.post("/api/v1/ingest/events", json=events, headers={"X-Server-Token": token_a})
    assert resp.status_code == 202, resp.text
    resp = await client.post("/api/v1/ingest/events", json=[kill(m2, ("Claire B", g2), ("Foe", foe), i)
                                                             for i in range(1, 6)],
                             headers={"X-Server-Token": token_b})
    assert resp.status_code == 202
    await settle(app)

    mine = (await client.get("/api/v1/users/me/identities", headers=auth)).json()
    assert [(i["player_id"], i["method"], i["server_id"]) for i in mine["identities"]] == [(g1, "chat", server_a)]
    assert [(n["player_id"], n["player_name"]) for n in mine["names"]] == [(g1, "Clairvoyant")]
    timeline = (await client.get(f"/api/v1/stats/match/{m1}/timeline?type=chat")).json()
    assert [e["message"] for e in timeline["events"]] == ["!claim ****"]  # the code is never shown

    # The code was used up; the game server path links the second GUID with a fresh code.
    reuse = await client.post("/api/v1/auth/claim/verify", json={"code": code["code"], "player_guid": g2},
                              headers={"X-Server-Token": token_b})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_code"
    fresh = (await client.post("/api/v1/auth/claim/init", headers=auth)).json()["code"]
    linked = await client.post("/api/v1/auth/claim/verify", json={"code": fresh, "player_guid": g2,
                                                                  "player_name": "Claire B"},
                               headers={"X-Server-Token": token_b})
    assert linked.status_code == 200, linked.text
    assert linked.json() == {"linked": True, "user_id": user_id, "display_name": "Claire", "player_id": g2,
                             "created": True}
    theirs = (await client.post("/api/v1/auth/claim/init", headers=other_auth)).json()["code"]
    stolen = await client.post("/api/v1/auth/claim/verify", json={"code": theirs, "player_guid": g1},
                               headers={"X-Server-Token": token_a})
    assert stolen.status_code == 409 and stolen.json()["error"] == "already_claimed"

    profile = (await client.get(f"/api/v1/users/{user_id}/stats")).json()
    assert profile["player_ids"] == [g1, g2]
    assert profile["totals"]["kills"] == 3 + 5 and len(profile["matches"]) == 2
    page = await client.get(f"/user/{user_id}")
    assert page.status_code == 200 and "Claire" in page.text

    board = (await client.get("/api/v1/stats/leaderboard?by=user&limit=500&expand=identity")).json()
    rows = [p for p in board["players"] if p.get("user_id") == user_id]
    assert len(rows) == 1 and rows[0]["kills"] == 8 and rows[0]["player_ids"] == sorted([g1, g2])
    assert rows[0]["display_name"] == "Claire"
    plain = (await client.get(f"/api/v1/stats/leaderboard?server_id={server_a}&expand=identity")).json()
    by_id = {p["player_id"]: p for p in plain["players"]}
    assert by_id[g1]["user_id"] == user_id and by_id[g1]["display_name"] == "Claire"
    assert by_id[foe]["user_id"] is None and any(foe in w for w in plain["warnings"])
    events = (await client.get(f"/api/v1/stats/match/{m1}/timeline?type=player_kill&expand=identity")).json()
    assert {e["attacker_display_name"] for e in events["events"]} == {"Claire"}

    gone = await client.delete(f"/api/v1/users/me/identities/{g2}", headers=auth)
    assert gone.status_code == 204
    after = (await client.get(f"/api/v1/users/{user_id}/stats")).json()
    assert after["player_ids"] == [g1] and after["totals"]["kills"] == 3
    board = (await client.get("/api/v1/stats/leaderboard?by=user&limit=500")).json()
    assert [p["kills"] for p in board["players"] if p.get("user_id") == user_id] == [3]


async def test_the_resolver_route_caches_and_counts_down(app, client):
    async with client_from(app, "10.1.0.3") as c:
        first = await c.get("/api/v1/users/resolve?ids=nobody-1,nobody-2")
        assert first.status_code == 200
        assert first.json()["identities"] == {"nobody-1": None, "nobody-2": None}
        assert first.headers["cache-control"] == "public, max-age=300"
        left = int(first.headers["x-ratelimit-remaining"])
        second = await c.get("/api/v1/users/resolve?ids=nobody-1&ids=nobody-2",
                             headers={"If-None-Match": first.headers["etag"]})
        assert second.status_code == 304 and int(second.headers["x-ratelimit-remaining"]) == left - 1
        assert (await c.get("/api/v1/users/resolve")).status_code == 400
        assert (await c.get("/api/v1/users/resolve?ids=" + ",".join(f"x{i}" for i in range(201)))).status_code == 400


@pytest.mark.parametrize("kind", ["claim", "device"])
async def test_ten_thousand_wrong_codes_are_limited_and_never_succeed(app, client, kind):
    user_id, auth = await user_headers(app, f"Target {kind}")
    _, token = await new_server(client, f"guesser {kind}")
    if kind == "claim":
        real = (await client.post("/api/v1/auth/claim/init", headers=auth)).json()["code"]
        url, headers = "/api/v1/auth/claim/verify", {"X-Server-Token": token}

        def body(code):
            return {"code": code, "player_guid": "guesser-guid", "player_name": "guesser"}
    else:
        real = (await client.post("/api/v1/auth/device/init", json={})).json()["user_code"]
        url, headers = "/api/v1/auth/device/approve", auth

        def body(code):
            return {"user_code": code}
    settings = app.state.settings
    statuses: dict[int, int] = {}
    started = time.monotonic()
    async with client_from(app, f"10.2.{len(kind)}.9") as c:
        for i in range(10_000):
            guess = new_code()
            if guess == real.replace("-", ""):
                continue
            if i == 5_000:  # the right code, in the middle of the flood: not even checked
                guess = real
            resp = await c.post(url, json=body(pretty(guess)), headers=headers)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if i == 5_000:
                assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1
    elapsed = time.monotonic() - started
    assert 200 not in statuses
    checked = statuses.get(400, 0)
    assert settings.code_failure_burst <= checked <= settings.code_failure_burst + settings.code_failure_refill_per_s * elapsed + 1
    assert statuses[429] == sum(statuses.values()) - checked
    failures = app.state.metrics.registry.get_sample_value("fragstats_code_failures_total",
                                                           {"kind": "claim_code" if kind == "claim" else "user_code"})
    assert failures >= checked
    if kind == "claim":
        links = await app.state.engines.pg.fetchval("SELECT count(*) FROM player_links WHERE player_id = 'guesser-guid'")
        assert links == 0
    else:
        state = await app.state.engines.pg.fetchval(
            "SELECT count(*) FROM device_grants WHERE status != 'pending' AND user_id = $1", user_id)
        assert state == 0
