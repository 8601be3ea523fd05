"""The resonance-logs damage meter's own protocol, as its uploader sends it (`POST <base>/upload/` with
`X-Api-Key`, preflight `POST <base>/upload/check`), against the real engines: a batch stored, the
preflight answering duplicates and missing, the same fight uploaded by a second player of the group
stored once, and the same fight through our own protocol giving the same fights and parses."""

from __future__ import annotations

import copy

from helpers import ok
from test_uploads_encounters import new_key, post, wait_ready
from uploads_data import meter_encounter, with_checksum


async def meter_post(client, key: str, encounters: list[dict], path: str = "/api/v1/upload/", **extra):
    return await client.post(path, json={"encounters": encounters, "clientVersion": "0.9.3", **extra},
                             headers={"X-Api-Key": key})


async def test_meter_batch_preflight_and_group_dedup(client, app):
    key = (await new_key(client, "meter-a", scopes=("upload",)))["key"]
    fights = [meter_encounter(local_player=50_000, started_at_ms=1_767_400_000_000 + i * 600_000, seed=i,
                              boss=f"Boss {i}") for i in range(3)]
    hashes = [f["sourceHash"] for f in fights]
    pre = await ok(await client.post("/api/v1/upload/check", json={"hashes": hashes}, headers={"X-Api-Key": key}))
    assert pre == {"duplicates": [], "missing": hashes}

    resp = await meter_post(client, key, fights[:2])
    first = await ok(resp)
    assert first["ingested"] == 2 and len(set(first["ids"])) == 2 and all(isinstance(i, int) for i in first["ids"])
    pre = await ok(await client.post("/api/v1/upload/check", json={"hashes": hashes}, headers={"X-Api-Key": key}))
    assert sorted(pre["duplicates"], key=lambda d: d["hash"]) == sorted(
        [{"hash": hashes[0], "encounterId": first["ids"][0]}, {"hash": hashes[1], "encounterId": first["ids"][1]}],
        key=lambda d: d["hash"])
    assert pre["missing"] == [hashes[2]]

    # The same batch again (a reinstall): the same ids, nothing new; without the trailing slash too.
    again = await ok(await meter_post(client, key, fights[:2], path="/api/v1/upload"))
    assert again == first

    # A second player of the group: its meter started 400 ms later, its local player differs, so its
    # sourceHash differs; the fight is the same (scene, boss, players).
    other_key = (await new_key(client, "meter-b", scopes=("upload",)))["key"]
    theirs = meter_encounter(local_player=50_002, started_at_ms=fights[0]["startedAtMs"] + 400, seed=0, boss="Boss 0")
    theirs["detailedPlayerData"] = theirs.pop("detailedPlayerdata")  # the other spelling
    theirs["healSkillStats"] = None  # optional members may be null
    assert theirs["sourceHash"] != hashes[0]
    dup = await ok(await meter_post(client, other_key, [theirs, fights[2]]))
    assert dup["ids"][0] == first["ids"][0] and dup["ids"][1] not in first["ids"]
    pre = await ok(await client.post("/api/v1/upload/check", json={"hashes": [theirs["sourceHash"]]},
                                     headers={"X-Api-Key": other_key}))
    assert pre == {"duplicates": [{"hash": theirs["sourceHash"], "encounterId": first["ids"][0]}], "missing": []}
    count = await app.state.engines.pg.fetchval(
        "SELECT count(*) FROM encounter_reports WHERE id = ANY($1::bigint[])", [*first["ids"], dup["ids"][1]])
    assert count == 3

    # A different pull of the same boss minutes later is another fight.
    later = meter_encounter(local_player=50_000, started_at_ms=fights[0]["startedAtMs"] + 300_000, seed=0, boss="Boss 0")
    assert (await ok(await meter_post(client, key, [later])))["ids"][0] not in first["ids"]

    code = (await app.state.engines.pg.fetchval("SELECT code FROM encounter_reports WHERE id = $1", first["ids"][0]))
    report = await wait_ready(client, code)
    assert report["format"] == "meter" and report["bosses"] == ["Boss 0"] and report["players"] == 4
    assert {p["name"] for p in report["parses"]} == {"Hero0", "Hero1", "Hero2", "Hero3"}
    hero1 = next(p for p in report["parses"] if p["name"] == "Hero1")
    assert hero1["deaths"] == 1 and hero1["className"] == "class 2" and hero1["classSpec"] == "spec 11"


async def test_meter_refusals_name_the_field_and_store_nothing(client, app):
    key = (await new_key(client, "meter-c", scopes=("upload",)))["key"]
    before = await app.state.engines.pg.fetchval("SELECT count(*) FROM encounter_reports")
    good = meter_encounter(local_player=50_000, started_at_ms=1_767_500_000_000, seed=42)
    bad = copy.deepcopy(good)
    bad["actorEncounterStats"][1]["actorId"] = "not a number"
    resp = await meter_post(client, key, [good, bad])
    assert resp.status_code == 422, resp.text
    assert resp.json()["events"][0]["field"] == "$.encounters[1].actorEncounterStats[1].actorId"
    resp = await meter_post(client, key, [good] * 11)
    assert resp.status_code == 422 and resp.json()["events"][0]["field"] == "$.encounters"
    no_start = {k: v for k, v in good.items() if k != "startedAtMs"}
    resp = await meter_post(client, key, [no_start])
    assert resp.status_code == 422 and resp.json()["events"][0]["field"] == "$.encounters[0]"
    assert (await client.post("/api/v1/upload/", json={"encounters": [good]})).status_code == 401
    resp = await client.post("/api/v1/upload/check", json={"hashes": ["h"] * 51}, headers={"X-Api-Key": key})
    assert resp.status_code == 422
    assert (await client.post("/api/v1/upload/check", json={"hashes": []}, headers={"X-Api-Key": key})).status_code == 400
    assert await app.state.engines.pg.fetchval("SELECT count(*) FROM encounter_reports") == before


async def test_both_paths_give_the_same_fights_and_parses(client):
    """One fight through the meter's protocol and through ours (converted by hand from the meter's
    numbers): the same fight aggregates and the same parses."""
    key = (await new_key(client, "both-paths"))["key"]
    enc = meter_encounter(local_player=50_000, started_at_ms=1_767_600_000_000, seed=99, boss="Twin Hydra")
    ids = (await ok(await meter_post(client, key, [enc])))["ids"]
    players = [s for s in enc["actorEncounterStats"] if s["isPlayer"]]
    deaths = {d["actorId"]: 1 for d in enc["deathEvents"]}
    ours = with_checksum({
        "schemaVersion": 1, "encounterId": "hydra-ours", "startedAtMs": enc["startedAtMs"], "endedAtMs": enc["endedAtMs"],
        "durationMs": enc["endedAtMs"] - enc["startedAtMs"], "totalDamage": enc["totalDmg"],
        "totalHeal": enc["totalHeal"], "sceneName": enc["sceneName"], "meterVersion": "0.9.3",
        "bosses": [{"name": "Twin Hydra", "maxHp": 9_000_000, "defeated": True, "totalDamage": 9_000_000}],
        "players": [{"actorId": s["actorId"], "name": s["name"], "className": f"class {s['classId']}",
                     "classSpec": f"spec {s['classSpec']}", "totalDamage": s["damageDealt"], "totalHeal": s["healDealt"],
                     "damageTaken": s["damageTaken"], "deaths": deaths.get(s["actorId"], 0), "dps": s["dps"],
                     "hps": s["healDealt"] / 120, "critRate": s["critHitsDealt"] / s["hitsDealt"],
                     "luckyRate": s["luckyHitsDealt"] / s["hitsDealt"],
                     "damageSkills": [{"skillId": d["skillId"], "name": "on Twin Hydra", "hits": d["hits"],
                                       "total": d["totalValue"], "critHits": d["critHits"], "luckyHits": d["luckyHits"],
                                       "hpLoss": d["hpLossTotal"], "shieldLoss": d["shieldLossTotal"], "timeline": []}
                                      for d in enc["damageSkillStats"] if d["attackerId"] == s["actorId"]],
                     "healSkills": [{"skillId": h["skillId"], "hits": h["hits"], "total": h["totalValue"],
                                     "critHits": 0, "luckyHits": 0, "hpLoss": 0, "shieldLoss": 0, "timeline": []}
                                    for h in enc["healSkillStats"] if h["healerId"] == s["actorId"]]}
                    for s in players]})
    code_ours = (await ok(await post(client, key, ours), 201))["reportId"]
    code_meter = (await client.get(f"/api/v1/encounters?from={enc['startedAtMs']}&to={enc['startedAtMs']}")).json()
    code_meter = next(r["reportId"] for r in code_meter["reports"] if r["id"] == ids[0])
    a, b = await wait_ready(client, code_meter), await wait_ready(client, code_ours)

    def strip(parses):
        return sorted(({k: v for k, v in p.items() if k not in ("reportId", "percentile", "bracketSize")}
                       for p in parses), key=lambda p: p["actorId"])

    assert [{k: v for k, v in f.items()} for f in a["fights"]] == b["fights"]
    assert strip(a["parses"]) == strip(b["parses"])
    skills_a = (await client.get(f"/api/v1/encounters/{code_meter}/timeline")).json()["skills"]
    skills_b = (await client.get(f"/api/v1/encounters/{code_ours}/timeline")).json()["skills"]
    assert skills_a == skills_b
