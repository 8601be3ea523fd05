"""Match tokens stay secret (issue 10, point 7): sealed at the door on every body type, never in a
public response (timeline JSON, match page, raw_events itself), old rows holding a clear token
hidden on read, and a token bound to one game server (named at issue, else the first that uses it)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest
from conftest import ADMIN, new_server, settle
from helpers import ok
from test_tournaments_ii_event import envelope
from test_tournaments_ii_results import first_match, two_player_event

from fragstats.secrets import MATCH_TOKEN_KEY, seal, sealed_digest, without_secrets
from ingest.decode import decode_events, decode_fast
from ingest.secrets import seal_extra

API = "/api/v1/tournaments"


@pytest.fixture(scope="module")
async def org(client) -> dict:
    body = await ok(await client.post("/api/v1/keys", json={"name": "secrets org", "scopes": ["tournaments"]},
                                      headers=ADMIN), 201)
    return {"Authorization": f"Bearer {body['key']}"}


async def match_token(client, org, body: dict | None = None) -> tuple[int, dict, str]:
    tid, _, _ = await two_player_event(client, org)
    m = await first_match(client, tid)
    tok = (await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/token", json=body or {}, headers=org),
                    201))["token"]
    return tid, m, tok


def test_seal_is_sha256_and_a_sealed_value_is_sealed_again():
    tok = "fst_" + "x" * 43
    assert seal(tok) == "sha256:" + hashlib.sha256(tok.encode()).hexdigest()
    assert sealed_digest(seal(tok)) == hashlib.sha256(tok.encode()).digest()
    assert sealed_digest(tok) == hashlib.sha256(tok.encode()).digest()  # a clear value from before sealing
    # a client sending somebody's stored digest does not get that digest looked up
    assert seal_extra({MATCH_TOKEN_KEY: seal(tok)})[MATCH_TOKEN_KEY] != seal(tok)
    assert seal_extra({"other": "kept"}) == {"other": "kept"}
    assert without_secrets({MATCH_TOKEN_KEY: "x", "other": "y"}) == {"other": "y"}


def test_the_fast_path_never_carries_a_token():
    tok = "fst_fastpath_secret"
    plain = b'[{"type":"match_start","match_id":"m1","map_name":"dm1"}]'
    assert decode_fast(plain, "application/json") is not None  # the fast path exists for plain bodies
    body = b'[{"type":"match_start","match_id":"m1","map_name":"dm1","tournament_match_token":"%s"}]' % tok.encode()
    assert decode_fast(body, "application/json") is None  # an unknown key sends it to the per-event path
    nested = b'[{"type":"match_start","match_id":"m1","extra":{"tournament_match_token":"%s"}}]' % tok.encode()
    for raw, mtype in ((body, "application/json"), (body.strip(b"[]"), "application/x-ndjson"),
                       (f"type=match_start&match_id=m1&tournament_match_token={tok}".encode(),
                        "application/x-www-form-urlencoded")):
        _, verdicts = decode_events(raw, mtype, server_id=1)
        (event,) = verdicts.accepted
        assert event.extra[MATCH_TOKEN_KEY] == seal(tok), mtype
    _, verdicts = decode_events(nested, "application/json", server_id=1)
    assert verdicts.accepted[0].extra == {"extra": '{"tournament_match_token":"%s"}' % tok}  # kept, not applied


async def test_timeline_shows_no_match_token(client, app, org):
    tid, m, tok = await match_token(client, org)
    server_id, stoken = await new_server(client, "sealing server")
    tm = "match_secret_" + uuid.uuid4().hex[:10]
    r = await client.post("/api/v1/ingest/events", headers={"X-Server-Token": stoken},
                          json=[envelope("match_start", tm, tournament_match_token=tok)])
    assert r.status_code == 202, r.text
    await settle(app)
    # the sealed token still does its job: the bracket match is running, linked to the telemetry match
    out = await ok(await client.get(f"{API}/{tid}/matches/{m['id']}/outcome"))
    assert out["status"] == "running" and out["evidence"][0]["telemetry_match_id"] == tm
    timeline = await client.get(f"/api/v1/stats/match/{tm}/timeline")
    assert timeline.status_code == 200 and [e["type"] for e in timeline.json()["events"]] == ["match_start"]
    page = await client.get(f"/match/{tm}")
    digest_hex = hashlib.sha256(tok.encode()).hexdigest()
    for text in (timeline.text, page.text, (await client.get(f"/api/v1/stats/match/{tm}")).text,
                 (await client.get(f"{API}/{tid}/audit")).text, (await client.get(f"{API}/{tid}/export")).text):
        assert tok not in text and digest_hex not in text and MATCH_TOKEN_KEY not in text
    # nothing secret was stored: raw_events holds the seal only
    rows = await app.state.engines.query("SELECT extra FROM raw_events WHERE match_id = {m:String}", {"m": tm})
    assert rows == [({MATCH_TOKEN_KEY: seal(tok)},)]
    leaked = await app.state.engines.query("SELECT count() FROM raw_events WHERE position(toString(extra), {t:String}) > 0",
                                           {"t": tok})
    assert leaked == [(0,)]


async def test_rows_stored_before_sealing_are_hidden_on_read(client, app):
    tm = "match_old_" + uuid.uuid4().hex[:10]
    clear = "fst_an_old_clear_token_" + uuid.uuid4().hex
    await asyncio.to_thread(
        app.state.engines.ch_writer.command,
        "INSERT INTO raw_events (type, match_id, server_id, received_at, extra) VALUES"
        " ('match_start', {m:String}, 1, now(), map({k:String}, {v:String}, 'note', 'kept'))",
        parameters={"m": tm, "k": MATCH_TOKEN_KEY, "v": clear})
    body = await ok(await client.get(f"/api/v1/stats/match/{tm}/timeline"))
    assert body["events"][0]["extra"] == {"note": "kept"}
    assert clear not in (await client.get(f"/match/{tm}")).text


async def test_token_without_server_is_bound_to_the_first_server(client, app, org):
    tid, m, tok = await match_token(client, org)
    a_id, a_token = await new_server(client, "first server")
    b_id, b_token = await new_server(client, "second server")
    post = lambda token, match: client.post(  # noqa: E731
        "/api/v1/ingest/match-result", headers={"X-Server-Token": token},
        json={"token": tok, "match_id": match, "event": "match_start"})
    await ok(await post(a_token, "match_bind_a"))
    bound = await app.state.engines.pg.fetchval("SELECT server_id FROM tournament_match_tokens WHERE token_hash = $1",
                                                hashlib.sha256(tok.encode()).digest())
    assert bound == a_id
    r = await post(b_token, "match_bind_b")
    assert r.status_code == 403 and r.json()["error"] == "wrong_server", r.text
    # through telemetry the other server is ignored too: its match_end decides nothing
    tm = "match_bind_tel_" + uuid.uuid4().hex[:8]
    r = await client.post("/api/v1/ingest/events", headers={"X-Server-Token": b_token},
                          json=[envelope("match_end", tm, allies_score="9", axis_score="0", tournament_match_token=tok)])
    assert r.status_code == 202
    await settle(app)
    out = await ok(await client.get(f"{API}/{tid}/matches/{m['id']}/outcome"))
    assert [e["server_id"] for e in out["evidence"]] == [a_id] and out["status"] == "running"
    assert out["provenance"] is None
    # the bound server still decides
    body = await ok(await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": a_token},
                                      json={"token": tok, "match_id": "match_bind_a", "allies_score": 3,
                                            "axis_score": 1}))
    assert body["outcome"]["status"] == "completed" and body["outcome"]["provenance"] == "telemetry"


async def test_two_servers_racing_for_an_unbound_token(client, app, org):
    _, _, tok = await match_token(client, org)
    servers = [await new_server(client, f"racer {i}") for i in range(4)]
    answers = await asyncio.gather(*[
        client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": token},
                    json={"token": tok, "match_id": f"match_race_{sid}", "event": "match_start"})
        for sid, token in servers])
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 403, 403, 403], [r.text for r in answers]
    winner = next(sid for (sid, _), r in zip(servers, answers) if r.status_code == 200)
    bound = await app.state.engines.pg.fetchval("SELECT server_id FROM tournament_match_tokens WHERE token_hash = $1",
                                                hashlib.sha256(tok.encode()).digest())
    assert bound == winner


async def test_token_issued_for_a_server_refuses_others(client, app, org):
    a_id, a_token = await new_server(client, "named server")
    _, b_token = await new_server(client, "other server")
    _, _, tok = await match_token(client, org, {"server_id": a_id})
    r = await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": b_token},
                          json={"token": tok, "match_id": "match_named_b", "event": "match_start"})
    assert r.status_code == 403
    await ok(await client.post("/api/v1/ingest/match-result", headers={"X-Server-Token": a_token},
                               json={"token": tok, "match_id": "match_named_a", "event": "match_start"}))
