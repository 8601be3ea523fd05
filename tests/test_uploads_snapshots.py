"""Realm snapshots on the real engines: an Excel workbook as kingdom scanners write it (summary sheet
with the scan time, data sheet with `Governor ID`, `Kill Points`, ...), CSV and JSON; normalised names,
64-bit integers, Unicode names kept, the per-realm score formula, idempotence, the latest
leaderboard and the diff between two dates, duplicate ids refused naming the rows, a Parquet export
written by ClickHouse."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json

import openpyxl
import pyarrow.parquet as pq
import pytest

from conftest import ADMIN
from helpers import ok
from test_uploads_encounters import new_key

REALM = "K-1234"
FORMULA = "t4_kills * 5 + t5_kills * 10 + deads * 15"
NAMES = ["ʟᴏʀᴅ 龍", "Zoë 🐉", "Ärger", "plain", "مرحبا"]


def governors(day: int) -> list[dict]:
    """Five governors; on day 2 governor 5 is gone, 6 is new, the others grew differently."""
    out = []
    for i in range(1, 7):
        if (day == 1 and i == 6) or (day == 2 and i == 5):
            continue
        grow = (day - 1) * i * 1_000
        out.append({"Governor ID": 40_000_000 + i, "Governor Name": NAMES[(i - 1) % 5] if i < 6 else "Newcomer",
                    "Power": 50_000_000 + i * 7_000_000 + grow * 3 - (2_000_000 if day == 2 and i == 2 else 0),
                    "Kill Points": 12_000_000_000 + i * 1_500_000_000 + grow * 100,
                    "T4 Kills": 1_000_000 + i * 10_000 + grow, "T5 Kills": 500_000 + i * 5_000 + grow // 2,
                    "Deads": 200_000 + i * 1_000, "Alliance": f"[A{i % 2}] Wolves"})
    return out


def dkp(g: dict) -> float:
    return float(g["T4 Kills"] * 5 + g["T5 Kills"] * 10 + g["Deads"] * 15)


def workbook(rows: list[dict], scanned: dt.datetime) -> bytes:
    book = openpyxl.Workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append(["Kingdom", 1234])
    summary.append(["Scan Time", scanned])
    summary.append(["Governors scanned", len(rows)])
    data = book.create_sheet("Governors")
    data.append(list(rows[0]))
    for r in rows:
        data.append(list(r.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_of(rows: list[dict]) -> bytes:
    head = ",".join(rows[0])
    return ("\n".join([head] + [",".join(f'"{v}"' if isinstance(v, str) else str(v) for v in r.values()) for r in rows])
            + "\n").encode()


@pytest.fixture(scope="module")
def formula_app(app):
    """The session app with the DKP formula for our realm (settings are read per request)."""
    before = dict(app.state.settings.snapshot_formulas)
    app.state.settings.snapshot_formulas[REALM] = FORMULA
    yield app
    app.state.settings.snapshot_formulas.clear()
    app.state.settings.snapshot_formulas.update(before)


async def test_two_dates_latest_leaderboard_diff_and_parquet(client, formula_app):
    key = (await new_key(client, "kingdom-admin", scopes=("upload",)))["key"]
    hdr = {"X-API-Key": key}
    day1, day2 = governors(1), governors(2)
    xlsx = workbook(day1, dt.datetime(2026, 11, 1, 18, 30))
    first = await ok(await client.post(f"/api/v1/snapshots?realm={REALM}", content=xlsx, headers=hdr), 201)
    assert first["date"] == "2026-11-01" and first["format"] == "xlsx" and first["rows"] == 5  # the scan time
    assert first["idColumn"] == "governor_id" and first["nameColumn"] == "governor_name"
    assert first["columns"] == {"power": "int", "kill_points": "int", "t4_kills": "int", "t5_kills": "int",
                                "deads": "int", "alliance": "text"}
    again = await ok(await client.post(f"/api/v1/snapshots?realm={REALM}", content=xlsx, headers=hdr), 200)
    assert again["unchanged"] and again["runId"] == first["runId"]
    other = await client.post(f"/api/v1/snapshots?realm={REALM}&date=2026-11-01", content=csv_of(day2), headers=hdr)
    assert other.status_code == 409 and other.json()["error"] == "snapshot_exists"
    second = await ok(await client.post(f"/api/v1/snapshots?realm={REALM}&date=2026-11-08", content=csv_of(day2),
                                        headers={**hdr, "Content-Type": "text/csv"}), 201)
    assert second["format"] == "csv" and second["rows"] == 5

    # Rows of an upload that was never recorded (a crash between the ClickHouse insert and Postgres)
    # are not read: queries go by the recorded run id.
    await asyncio.to_thread(formula_app.state.engines.ch_writer.command,
                            "INSERT INTO snapshot_rows (realm, snapshot_date, entity_id, name, ints, run_id) VALUES"
                            f" ('{REALM}', '2026-11-08', '1', 'orphan', map('kill_points', 99999999999999), 'orphan-run')")
    board = await ok(await client.get(f"/api/v1/snapshots/{REALM}/leaderboard?metric=kill_points&limit=3"))
    assert board["date"] == "2026-11-08"  # current = the latest
    expected = sorted(day2, key=lambda g: -g["Kill Points"])[:3]
    assert [(p["id"], p["name"], p["value"]) for p in board["players"]] == [
        (str(g["Governor ID"]), g["Governor Name"], g["Kill Points"]) for g in expected]
    assert all(p["value"] > 10**10 for p in board["players"])  # 64-bit integers, exactly
    score = await ok(await client.get(f"/api/v1/snapshots/{REALM}/leaderboard?date=2026-11-01"))
    assert [(p["id"], p["value"]) for p in score["players"]] == [
        (str(g["Governor ID"]), dkp(g)) for g in sorted(day1, key=lambda g: -dkp(g))]
    assert {p["name"] for p in score["players"]} == set(NAMES)  # Unicode kept exactly
    bad = await client.get(f"/api/v1/snapshots/{REALM}/leaderboard?metric=alliance")
    assert bad.status_code == 400

    diff = await ok(await client.get(f"/api/v1/snapshots/{REALM}/diff?from=2026-11-01&to=2026-11-08&metric=power"))
    before = {g["Governor ID"]: g["Power"] for g in day1}
    after = {g["Governor ID"]: g["Power"] for g in day2}
    deltas = {i: after[i] - before[i] for i in before.keys() & after.keys()}
    assert [(int(p["id"]), p["delta"]) for p in diff["gainers"]] == sorted(
        ((i, float(d)) for i, d in deltas.items() if d > 0), key=lambda x: (-x[1], str(x[0])))
    assert [(int(p["id"]), p["delta"]) for p in diff["losers"]] == [(40_000_002, float(deltas[40_000_002]))]
    assert [(p["id"], p["name"], p["after"]) for p in diff["new"]] == [("40000006", "Newcomer", after[40_000_006])]
    assert [(p["id"], p["before"]) for p in diff["gone"]] == [("40000005", before[40_000_005])]
    assert diff["counts"] == {"gainers": 3, "losers": 1, "new": 1, "gone": 1, "same": 0}

    listed = await ok(await client.get(f"/api/v1/snapshots?realm={REALM}"))
    assert [s["date"] for s in listed["snapshots"]] == ["2026-11-08", "2026-11-01"]

    parquet = await client.get(f"/api/v1/snapshots/{REALM}/2026-11-01/export.parquet")
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    table = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    assert [r["entity_id"] for r in table] == [str(g["Governor ID"]) for g in day1]
    assert [dict(r["ints"])["kill_points"] for r in table] == [g["Kill Points"] for g in day1]
    assert {r["run_id"] for r in table} == {first["runId"]} and all(len(r["record_hash"]) == 64 for r in table)
    assert [r["score"] for r in table] == [dkp(g) for g in day1]
    assert (await client.get(f"/api/v1/snapshots/{REALM}/2020-01-01/export.parquet")).status_code == 404


async def test_duplicate_ids_are_refused_naming_the_rows_and_nothing_is_stored(client, app):
    key = (await new_key(client, "kingdom-admin-2", scopes=("upload",)))["key"]
    rows = governors(1)
    rows[3]["Governor ID"] = rows[0]["Governor ID"]
    resp = await client.post("/api/v1/snapshots?realm=K-9&date=2026-11-02", content=csv_of(rows),
                             headers={"X-API-Key": key, "Content-Type": "text/csv"})
    assert resp.status_code == 422 and resp.json()["error"] == "duplicate_ids"
    assert [(e["field"], e["reason"]) for e in resp.json()["events"]] == [
        ("row 5.governor_id", f"id {rows[0]['Governor ID']} is also on row 2")]
    no_id = "Name,Power\nA,1\n"
    resp = await client.post("/api/v1/snapshots?realm=K-9&date=2026-11-02", content=no_id.encode(),
                             headers={"X-API-Key": key})
    assert resp.status_code == 422 and "no id column" in resp.json()["detail"]
    resp = await client.post("/api/v1/snapshots?realm=K-9", content=csv_of(governors(1)), headers={"X-API-Key": key})
    assert resp.status_code == 422 and resp.json()["events"][0]["field"] == "date"
    assert (await client.post("/api/v1/snapshots?realm=bad/realm&date=2026-11-02", content=b"id\n1\n",
                              headers={"X-API-Key": key})).status_code == 400
    assert await app.state.engines.pg.fetchval("SELECT count(*) FROM snapshots WHERE realm = 'K-9'") == 0
    assert (await app.state.engines.query("SELECT count() FROM snapshot_rows WHERE realm = 'K-9'"))[0][0] == 0


async def test_json_snapshot_with_aliases_and_camel_case(client):
    key = (await new_key(client, "kingdom-admin-3", scopes=("upload",)))["key"]
    doc = {"date": "2026-10-30", "rows": [
        {"playerId": 7, "playerName": "Ünïcødé", "killPoints": 12_345_678_901, "ratio": 1.5},
        {"playerId": 8, "playerName": "b", "killPoints": 1, "ratio": 0.25}]}
    made = await ok(await client.post("/api/v1/snapshots?realm=K-JSON", content=json.dumps(doc).encode(),
                                      headers={"X-API-Key": key, "Content-Type": "application/json"}), 201)
    assert made["date"] == "2026-10-30" and made["idColumn"] == "player_id" and made["nameColumn"] == "player_name"
    assert made["columns"] == {"kill_points": "int", "ratio": "float"}
    board = await ok(await client.get("/api/v1/snapshots/K-JSON/leaderboard?metric=ratio"))
    assert [(p["name"], p["value"]) for p in board["players"]] == [("Ünïcødé", 1.5), ("b", 0.25)]
    score = await client.get("/api/v1/snapshots/K-JSON/leaderboard")
    assert score.status_code == 200 and score.json()["players"] == []  # no formula for this realm: no score
    assert (await client.get("/api/v1/snapshots/K-NONE/leaderboard")).status_code == 404
    assert (await client.get("/api/v1/snapshots/K-JSON/diff?from=2026-10-29")).status_code == 404
    assert ADMIN  # the admin token is not needed to read
