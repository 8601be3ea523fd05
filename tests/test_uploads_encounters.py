"""Encounter reports on the real engines (the session app: chDB, Postgres, Redis, local object store):
upload, dedup by id and by checksum, list and search, parses and percentiles equal to a direct
computation, reprocess, delete, refusals naming the field (and storing nothing), quotas answering 429,
the accounting."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json

import numpy as np
import pytest

from conftest import ADMIN
from helpers import ok
from uploads_data import body, encounter, with_checksum


async def new_key(client, name: str, scopes=("upload", "read"), **limits) -> dict:
    resp = await client.post("/api/v1/keys", json={"name": name, "scopes": list(scopes), **limits}, headers=ADMIN)
    return await ok(resp, 201)


async def wait_ready(client, code: str, timeout: float = 60) -> dict:
    for _ in range(int(timeout * 10)):
        doc = (await client.get(f"/api/v1/encounters/{code}")).json()
        if doc["status"] in ("ready", "failed"):
            assert doc["status"] == "ready", doc
            return doc
        await asyncio.sleep(0.1)
    raise AssertionError(f"report {code} not parsed in {timeout} s")


async def post(client, key: str, doc: dict, **kw):
    return await client.post("/api/v1/encounters", content=body(doc),
                             headers={"X-API-Key": key, "Content-Type": "application/json", **kw.pop("headers", {})}, **kw)


@pytest.fixture(scope="module")
async def uploader(client):
    return (await new_key(client, "meter-user"))["key"]


async def test_upload_parse_and_dedup_by_id_and_checksum(client, uploader):
    doc = encounter("enc-1", seed=11)
    resp = await post(client, uploader, doc)
    created = await ok(resp, 201)
    assert resp.headers["X-API-Version"] == "1"
    assert created["reportUrl"].endswith(f"/reports/{created['reportId']}") and created["createdAt"].endswith("Z")
    assert len(created["reportId"]) == 8
    report = await wait_ready(client, created["reportId"])
    assert [f["boss"] for f in report["fights"]] == ["Tina the Tempest"]
    assert report["fights"][0]["totalDamage"] == doc["totalDamage"]
    by_actor = {p["actorId"]: p for p in report["parses"]}
    for p in doc["players"]:
        got = by_actor[p["actorId"]]
        assert (got["damage"], got["dps"], got["className"], got["classSpec"]) == (
            p["totalDamage"], p["dps"], p["className"], p["classSpec"])

    again = await ok(await post(client, uploader, doc), 200)  # same key, same encounterId
    assert again["reportId"] == created["reportId"]
    other = (await new_key(client, "second-uploader"))["key"]
    same_body = await ok(await post(client, other, doc), 200)  # another key, same checksum
    assert same_body["reportId"] == created["reportId"]
    renamed = with_checksum({**doc, "encounterId": "enc-1-bis"})
    fresh = await ok(await post(client, other, renamed), 201)  # new id, new checksum: a new report
    assert fresh["reportId"] != created["reportId"]
    await wait_ready(client, fresh["reportId"])

    # gzip is taken as well
    gz = encounter("enc-gz", seed=12)
    resp = await client.post("/api/v1/encounters", content=gzip.compress(body(gz)),
                             headers={"X-API-Key": uploader, "Content-Encoding": "gzip"})
    await ok(resp, 201)


async def test_bad_documents_name_the_field_and_store_nothing(client, uploader, app):
    async def count() -> int:
        return await app.state.engines.pg.fetchval("SELECT count(*) FROM encounter_reports")

    before = await count()
    good = encounter("enc-bad", seed=21)
    cases = []
    wrong_type = json.loads(json.dumps(good))
    wrong_type["players"][1]["dps"] = "fast"
    cases.append((with_checksum(wrong_type), "$.players[1].dps"))
    long_fight = with_checksum({**good, "durationMs": 3 * 3600 * 1000, "endedAtMs": good["startedAtMs"] + 3 * 3600 * 1000})
    cases.append((long_fight, "$.durationMs"))
    too_many = json.loads(json.dumps(good))
    too_many["players"][0]["damageSkills"][0]["timeline"] *= 300  # 12,000 hits
    cases.append((with_checksum(too_many), "$.players[0].damageSkills[0].timeline"))
    crowd = json.loads(json.dumps(good))
    crowd["players"] = [dict(crowd["players"][0], actorId=i) for i in range(51)]
    cases.append((with_checksum(crowd), "$.players"))
    tampered = json.loads(json.dumps(good))
    tampered["totalDamage"] += 1  # checksum no longer matches
    cases.append((tampered, "$.checksum"))
    missing = {k: v for k, v in good.items() if k != "encounterId"}
    cases.append((with_checksum(missing), "$"))
    rate = json.loads(json.dumps(good))
    rate["players"][2]["critRate"] = 1.5
    cases.append((with_checksum(rate), "$.players[2].critRate"))
    for doc, field in cases:
        resp = await post(client, uploader, doc)
        assert resp.status_code == 422, (field, resp.text)
        fields = [e["field"] for e in resp.json()["events"]]
        assert field in fields, (field, resp.json())
        assert resp.headers["X-API-Version"] == "1"
    resp = await client.post("/api/v1/encounters", content=b"{not json", headers={"X-API-Key": uploader})
    assert resp.status_code == 400 and resp.json()["error"] == "malformed_json"
    resp = await client.post("/api/v1/encounters", content=b"\x1f\x8b broken", headers={"X-API-Key": uploader,
                                                                                    "Content-Encoding": "gzip"})
    assert resp.status_code == 400
    assert (await client.post("/api/v1/encounters", content=body(good))).status_code == 401
    read_only = (await new_key(client, "reader", scopes=("read",)))["key"]
    assert (await post(client, read_only, good)).status_code == 403
    resp = await post(client, uploader, good, headers={"X-API-Version": "2"})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_api_version"
    assert await count() == before


async def test_list_search_and_pagination(client, uploader):
    codes = []
    for i in range(5):
        doc = encounter(f"search-{i}", seed=100 + i, boss="Search Boss" if i % 2 else "Other Boss",
                        started_at_ms=1_800_000_000_000 + i * 1000,
                        names=["Alice" if i < 3 else "Bob", "Carol", "Dan", "Eve", "Finn"])
        codes.append((await ok(await post(client, uploader, doc), 201))["reportId"])
    page = (await client.get("/api/v1/encounters?player=alice&limit=2&from=1800000000000")).json()
    assert page["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}
    assert [r["reportId"] for r in page["reports"]] == [codes[2], codes[1]]  # newest start first
    page2 = (await client.get("/api/v1/encounters?player=ALICE&limit=2&page=2&from=1800000000000")).json()
    assert [r["reportId"] for r in page2["reports"]] == [codes[0]]
    bosses = (await client.get("/api/v1/encounters?boss=Search%20Boss&from=1800000000000")).json()
    assert sorted(r["reportId"] for r in bosses["reports"]) == sorted([codes[1], codes[3]])
    ranged = (await client.get("/api/v1/encounters?from=1800000001000&to=2026-12-31T00:00:00Z&player=bob")).json()
    assert ranged["meta"]["total"] == 0  # 2026 is before 1800000000000 ms (2027)
    ranged = (await client.get("/api/v1/encounters?from=1800000001000&to=1800000004000")).json()
    assert ranged["meta"]["total"] == 4
    assert (await client.get("/api/v1/encounters?limit=101")).status_code == 400
    assert (await client.get("/api/v1/encounters/nope-nope")).status_code == 404


def direct_percentiles(parses: list[dict], metric: str) -> dict:
    """percentile = 100 * (parses of the bracket as good or worse) / bracket size, computed here."""
    out = {}
    for p in parses:
        bracket = [q[metric] for q in parses if (q["class"], q["spec"]) == (p["class"], p["spec"])]
        worse_or_equal = sum(v <= p[metric] for v in bracket) if metric != "damage_taken" else \
            sum(v >= p[metric] for v in bracket)
        out[(p["code"], p["actor"])] = round(100 * worse_or_equal / len(bracket), 1)
    return out


async def test_leaderboard_percentiles_equal_a_direct_computation(client, uploader):
    boss = "Percentile Dragon"
    uploaded = []
    for i in range(8):
        doc = encounter(f"pct-{i}", seed=300 + i, boss=boss, players=5, hits=10 + i)
        code = (await ok(await post(client, uploader, doc), 201))["reportId"]
        uploaded.append((code, doc))
    for code, _ in uploaded:
        await wait_ready(client, code)
    parses = [{"code": code, "actor": p["actorId"], "class": p["className"], "spec": p["classSpec"], "dps": p["dps"],
               "hps": p["hps"], "damage_taken": p["damageTaken"]} for code, doc in uploaded for p in doc["players"]]
    for metric in ("dps", "damage_taken"):
        board = (await client.get(f"/api/v1/leaderboards/encounters?boss={boss}&metric={metric}&limit=100")).json()
        assert board["total"] == len(parses) == 40
        expected = direct_percentiles(parses, metric)
        got = {(p["reportId"], p["actorId"]): p["percentile"] for p in board["parses"]}
        assert got == expected
        values = [p[metric if metric != "damage_taken" else "damageTaken"] for p in board["parses"]]
        assert values == sorted(values, reverse=metric != "damage_taken")
        for b in board["brackets"]:
            mine = [p[metric] for p in parses if (p["class"], p["spec"]) == (b["className"], b["classSpec"])]
            assert b["count"] == len(mine)
            for level in (50, 75, 90, 95, 99):
                assert b["quantiles"][f"p{level}"] == pytest.approx(np.percentile(mine, level))
    stormblades = (await client.get(f"/api/v1/leaderboards/encounters?boss={boss}&class=Stormblade&spec=Iaido")).json()
    assert stormblades["total"] == 8 and {p["classSpec"] for p in stormblades["parses"]} == {"Iaido"}
    # the report's own parses carry the same percentiles
    code = uploaded[0][0]
    mine = (await client.get(f"/api/v1/encounters/{code}/parses")).json()["parses"]
    expected = direct_percentiles(parses, "dps")
    assert {(code, p["actorId"]): p["percentile"] for p in mine} == {k: v for k, v in expected.items() if k[0] == code}
    bosses = (await client.get("/api/v1/leaderboards/encounters")).json()["bosses"]
    assert {"boss": boss, "parses": 40, "reports": 8} in bosses


async def test_timeline_fights_reprocess_and_delete(client, uploader, app):
    doc = encounter("reprocess-1", seed=501, hits=30)
    code = (await ok(await post(client, uploader, doc), 201))["reportId"]
    first = await wait_ready(client, code)
    timeline = (await client.get(f"/api/v1/encounters/{code}/timeline?bucket_ms=10000")).json()
    series = {s["actorId"]: s for s in timeline["series"]}
    for p in doc["players"]:
        total = sum(v for _, v in series[p["actorId"]]["points"])
        assert total == p["totalDamage"]
        assert len(series[p["actorId"]]["points"]) == 10  # 90 s in 10 s buckets, t = 90000 in the last
    fights = (await client.get(f"/api/v1/encounters/{code}/fights")).json()["fights"]
    assert fights[0]["durationMs"] == 90_000 and fights[0]["players"] == 5

    admin_key = (await new_key(client, "moderator", scopes=("admin",)))["key"]
    assert (await client.post(f"/api/v1/encounters/{code}/reprocess", headers={"X-API-Key": uploader})).status_code == 403
    job = await ok(await client.post(f"/api/v1/encounters/{code}/reprocess", headers={"X-API-Key": admin_key}), 202)
    assert job["jobId"]
    await app.state.uploads.runner.wait_idle(60)
    second = await wait_ready(client, code)
    assert second["fights"] == first["fights"] and second["parses"] == first["parses"]
    hits = await app.state.engines.query("SELECT count() FROM encounter_hits WHERE report_id = {r:UInt64}",
                                         {"r": first["id"]})
    assert hits[0][0] == sum(len(s["timeline"]) for p in doc["players"] for s in p["damageSkills"] + p["healSkills"])
    jobs = (await client.get("/api/v1/uploads/jobs?limit=100", headers={"X-API-Key": uploader})).json()["jobs"]
    mine = [j for j in jobs if j["reportId"] == code]
    assert [j["action"] for j in mine] == ["reprocess", "parse"] and all(j["status"] == "done" for j in mine)
    assert [s["step"] for s in mine[0]["steps"]] == ["fetch", "decode", "rows", "delete", "insert"]
    assert [s["step"] for s in mine[1]["steps"]] == ["fetch", "decode", "rows", "insert"]  # a first parse deletes nothing

    raw = await client.get(f"/api/v1/encounters/{code}/raw", headers={"X-API-Key": uploader})
    assert raw.status_code == 200 and json.loads(raw.content) == doc
    assert raw.headers["X-Object-SHA256"] == hashlib.sha256(raw.content).hexdigest()

    assert (await client.delete(f"/api/v1/encounters/{code}", headers={"X-API-Key": admin_key})).status_code == 204
    assert (await client.get(f"/api/v1/encounters/{code}")).status_code == 404
    left = await app.state.engines.query("SELECT count() FROM encounter_parses WHERE report_id = {r:UInt64}",
                                         {"r": first["id"]})
    assert left[0][0] == 0


async def test_quotas_and_rate_answer_429_with_retry_after(client):
    tiny = (await new_key(client, "tiny", daily_uploads=2))["key"]
    for i in range(2):
        await ok(await post(client, tiny, encounter(f"quota-{i}", seed=700 + i)), 201)
    resp = await post(client, tiny, encounter("quota-3", seed=703))
    assert resp.status_code == 429 and resp.json()["error"] == "quota_exceeded"
    assert 1 <= int(resp.headers["Retry-After"]) <= 86_400
    small = (await new_key(client, "small-bytes", daily_bytes=1000))["key"]
    resp = await post(client, small, encounter("bytes-1", seed=704))
    assert resp.status_code == 429 and resp.json()["error"] == "quota_exceeded"
    usage = (await client.get("/api/v1/uploads/usage", headers={"X-API-Key": tiny})).json()
    assert usage["uploads"] == 2 and usage["daily_uploads"] == 2
    slow = (await new_key(client, "slow", rate_per_minute=3))["key"]
    statuses = [(await client.post("/api/v1/upload/check", json={"hashes": ["x"]}, headers={"X-Api-Key": slow}))
                for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].json()["error"] == "rate_limited" and 1 <= int(statuses[-1].headers["Retry-After"]) <= 60


async def test_accounting_holds(client, app):
    await app.state.uploads.runner.wait_idle(60)
    status = (await client.get("/api/v1/uploads/status", headers=ADMIN)).json()
    assert status["accepted"] == status["stored"] + status["queued"] + status["in_flight"] + status["failed"]
    assert status["queued"] == status["in_flight"] == status["failed"] == 0
    live = await app.state.engines.pg.fetchval("SELECT count(*) FROM encounter_reports WHERE status = 'ready'")
    assert status["reports_in_clickhouse"] == live
