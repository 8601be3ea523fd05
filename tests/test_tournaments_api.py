"""The tournaments API through the real app and Postgres: every format played to the end, Swiss
rounds, corrections, forfeits, disqualification, ownership, errors, audit log, concurrent writers."""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest
from conftest import ADMIN
from helpers import ok

pytestmark = pytest.mark.asyncio(loop_scope="session")

API = "/api/v1/tournaments"


@pytest.fixture(scope="module")
async def orgs(client) -> tuple[dict, dict, int]:
    """Two organiser keys (headers A, headers B) and A's key id, created by the admin."""
    out = []
    for name in ("organiser A", "organiser B"):
        resp = await client.post("/api/v1/keys", json={"name": name, "scopes": ["tournaments"]}, headers=ADMIN)
        assert resp.status_code == 201, resp.text
        out.append(resp.json())
    a, b = out
    return {"Authorization": f"Bearer {a['key']}"}, {"Authorization": f"Bearer {b['key']}"}, a["key_id"]


async def create(client, headers, fmt: str, n: int, settings: dict | None = None, *, start: bool = True) -> int:
    body = await ok(await client.post(API, json={"name": f"{fmt} cup", "format": fmt, "settings": settings or {}},
                                      headers=headers), 201)
    tid = body["id"]
    for i in range(1, n + 1):
        p = await ok(await client.post(f"{API}/{tid}/participants", json={"name": f"p{i}", "seed": i},
                                       headers=headers), 201)
        assert p == {"id": p["id"], "name": f"p{i}", "seed": i, "disqualified": False}
    if start:
        await ok(await client.post(f"{API}/{tid}/start", headers=headers))
    return tid


async def matches(client, tid: int, **params) -> list[dict]:
    return (await ok(await client.get(f"{API}/{tid}/matches", params=params)))["matches"]


async def standings(client, tid: int) -> list[dict]:
    return (await ok(await client.get(f"{API}/{tid}/standings")))["standings"]


def playable(ms: list[dict]) -> list[dict]:
    return [m for m in ms if m["status"] in ("ready", "running") and m["opponent1"] and m["opponent2"]]


def better_wins(m: dict) -> dict:
    """A result where the better seed (lower number) wins, as scores of the match's best-of."""
    o1, o2 = m["opponent1"], m["opponent2"]
    first = o1["seed"] < o2["seed"]
    need = m["best_of"] // 2 + 1
    if m["best_of"] == 1:
        return {"scores": [16, 9] if first else [9, 16]}
    return {"scores": [need, 0] if first else [0, need]}


async def play_out(client, tid: int, headers, result=better_wins) -> None:
    """Report every playable match (pairing Swiss rounds) until the tournament is completed."""
    for _ in range(200):
        t = await ok(await client.get(f"{API}/{tid}"))
        if t["status"] == "completed":
            return
        ready = playable(await matches(client, tid))
        if ready:
            for m in ready:
                await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/result", json=result(m), headers=headers))
        else:
            body = await ok(await client.post(f"{API}/{tid}/rounds", json={}, headers=headers), 201)
            assert body["created"] and body["matches"]
    raise AssertionError("tournament did not finish")


def places(rows: list[dict]) -> list[tuple[str, str]]:
    return [(r["name"], r["place"]) for r in rows]


# --- every format, end to end -------------------------------------------------------------------

async def test_single_elimination_with_byes_and_third_place(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "single_elimination", 6, {"third_place": True, "best_of": 3})
    ms = await matches(client, tid)
    byes = [m for m in ms if m["round"] == 1 and (m["opponent1"] is None or m["opponent2"] is None)]
    assert len(byes) == 2  # seeds 1 and 2 get the byes and are already through
    assert all(m["best_of"] == 3 for m in ms)
    await play_out(client, tid, a)
    rows = await standings(client, tid)
    assert places(rows) == [("p1", "1"), ("p2", "2"), ("p3", "3"), ("p4", "4"), ("p5", "5-6"), ("p6", "5-6")]
    real = [m for m in await matches(client, tid) if m["opponent1"] and m["opponent2"]
            and m["status"] == "completed"]
    assert len(real) == 6  # n - 1 = 5 plus the third-place match


async def test_double_elimination_with_grand_final_reset(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "double_elimination", 8, {"grand_final": "double"})
    await play_out(client, tid, a)
    ms = await matches(client, tid)
    finals = sorted((m for m in ms if m["bracket"] == "grand_final"), key=lambda m: m["round"])
    assert [m["status"] for m in finals] == ["completed", "not_needed"]  # winners' champion won the first final
    played = [m for m in ms if m["status"] == "completed" and m["opponent1"] and m["opponent2"]]
    assert len(played) == 2 * 8 - 2
    rows = await standings(client, tid)
    assert [r["name"] for r in rows[:3]] == ["p1", "p2", "p3"]
    assert [r["place"] for r in rows[:3]] == ["1", "2", "3"]
    t = await ok(await client.get(f"{API}/{tid}"))
    assert t["status"] == "completed" and t["settings"]["grand_final"] == "double"


async def test_double_elimination_reset_is_played_when_the_losers_champion_wins(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "double_elimination", 4, {"grand_final": "double"})

    def upset_first_final(m: dict) -> dict:
        body = better_wins(m)
        if m["bracket"] == "grand_final" and m["round"] == 1:
            body["scores"].reverse()
        return body

    await play_out(client, tid, a, upset_first_final)
    finals = sorted((m for m in await matches(client, tid) if m["bracket"] == "grand_final"), key=lambda m: m["round"])
    assert [m["status"] for m in finals] == ["completed", "completed"]
    assert finals[0]["opponent2"]["result"] == "win" and finals[1]["opponent1"]["result"] == "win"
    assert places(await standings(client, tid))[:2] == [("p1", "1"), ("p2", "2")]


async def test_round_robin_double_cycle(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "round_robin", 5, {"cycles": 2})
    ms = await matches(client, tid)
    assert len([m for m in ms if m["opponent1"] and m["opponent2"]]) == 2 * 5 * 4 // 2
    await play_out(client, tid, a)
    rows = await standings(client, tid)
    assert places(rows) == [(f"p{i}", str(i)) for i in range(1, 6)]
    assert [(r["wins"], r["losses"], r["points"]) for r in rows] == [(8, 0, 24), (6, 2, 18), (4, 4, 12),
                                                                    (2, 6, 6), (0, 8, 0)]
    assert set(rows[0]["tiebreaks"]) == {"head_to_head", "game_difference", "sonneborn_berger"}


async def test_groups_feed_a_playoff(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "round_robin", 8, {"groups": 2, "advance_per_group": 2})
    assert {m["bracket"] for m in await matches(client, tid)} == {"group"}
    await play_out(client, tid, a)
    ms = await matches(client, tid)
    assert {m["bracket"] for m in ms} == {"group", "winners"}
    rows = await standings(client, tid)
    assert rows[0]["name"] == "p1" and rows[0]["place"] == "1"
    assert rows[1]["name"] == "p2" and rows[1]["place"] == "2"


async def test_swiss_played_to_the_end(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "swiss", 8, {"rounds": 3})
    assert (await ok(await client.get(f"{API}/{tid}")))["round"] == 1
    await play_out(client, tid, a)
    ms = await matches(client, tid)
    assert max(m["round"] for m in ms) == 3
    pairs = [frozenset((m["opponent1"]["participant_id"], m["opponent2"]["participant_id"])) for m in ms]
    assert len(pairs) == len(set(pairs)) == 12  # no rematch
    rows = await standings(client, tid)
    assert rows[0]["name"] == "p1" and (rows[0]["wins"], rows[0]["losses"], rows[0]["points"]) == (3, 0, 9)
    assert "buchholz_cut1" in rows[0]["tiebreaks"]
    resp = await client.post(f"{API}/{tid}/rounds", json={}, headers=a)
    assert resp.status_code == 409 and resp.json()["error"] == "stage_error"


async def test_valve_swiss_played_to_the_end(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "valve_swiss", 16)
    await play_out(client, tid, a)
    rows = await standings(client, tid)
    records = [(r["wins"], r["losses"]) for r in rows]
    assert records.count((3, 0)) == 2 and records.count((0, 3)) == 2
    assert sum(1 for w, _ in records if w == 3) == 8
    assert rows[0]["place"] == "1-2" and {r["name"] for r in rows[:2]} == {"p1", "p2"}
    ms = await matches(client, tid)
    assert {m["best_of"] for m in ms if m["round"] >= 3} == {1, 3}  # deciders are best of 3


async def test_swiss_round_requested_twice_creates_nothing_new(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "swiss", 6, {"rounds": 3})
    again = await ok(await client.post(f"{API}/{tid}/rounds", json={"round": 1}, headers=a))
    assert again["created"] is False and len(again["matches"]) == 3
    early = await client.post(f"{API}/{tid}/rounds", json={}, headers=a)
    assert early.status_code == 409 and early.json()["error"] == "round_not_complete"
    for m in playable(await matches(client, tid)):
        await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/result", json=better_wins(m), headers=a))
    first = await ok(await client.post(f"{API}/{tid}/rounds", json={"round": 2}, headers=a), 201)
    second = await ok(await client.post(f"{API}/{tid}/rounds", json={"round": 2}, headers=a))
    assert first["created"] is True and second["created"] is False
    assert first["matches"] == second["matches"]
    third = await client.post(f"{API}/{tid}/rounds", json={}, headers=a)
    assert third.status_code == 409
    assert len(await matches(client, tid)) == 6
    assert (await client.post(f"{API}/{tid}/rounds", json={"round": 0}, headers=a)).status_code == 422
    skip = await client.post(f"{API}/{tid}/rounds", json={"round": 5}, headers=a)
    assert skip.status_code == 409 and skip.json()["error"] == "stage_error"
    audit = (await ok(await client.get(f"{API}/{tid}/audit")))["entries"]
    assert sum(1 for e in audit if e["action"] == "pair_round") == 3


# --- results, corrections, forfeits, disqualification -------------------------------------------

async def four_player_final(client, headers) -> tuple[int, dict, dict, dict]:
    tid = await create(client, headers, "single_elimination", 4)
    semi1, semi2, final = sorted(await matches(client, tid), key=lambda m: (m["round"], m["number"]))
    return tid, semi1, semi2, final


async def test_result_on_a_match_not_ready_is_409_and_impossible_score_422(client, orgs) -> None:
    a, _, _ = orgs
    tid, semi1, _, final = await four_player_final(client, a)
    resp = await client.post(f"{API}/{tid}/matches/{final['id']}/result", json={"scores": [1, 0]}, headers=a)
    assert resp.status_code == 409 and resp.json()["error"] == "match_not_ready"
    for body in ({"scores": [5, 5]}, {"scores": [16, 9], "winner": 2}, {"scores": [1, -1]}, {"scores": [1, 2, 3]},
                 {"games": [[1, 0], [1, 0]]}, {"scores": [1, 0], "forfeit": 1}, {}, {"forfeit": 3}):
        resp = await client.post(f"{API}/{tid}/matches/{semi1['id']}/result", json=body, headers=a)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"] in ("invalid_result", "invalid_body")
    resp = await client.post(f"{API}/{tid}/matches/{semi1['id']}/result", json={"scores": "16-9"}, headers=a)
    assert resp.status_code == 422 and resp.json()["error"] == "invalid_body"
    resp = await client.post(f"{API}/{tid}/matches/{semi1['id']}/result", content=b"{nope", headers=a)
    assert resp.status_code == 400 and resp.json()["error"] == "malformed_json"
    assert (await ok(await client.get(f"{API}/{tid}/matches/{semi1['id']}")))["status"] == "ready"


async def test_best_of_three_series_and_games(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "single_elimination", 2, {"best_of": 3})
    (m,) = await matches(client, tid)
    partial = await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/result", json={"scores": [1, 0]}, headers=a))
    assert partial["match"]["status"] == "running"
    done = await ok(await client.post(f"{API}/{tid}/matches/{m['id']}/result",
                                      json={"games": [[16, 10], [8, 16], [16, 14]]}, headers=a))
    match = done["match"]
    assert match["status"] == "completed"
    assert (match["opponent1"]["score"], match["opponent1"]["result"]) == (2, "win")
    assert [g["scores"] for g in match["games"]] == [[16, 10], [8, 16], [16, 14]]
    resp = await client.post(f"{API}/{tid}/matches/{m['id']}/result", json={"scores": [3, 0]}, headers=a)
    assert resp.status_code == 422


async def test_correction_needs_force_once_downstream_started(client, orgs, app) -> None:
    a, _, _ = orgs
    tid, semi1, semi2, final = await four_player_final(client, a)
    url = f"{API}/{tid}/matches"
    r1 = await ok(await client.post(f"{url}/{semi1['id']}/result", json={"scores": [16, 3]}, headers=a))
    assert final["id"] in r1["changed"]
    await ok(await client.post(f"{url}/{semi2['id']}/result", json={"scores": [16, 3]}, headers=a))
    winner1 = semi1["opponent1"]["participant_id"]
    loser1 = semi1["opponent2"]["participant_id"]
    # Same winner, new score: no downstream change needed, allowed even once the final has started.
    await ok(await client.post(f"{url}/{final['id']}/start", headers=a))
    await ok(await client.post(f"{url}/{semi1['id']}/result", json={"scores": [16, 10]}, headers=a))
    # A new winner would change the running final: refused without force.
    resp = await client.post(f"{url}/{semi1['id']}/result", json={"scores": [10, 16]}, headers=a)
    assert resp.status_code == 409 and resp.json()["error"] == "downstream_started"
    assert (await ok(await client.get(f"{url}/{final['id']}")))["status"] == "running"
    await ok(await client.post(f"{url}/{final['id']}/result", json={"scores": [16, 14]}, headers=a))
    assert (await standings(client, tid))[0]["participant_id"] == winner1
    forced = await ok(await client.post(f"{url}/{semi1['id']}/result", json={"scores": [10, 16], "force": True},
                                        headers=a))
    assert final["id"] in forced["changed"]
    f = await ok(await client.get(f"{url}/{final['id']}"))
    assert f["status"] == "ready" and f["opponent1"]["participant_id"] == loser1
    assert f["opponent1"]["score"] is None and f["opponent1"]["result"] is None
    assert (await ok(await client.get(f"{API}/{tid}")))["status"] == "running"
    audit = (await ok(await client.get(f"{API}/{tid}/audit", params={"match_id": final["id"]})))["entries"]
    last = audit[-1]
    assert last["action"] == "report_result" and last["before"]["status"] == "completed"
    assert last["after"]["status"] == "ready"
    # The normalized copy in Postgres matches the state document.
    rows = await app.state.engines.pg.fetch(
        "SELECT id, status, participant1_id, record FROM tournament_matches WHERE tournament_id = $1 ORDER BY id", tid)
    api = await matches(client, tid)
    assert [(r["id"], r["status"], r["participant1_id"]) for r in rows] == \
        [(m["id"], m["status"], m["opponent1"]["participant_id"] if m["opponent1"] else None) for m in api]
    assert [json.loads(r["record"]) for r in rows] == api


async def test_forfeit(client, orgs) -> None:
    a, _, _ = orgs
    tid, semi1, _, final = await four_player_final(client, a)
    body = await ok(await client.post(f"{API}/{tid}/matches/{semi1['id']}/result", json={"forfeit": 1}, headers=a))
    m = body["match"]
    assert m["status"] == "completed"
    assert m["opponent1"]["forfeit"] is True and m["opponent1"]["result"] == "loss"
    assert m["opponent2"]["result"] == "win" and m["opponent2"]["score"] is None
    f = await ok(await client.get(f"{API}/{tid}/matches/{final['id']}"))
    assert f["opponent1"]["participant_id"] == semi1["opponent2"]["participant_id"]


async def test_disqualification_in_double_elimination(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "double_elimination", 4)
    ms = await matches(client, tid)
    p4 = next(p for p in (await ok(await client.get(f"{API}/{tid}")))["participants"] if p["name"] == "p4")
    first = next(m for m in ms if m["round"] == 1 and m["bracket"] == "winners"
                 and p4["id"] in (m["opponent1"]["participant_id"], m["opponent2"]["participant_id"]))
    body = await ok(await client.post(f"{API}/{tid}/participants/{p4['id']}/disqualify", headers=a))
    assert body["participant"]["disqualified"] is True and first["id"] in body["changed"]
    again = await ok(await client.post(f"{API}/{tid}/participants/{p4['id']}/disqualify", headers=a))
    assert again["changed"] == []
    m = await ok(await client.get(f"{API}/{tid}/matches/{first['id']}"))
    side = "opponent1" if m["opponent1"]["participant_id"] == p4["id"] else "opponent2"
    assert m["status"] == "completed" and m[side]["forfeit"] is True and m[side]["result"] == "loss"
    await play_out(client, tid, a)
    for m in await matches(client, tid):  # the losers' bracket match p4 dropped into was a forfeit too
        sides = [o for o in (m["opponent1"], m["opponent2"]) if o and o["participant_id"] == p4["id"]]
        assert all(o["forfeit"] and o["result"] == "loss" for o in sides)
    rows = await standings(client, tid)
    assert rows[-1]["name"] == "p4" and rows[-1]["disqualified"] is True
    assert rows[0]["name"] == "p1"


async def test_disqualification_in_swiss_stops_pairing(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "swiss", 6, {"rounds": 3})
    pid = (await ok(await client.get(f"{API}/{tid}")))["participants"][5]["id"]
    await ok(await client.post(f"{API}/{tid}/participants/{pid}/disqualify", headers=a))
    await play_out(client, tid, a)
    later = [m for m in await matches(client, tid) if m["round"] > 1]
    assert all(pid not in (m["opponent1"]["participant_id"], (m["opponent2"] or {}).get("participant_id"))
               for m in later)


# --- access control, 404s, lifecycle errors -------------------------------------------------------

async def test_reads_are_public_and_writes_need_the_owner(client, orgs) -> None:
    a, b, a_key = orgs
    tid = await create(client, a, "single_elimination", 2, start=False)
    t = await ok(await client.get(f"{API}/{tid}"))
    assert t["owner_key_id"] == a_key and t["status"] == "setup"
    for path in ("", "/matches", "/standings", "/audit", "/participants"):
        await ok(await client.get(f"{API}/{tid}{path}"))
    writes = [("post", f"{API}/{tid}/participants", {"name": "x"}), ("post", f"{API}/{tid}/start", None),
              ("post", f"{API}/{tid}/rounds", {}), ("post", f"{API}/{tid}/matches/0/result", {"scores": [1, 0]}),
              ("post", f"{API}/{tid}/participants/1/disqualify", None), ("delete", f"{API}/{tid}", None)]
    for method, url, body in writes:
        kw = {"json": body} if body is not None else {}
        assert (await client.request(method, url, **kw)).status_code == 401
        bad = {"Authorization": "Bearer fsk_not_a_key"}
        assert (await client.request(method, url, headers=bad, **kw)).status_code == 401
        resp = await client.request(method, url, headers=b, **kw)
        assert resp.status_code == 403 and resp.json()["error"] == "forbidden", (url, resp.text)
    assert (await client.post(API, json={"name": "x", "format": "swiss"})).status_code == 401
    # The admin may change anyone's tournament; the organiser its own.
    await ok(await client.post(f"{API}/{tid}/participants", json={"name": "by admin"}, headers=ADMIN), 201)
    await ok(await client.post(f"{API}/{tid}/start", headers=a))
    mine = await ok(await client.get(API, params={"owner_key_id": a_key, "limit": 500}))
    assert tid in [x["id"] for x in mine["tournaments"]]
    b_tid = await create(client, b, "round_robin", 3)
    assert (await client.delete(f"{API}/{b_tid}", headers=a)).status_code == 403
    assert (await client.delete(f"{API}/{b_tid}", headers=ADMIN)).status_code == 204
    assert (await client.get(f"{API}/{b_tid}")).status_code == 404
    audit = (await ok(await client.get(f"{API}/{b_tid}/audit")))["entries"]
    assert audit[0]["action"] == "create_tournament" and audit[-1]["action"] == "delete_tournament"
    assert audit[-1]["actor"] == "admin" and audit[0]["actor"].startswith("key:")


async def test_not_found(client, orgs) -> None:
    a, _, _ = orgs
    for path in ("", "/matches", "/standings", "/audit", "/participants", "/matches/0"):
        resp = await client.get(f"{API}/999999{path}")
        assert resp.status_code == 404 and resp.json()["error"] == "not_found", path
    assert (await client.post(f"{API}/999999/start", headers=ADMIN)).status_code == 404
    assert (await client.delete(f"{API}/999999", headers=ADMIN)).status_code == 404
    tid, *_ = await four_player_final(client, a)
    resp = await client.post(f"{API}/{tid}/matches/999/result", json={"scores": [1, 0]}, headers=a)
    assert resp.status_code == 404
    assert (await client.post(f"{API}/{tid}/participants/999/disqualify", headers=a)).status_code == 404
    assert (await client.get(f"{API}/{tid}/matches/999")).status_code == 404
    assert (await client.get(f"{API}/not-a-number")).status_code == 404


async def test_bad_creation_and_stage_errors(client, orgs) -> None:
    a, _, _ = orgs
    for body in ({"name": "x", "format": "ladder"},
                 {"name": "x", "format": "swiss", "settings": {"grand_final": "none"}},
                 {"name": "x", "format": "single_elimination", "settings": {"best_of": 2}},
                 {"name": "", "format": "swiss"}, {"format": "swiss"}, {"name": "x", "format": "swiss", "extra": 1}):
        resp = await client.post(API, json=body, headers=a)
        assert resp.status_code == 422, (body, resp.text)
    tid = await create(client, a, "single_elimination", 1, start=False)
    resp = await client.post(f"{API}/{tid}/start", headers=a)
    assert resp.status_code == 422 and resp.json()["error"] == "invalid_settings"
    resp = await client.post(f"{API}/{tid}/participants", json={"name": "dup", "seed": 1}, headers=a)
    assert resp.status_code == 422
    await ok(await client.post(f"{API}/{tid}/participants", json={"name": "late"}, headers=a), 201)
    await ok(await client.post(f"{API}/{tid}/start", headers=a))
    assert (await client.post(f"{API}/{tid}/start", headers=a)).status_code == 409
    resp = await client.post(f"{API}/{tid}/participants", json={"name": "too late"}, headers=a)
    assert resp.status_code == 409 and resp.json()["error"] == "stage_error"
    resp = await client.post(f"{API}/{tid}/rounds", json={}, headers=a)
    assert resp.status_code == 409  # not a Swiss format
    listing = await ok(await client.get(API, params={"format": "single_elimination", "status": "running"}))
    assert all(x["format"] == "single_elimination" and x["status"] == "running" for x in listing["tournaments"])
    assert (await client.get(API, params={"format": "ladder"})).status_code == 400


# --- audit and concurrency ----------------------------------------------------------------------

async def test_audit_log_records_who_when_before_after(client, orgs, app) -> None:
    a, _, a_key = orgs
    tid, semi1, _, _ = await four_player_final(client, a)
    await ok(await client.post(f"{API}/{tid}/matches/{semi1['id']}/result", json={"scores": [16, 2]}, headers=a))
    body = await ok(await client.get(f"{API}/{tid}/audit"))
    entries = body["entries"]
    actions = [e["action"] for e in entries]
    assert actions[0] == "create_tournament" and actions.count("add_participant") == 4
    assert "start" in actions and actions[-1] == "report_result"
    assert {e["actor"] for e in entries} == {f"key:{a_key}"}
    result = next(e for e in entries if e["action"] == "report_result" and e["match_id"] == semi1["id"])
    assert result["before"]["status"] == "ready" and result["after"]["status"] == "completed"
    assert result["after"]["opponent1"]["score"] == 16 and result["at"].endswith("+00:00")
    page = await ok(await client.get(f"{API}/{tid}/audit", params={"limit": 2}))
    rest = await ok(await client.get(f"{API}/{tid}/audit", params={"after": page["next_after"]}))
    assert page["entries"] + rest["entries"] == entries
    with pytest.raises(Exception, match="append-only"):
        await app.state.engines.pg.execute("DELETE FROM tournament_audit WHERE tournament_id = $1", tid)


async def test_concurrent_results_lose_no_update(client, orgs) -> None:
    a, _, _ = orgs
    tid = await create(client, a, "single_elimination", 16)
    first = [m for m in await matches(client, tid) if m["round"] == 1]
    resps = await asyncio.gather(*(client.post(f"{API}/{tid}/matches/{m['id']}/result", json=better_wins(m),
                                               headers=a if i % 2 else ADMIN) for i, m in enumerate(first)))
    assert [r.status_code for r in resps] == [200] * 8
    after = await matches(client, tid)
    assert all(m["status"] == "completed" for m in after if m["round"] == 1)
    assert all(m["status"] == "ready" for m in after if m["round"] == 2)
    audit = (await ok(await client.get(f"{API}/{tid}/audit", params={"limit": 1000})))["entries"]
    assert len({e["match_id"] for e in audit if e["action"] == "report_result" and e["before"]
                and e["before"]["round"] == 1}) == 8


async def test_odd_input_is_a_4xx_never_a_500(client, orgs) -> None:
    a, _, _ = orgs
    tid, semi1, _, _ = await four_player_final(client, a)
    setup = await create(client, a, "swiss", 0, start=False)
    big = 2**40
    cases = [
        ("get", f"{API}/{big}", None), ("get", f"{API}/{big}/audit", None),
        ("get", f"{API}/{tid}/matches/{big}", None), ("post", f"{API}/{big}/start", None),
        ("post", f"{API}/{tid}/matches/{big}/result", {"scores": [1, 0]}),
        ("post", f"{API}/{tid}/participants/{big}/disqualify", None),
        ("get", f"{API}/{tid}/audit?match_id={big}", None), ("get", f"{API}?owner_key_id={big}", None),
        ("get", f"{API}?offset={big * big}", None),
        ("post", f"{API}/{setup}/participants", {"name": "x", "seed": big}),
        ("post", f"{API}/{setup}/participants", {"name": "nul\u0000byte"}),
        ("post", API, {"name": "nul\u0000byte", "format": "swiss"}),
        ("post", API, {"name": "x", "format": "swiss", "settings": {"rounds": big}}),
        ("post", API, {"name": "x", "format": "swiss", "settings": []}),
        ("post", f"{API}/{tid}/matches/{semi1['id']}/result", {"scores": [big * big, 0]}),
        ("post", f"{API}/{tid}/matches/{semi1['id']}/result", {"scores": [1, 0], "winner": big}),
        ("post", f"{API}/{tid}/rounds", {"round": big}),
    ]
    for method, url, body in cases:
        kw = {"json": body} if body is not None else {}
        resp = await client.request(method, url, headers=a, **kw)
        assert 200 <= resp.status_code < 500, (method, url, body, resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/json"), url


# --- the API is the engine plus storage --------------------------------------------------------

MIRROR_CASES = [
    ("single_elimination", 7, {"third_place": True, "best_of": 3}, 1),
    ("double_elimination", 6, {"grand_final": "double"}, 2),
    ("round_robin", 5, {}, 3),
    ("round_robin", 9, {"groups": 3, "advance_per_group": 2, "third_place": True}, 4),
    ("swiss", 7, {"rounds": 4}, 5),
    ("valve_swiss", 10, {}, 6),
]


@pytest.mark.parametrize("fmt,n,settings,seed", MIRROR_CASES)
async def test_random_operations_match_the_pure_engine(client, orgs, fmt, n, settings, seed) -> None:
    """Random results, corrections (forced or not), forfeits and disqualifications through the API
    leave the stored state equal to the engine's own, step by step, and errors agree in status."""
    import datetime as dt
    import random

    from tournaments import lifecycle, results, swiss
    from tournaments import standings as pure_standings
    from tournaments.errors import TournamentError

    a, _, _ = orgs
    rng = random.Random(seed)
    at = dt.datetime.now(dt.timezone.utc)
    tid = await create(client, a, fmt, n, settings)
    local = lifecycle.new_tournament(fmt, settings)
    for i in range(1, n + 1):
        local, _, _ = lifecycle.add_participant(local, f"p{i}", i, actor="x", at=at)
    local, _ = lifecycle.start(local, actor="x", at=at)

    def outcome(m) -> dict:
        r = rng.random()
        if r < 0.1:
            return {"forfeit": rng.choice([1, 2])}
        if m.best_of == 1:
            draw = m.bracket in ("round_robin", "group", "swiss") and fmt != "valve_swiss" and r < 0.25
            return {"scores": [7, 7] if draw else rng.choice([[16, 4], [4, 16]])}
        need = m.best_of // 2 + 1
        return {"scores": rng.choice([[need, rng.randrange(need)], [rng.randrange(need), need]])}

    for _ in range(400):
        if lifecycle.status(local) == "completed":
            break
        open_ = [m for m in local.matches if m.status in ("ready", "running") and m.opponent1 and m.opponent2]
        done = [m for m in local.matches if m.status == "completed" and m.opponent1 and m.opponent2]
        r = rng.random()
        if r < 0.04:
            pid = rng.choice(local.participants).id
            op = (lambda t, pid=pid: results.disqualify(t, pid, actor="x", at=at),
                  "post", f"{API}/{tid}/participants/{pid}/disqualify", None)
        elif (r < 0.2 and done) or (not open_ and done and r < 0.3):
            m, body = rng.choice(done), None
            body = {**outcome(m), "force": rng.random() < 0.5}
            op = (lambda t, m=m, body=body: results.report_result(t, m.id, **body, actor="x", at=at),
                  "post", f"{API}/{tid}/matches/{m.id}/result", body)
        elif open_:
            m = rng.choice(open_)
            body = outcome(m)
            op = (lambda t, m=m, body=body: results.report_result(t, m.id, **body, actor="x", at=at),
                  "post", f"{API}/{tid}/matches/{m.id}/result", body)
        else:
            op = (lambda t: swiss.pair_round(t, actor="x", at=at), "post", f"{API}/{tid}/rounds", {})
        engine_op, method, url, body = op
        try:
            local, _ = engine_op(local)
            expected = (200, 201)
        except TournamentError as exc:
            expected = (exc.http_status,)
        kw = {"json": body} if body is not None else {}
        resp = await client.request(method, url, headers=a, **kw)
        assert resp.status_code in expected, (url, body, resp.text)
        stored = await matches(client, tid)
        assert stored == [msgspec.to_builtins(m) for m in sorted(local.matches, key=lambda m: m.id)]
    assert lifecycle.status(local) == "completed"
    assert (await ok(await client.get(f"{API}/{tid}")))["status"] == "completed"
    assert await standings(client, tid) == [msgspec.to_builtins(s) for s in pure_standings.standings(local)]
