"""Ingest through the real app and real ClickHouse (chDB): every wire format, every bad input."""

from __future__ import annotations

import gzip
import json
import uuid
from urllib.parse import urlencode

import pytest
from conftest import MOHAA_KILL, new_server, settle

pytestmark = pytest.mark.asyncio(loop_scope="session")

JSON = {"Content-Type": "application/json"}


def kill(match_id: str, attacker: str, victim: str, **extra) -> dict:
    """A tracker-style kill with numbers as strings, as the OpenMOHAA scripts send them."""
    return {"type": "player_kill", "match_id": match_id, "session_id": "sess_" + match_id[-16:],
            "timestamp": "12.5", "attacker_name": attacker, "attacker_guid": f"g_{attacker}",
            "attacker_team": "allies", "attacker_x": "100.5", "attacker_y": "-20", "attacker_z": "8",
            "victim_name": victim, "victim_guid": f"g_{victim}", "victim_team": "axis",
            "victim_x": "300", "victim_y": "40", "victim_z": "8",
            "weapon": "Thompson", "damage": "45", "hitloc": "torso_upper", "mod": "bullet", **extra}


async def stored(app, match_id: str, columns: str = "type") -> list[tuple]:
    await settle(app)
    return await app.state.engines.query(
        f"SELECT {columns} FROM raw_events WHERE match_id = {{m:String}} ORDER BY timestamp, type", {"m": match_id})


def new_match() -> str:
    return "match_" + uuid.uuid4().hex[:16]


@pytest.fixture(scope="module")
async def token(client):
    _, tok = await new_server(client, "ingest tests")
    return tok


async def post(client, token, content: bytes, content_type="application/json", **headers):
    return await client.post("/api/v1/ingest/events", content=content,
                             headers={"X-Server-Token": token, "Content-Type": content_type, **headers})


async def test_json_array_numbers_as_strings_coerced(client, app, token):
    m = new_match()
    resp = await post(client, token, json.dumps([kill(m, "A", "B"), kill(m, "B", "A", timestamp="13")]).encode())
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 2, "rejected": 0, "errors": []}
    rows = await stored(app, m, "actor_name, damage, actor_x, timestamp, kill_kind")  # the attacker is the actor
    assert rows == [("A", 45.0, 100.5, 12.5, "kill"), ("B", 45.0, 100.5, 13.0, "kill")]


async def test_single_object(client, app, token):
    m = new_match()
    resp = await post(client, token, json.dumps(kill(m, "A", "B")).encode())
    assert resp.status_code == 202 and resp.json()["accepted"] == 1
    assert await stored(app, m) == [("player_kill",)]


async def test_ndjson_with_a_broken_line_keeps_the_others(client, app, token):
    m = new_match()
    body = "\n".join([json.dumps(kill(m, "A", "B")), "{not json", json.dumps(kill(m, "C", "D", timestamp="20"))])
    resp = await post(client, token, body.encode(), "application/x-ndjson")
    assert resp.status_code == 202
    out = resp.json()
    assert out["accepted"] == 2 and out["rejected"] == 1
    assert out["errors"][0]["index"] == 1 and "not valid JSON" in out["errors"][0]["reason"]
    assert len(await stored(app, m)) == 2


async def test_form_one_event_per_line(client, app, token):
    m = new_match()
    lines = [urlencode(kill(m, "A", "B")), urlencode({"type": "weapon_fire", "match_id": m, "timestamp": "14",
                                                      "player_name": "A", "weapon": "Thompson", "ammo_remaining": "29"})]
    resp = await post(client, token, "\n".join(lines).encode(), "application/x-www-form-urlencoded")
    assert resp.status_code == 202 and resp.json()["accepted"] == 2
    assert await stored(app, m, "type, ammo_remaining") == [("player_kill", 0), ("weapon_fire", 29)]


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
async def test_gzip(client, app, token, content_type):
    m = new_match()
    events = [kill(m, "A", "B"), kill(m, "B", "A", timestamp="30")]
    raw = json.dumps(events) if content_type == "application/json" else "\n".join(json.dumps(e) for e in events)
    resp = await post(client, token, gzip.compress(raw.encode()), content_type, **{"Content-Encoding": "gzip"})
    assert resp.status_code == 202 and resp.json()["accepted"] == 2
    assert len(await stored(app, m)) == 2


async def test_wrong_type_rejected_with_index_and_field_neighbours_stored(client, app, token):
    m = new_match()
    bad = kill(m, "X", "Y", damage="lots")
    resp = await post(client, token, json.dumps([kill(m, "A", "B"), bad, {"match_id": m, "timestamp": 1},
                                                 "just a string", kill(m, "C", "D", timestamp="40")]).encode())
    assert resp.status_code == 202
    out = resp.json()
    assert out["accepted"] == 2 and out["rejected"] == 3
    assert out["errors"][0] == {"index": 1, "field": "damage", "reason": "Expected `float | null`, got `str` (column type Float32)"}
    assert out["errors"][1] == {"index": 2, "field": "type", "reason": "missing"}
    assert out["errors"][2]["index"] == 3 and out["errors"][2]["field"] is None
    assert [r[0] for r in await stored(app, m, "actor_name")] == ["A", "C"]


async def test_no_valid_event_is_400(client, token):
    resp = await post(client, token, json.dumps([{"type": "player_kill", "damage": "x"}]).encode())
    assert resp.status_code == 400
    assert resp.json()["error"] == "no_valid_events"
    assert resp.json()["events"][0]["field"] == "damage"
    resp = await post(client, token, b"[]")
    assert resp.status_code == 400


async def test_malformed_json_is_400(client, token):
    resp = await post(client, token, b'[{"type": "player_kill",')
    assert resp.status_code == 400 and resp.json()["error"] == "malformed_json"


async def test_broken_gzip_is_400(client, token):
    resp = await post(client, token, b"\x1f\x8b\x08\x00garbage", **{"Content-Encoding": "gzip"})
    assert resp.status_code == 400 and resp.json()["error"] == "malformed_gzip"
    truncated = gzip.compress(json.dumps([kill(new_match(), "A", "B")]).encode())[:-10]
    resp = await post(client, token, truncated, **{"Content-Encoding": "gzip"})
    assert resp.status_code == 400


async def test_oversized_body_is_413(client, app, token):
    limit = app.state.settings.max_body_bytes
    resp = await post(client, token, b"[" + b" " * (limit + 10) + b"]")
    assert resp.status_code == 413 and resp.json()["error"] == "body_too_large"
    # A small gzip that expands past the limit (a "zip bomb") is refused the same way.
    bomb = gzip.compress(b"[" + b" " * (limit + 10) + b"]")
    assert len(bomb) < limit
    resp = await post(client, token, bomb, **{"Content-Encoding": "gzip"})
    assert resp.status_code == 413


async def test_unsupported_media_type_and_encoding_415(client, token):
    assert (await post(client, token, b"<xml/>", "application/xml")).status_code == 415
    assert (await post(client, token, b"[]", **{"Content-Encoding": "br"})).status_code == 415


async def test_bad_or_missing_token_401(client):
    body = json.dumps([kill(new_match(), "A", "B")]).encode()
    resp = await client.post("/api/v1/ingest/events", content=body, headers=JSON)
    assert resp.status_code == 401
    resp = await client.post("/api/v1/ingest/events", content=body, headers={**JSON, "X-Server-Token": "fss_nope"})
    assert resp.status_code == 401 and resp.json()["error"] == "unauthorized"


async def test_bearer_token_and_server_from_token_not_body(client, app):
    server_id, tok = await new_server(client, "bearer")
    m = new_match()
    resp = await client.post("/api/v1/ingest/events", content=json.dumps([kill(m, "A", "B", server_id=999)]),
                             headers={**JSON, "Authorization": f"Bearer {tok}"})
    assert resp.status_code == 202
    assert await stored(app, m, "server_id, extra['server_id']") == [(server_id, "999")]


async def test_revoked_token_401(client):
    server_id, tok = await new_server(client, "revoked")
    from conftest import ADMIN

    assert (await client.delete(f"/api/v1/servers/{server_id}", headers=ADMIN)).status_code == 204
    resp = await post(client, tok, json.dumps([kill(new_match(), "A", "B")]).encode())
    assert resp.status_code == 401


async def test_unknown_type_stored_with_all_keys_feeds_no_aggregate(client, app, token):
    m = new_match()
    event = {"type": "bomb_planted", "match_id": m, "timestamp": "3", "player_name": "Z", "site": "A", "points": 5}
    resp = await post(client, token, json.dumps([event]).encode())
    assert resp.status_code == 202 and resp.json()["accepted"] == 1
    rows = await stored(app, m, "type, extra")
    assert rows == [("bomb_planted", {"player_name": "Z", "site": "A", "points": "5"})]
    in_aggregates = await app.state.engines.query(
        "SELECT count() FROM player_match WHERE match_id = {m:String}", {"m": m})
    assert in_aggregates == [(0,)]


async def test_unknown_keys_of_known_type_kept_in_extra(client, app, token):
    m = new_match()
    resp = await post(client, token, json.dumps([kill(m, "A", "B", killstreak="3", vehicle="tank")]).encode())
    assert resp.status_code == 202
    assert await stored(app, m, "extra") == [({"killstreak": "3", "vehicle": "tank"},)]


async def test_colour_codes_kept_raw_stripped_for_display(client, app, token):
    m = new_match()
    await post(client, token, json.dumps([kill(m, "^1Red^7Baron", "^2Gr^3een",
                                               attacker_guid="unauth_3", victim_guid="")]).encode())
    rows = await stored(app, m, "actor_name, actor_id, target_id")
    assert rows[0][0] == "^1Red^7Baron"
    assert rows[0][1].startswith("RedBaron@") and rows[0][2].startswith("Green@")


async def test_every_mohaa_event_type_is_accepted_and_stored(client, app, token):
    """Each type of the tracker's README with its extra keys, numbers as strings."""
    from ingest.events import EVENT_TYPES, PLAYER_BLOCK, STORAGE

    m = new_match()
    events = []
    for i, (etype, (blocks, extra)) in enumerate(EVENT_TYPES.items()):
        ev = {"type": etype, "match_id": m, "session_id": "sess_x", "timestamp": str(i)}
        for prefix in blocks:
            ev.update({f"{prefix}_name": f"P{prefix}", f"{prefix}_team": "axis", f"{prefix}_x": "1.5",
                       f"{prefix}_y": "2", f"{prefix}_z": "3", f"{prefix}_pitch": "4", f"{prefix}_yaw": "5",
                       f"{prefix}_stance": "crouch", f"{prefix}_guid": "42", f"{prefix}_smf_id": "42"})
        for key, typ in extra.items():
            ev[key] = {"Float32": "1.25", "Int32": "7", "UInt64": "7", "Bool": "1"}.get(typ, "x")
        events.append(ev)
    assert set(PLAYER_BLOCK) == {"name", "guid", "smf_id", "team", "x", "y", "z", "pitch", "yaw", "stance"}
    resp = await post(client, token, json.dumps(events).encode())
    assert resp.status_code == 202, resp.text
    assert resp.json()["accepted"] == len(EVENT_TYPES)
    rows = await stored(app, m, "type, actor_x, actor_yaw, extra")
    assert sorted(r[0] for r in rows) == sorted(EVENT_TYPES)
    for etype, _, _, extra in rows:  # only what the declaration keeps there (a kill's killer block)
        assert set(extra) == set(STORAGE[etype][1]), f"{etype}: a declared key landed in extra"
    spawn = [r for r in rows if r[0] == "player_spawn"][0]
    assert spawn[1] == 1.5 and spawn[2] == 5.0  # positions and angles kept beyond kills


async def test_draining_answers_503_with_retry_after(client, app, token):
    app.state.draining = True
    try:
        resp = await post(client, token, json.dumps([kill(new_match(), "A", "B")]).encode())
    finally:
        app.state.draining = False
    assert resp.status_code == 503 and resp.headers["Retry-After"] == str(app.state.settings.retry_after_s)


async def test_real_mohaa_batch_is_a_suicide_not_a_kill(client, app):
    """examples/mohaa/real-player-kill.json: a real tracker batch (grenade suicide)."""
    server_id, tok = await new_server(client, "real mohaa")
    resp = await post(client, tok, MOHAA_KILL.read_bytes())
    assert resp.status_code == 202 and resp.json() == {"accepted": 1, "rejected": 0, "errors": []}
    await settle(app)
    board = (await client.get(f"/api/v1/stats/leaderboard?server_id={server_id}&stat=suicides")).json()
    assert board["total"] == 1
    daichi = board["players"][0]
    assert daichi["player_id"] == f"Daichi@{server_id}"  # unauth_39 is not a persistent identity
    assert (daichi["kills"], daichi["deaths"], daichi["suicides"]) == (0, 1, 1)
    rows = await app.state.engines.query(
        "SELECT kill_kind, mod, timestamp, session_id, match_id FROM raw_events WHERE server_id = {s:UInt32}",
        {"s": server_id})
    # "no_match" becomes the session id so the event still belongs to a match
    assert rows == [("suicide", "grenade", 9.8, "sess_f88106789e6e168b", "sess_f88106789e6e168b")]


async def test_idempotency_key_stores_a_retried_request_once(client, app, token):
    m = new_match()
    body = json.dumps([kill(m, "A", "B"), kill(m, "C", "D", timestamp="20")]).encode()
    first = await post(client, token, body, **{"Idempotency-Key": "batch-1"})
    again = await post(client, token, body, **{"Idempotency-Key": "batch-1"})  # e.g. the answer was lost
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() == {"accepted": 2, "rejected": 0, "errors": []}
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(await stored(app, m)) == 2
    # A request that was not stored (400) does not burn its key.
    bad = await post(client, token, b"[{\"type\": 1}]", **{"Idempotency-Key": "batch-2"})
    assert bad.status_code == 400
    good = await post(client, token, json.dumps([kill(m, "E", "F", timestamp="30")]).encode(),
                      **{"Idempotency-Key": "batch-2"})
    assert good.status_code == 202 and "Idempotent-Replayed" not in good.headers
    assert len(await stored(app, m)) == 3
    assert (await post(client, token, body, **{"Idempotency-Key": "k" * 201})).status_code == 400


async def test_iso_8601_wall_clock_times_are_accepted_wherever_a_wall_clock_is(client, app, token):
    """`timestamp` as an ISO-8601 string (as some senders' request collections send it) is the wall
    clock, not the game clock: it becomes occurred_at. `occurred_at` takes ISO-8601 too, with `Z`
    or an offset; a string that is neither a number nor ISO-8601 is refused naming the field."""
    m = new_match()
    events = [
        {"type": "jump", "match_id": m, "player_name": "Z", "timestamp": "2026-02-02T10:00:00Z"},
        {"type": "jump", "match_id": m, "player_name": "O", "timestamp": "2026-02-02T12:00:00+02:00"},
        {"type": "jump", "match_id": m, "player_name": "A", "timestamp": "31.5", "occurred_at": "2026-02-02T10:00:01.250Z"},
        {"type": "jump", "match_id": m, "player_name": "B", "timestamp": "yesterday at noon"},
    ]
    resp = await post(client, token, json.dumps(events).encode())
    assert resp.status_code == 202, resp.text
    out = resp.json()
    assert out["accepted"] == 3
    assert out["errors"] == [{"index": 3, "field": "timestamp",
                              "reason": "expected an ISO-8601 time such as 2026-02-02T10:00:00Z (or seconds since the map loaded)"}]
    rows = await stored(app, m, "actor_name, timestamp, toUnixTimestamp64Milli(occurred_at)")  # the player is the actor
    by_name = {r[0]: (r[1], r[2]) for r in rows}
    ten = 1770026400000  # 2026-02-02T10:00:00Z in epoch ms
    assert by_name["Z"] == (0.0, ten) and by_name["O"] == (0.0, ten)  # no game clock was sent
    assert by_name["A"] == (31.5, ten + 1250)
