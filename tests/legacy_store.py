"""Data dirs as the release before clickhouse/0008 left them, and dumps of a data dir's ClickHouse
store, for tests/test_migration.py. A script: chDB opens one data path per process.

    python tests/legacy_store.py build DIR      # the old schema (0001-0007), rows stored as the old
                                                # release stored them, a write-ahead log and a spool
                                                # left behind by a crash
    python tests/legacy_store.py reference DIR  # the old schema with every event of `build` stored
                                                # once: what the old release holds had it not crashed
    python tests/legacy_store.py dump DIR OUT   # every raw_events row and every aggregate, as JSON

The old release stored an event as the JSONEachRow line of its Struct (`msgspec encode_lines`, the
Struct field names being the old column names) with the insert settings below; the Structs are
unchanged since, so this is that path, byte for byte. Its write-ahead log chunk records and
spooled batches were those same lines.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import uuid
from pathlib import Path

import clickhouse_connect
import msgspec

from fragstats.migrations import CLICKHOUSE_DIR, migrate_clickhouse
from ingest.decode import validate
from ingest.events import EVENT_TYPES, PLAYER_BLOCK
from ingest.wal import WriteAheadLog

OLD_INSERT_SETTINGS = {
    "insert_deduplicate": 1, "deduplicate_blocks_in_dependent_materialized_views": 1, "max_threads": 1,
    "max_insert_threads": 1, "input_format_parallel_parsing": 0, "input_format_json_read_numbers_as_strings": 1,
    "input_format_skip_unknown_fields": 0,
}
RECEIVED_S = 1_790_000_000.0  # 2026-09-21: one fixed receipt time per request, ms apart


def _value(typ: str, i: int) -> str:
    return {"Float32": f"{i * 1.25 - 7.5}", "Int32": str(i - 3), "UInt64": str(10 + i), "Bool": str(i % 2),
            "LowCardinality(String)": f"dm/map{i % 3}"}.get(typ, f"text {i} é" if i % 4 == 0 else f"t{i}")


def _block(prefix: str, i: int, full: bool) -> dict:
    out = {f"{prefix}_name": ["^1Ann", "Bob", "Çelik", "world", "Long" * 40][i % 5], f"{prefix}_team": ["allies", "german", ""][i % 3],
           f"{prefix}_x": f"{i * 33.3 - 500}", f"{prefix}_y": f"{-i * 17.1}"}
    out[f"{prefix}_guid"] = [f"unauth_{i % 7}", 424242 + i, "", f"g{i % 5}"][i % 4]  # a forum id may come as a number
    if full:
        out.update({f"{prefix}_z": "8.5", f"{prefix}_pitch": f"{i % 90}", f"{prefix}_yaw": f"{i * 7 % 360}",
                    f"{prefix}_stance": "crouch", f"{prefix}_smf_id": str(1000 + i)})
    return out


def items(n_matches: int = 6, per_type: int = 3) -> list[dict]:
    """Every declared type with its keys (some with all of a block, some with part of it), types we
    do not declare with keys of their own, keys without a column, a kill with a killer block."""
    out = []
    i = 0
    for m in range(n_matches):
        for etype, (blocks, own) in EVENT_TYPES.items():
            for k in range(per_type):
                i += 1
                ev = {"type": etype, "match_id": f"mig_{m:02d}", "session_id": f"sess_{m:02d}", "timestamp": f"{i / 10}"}
                if k != 2:  # else the map comes from the match context, if it is known by then
                    ev["map_name"] = f"dm/map{m % 3}"
                if k:
                    ev["occurred_at"] = str(int(RECEIVED_S * 1000) - i * 1000)
                for prefix in blocks:
                    ev.update(_block(prefix, i + len(prefix), full=k != 1))
                for key, typ in own.items():
                    if key != "map_name" and (k != 2 or key in ("weapon", "damage")):
                        ev[key] = _value(typ, i)
                if k == 0:
                    ev["killstreak"] = str(i)  # no column: kept in extra
                out.append(ev)
        out.append({"type": "bomb_planted", "match_id": f"mig_{m:02d}", "timestamp": "5", "player_name": "Z",
                    "site": "A", "points": 5})
        out.append({"type": "weapon_fire", "match_id": "no_match", "session_id": f"sess_{m:02d}",
                    "player_name": "NoMatch", "weapon": "MP40"})
    return out


def requests() -> list[list]:
    """The events of `items`, validated as the door does, in requests of 10 (one receipt time each)."""
    raw = items()
    out = []
    for r in range(0, len(raw), 10):
        verdicts = validate(raw[r:r + 10], server_id=7 + (r // 10) % 3, received_s=RECEIVED_S + r / 1000)
        assert not verdicts.rejected, verdicts.rejected
        out.append(verdicts.accepted)
    return out


# The files of issue 12: the release before them had every other migration (also those numbered
# after them, which then run before them on an upgrade).
NARROWING = ("0008", "0009", "0010", "0011", "0012")


def old_folder(tmp: Path) -> Path:
    """The ClickHouse migrations of the release before clickhouse/0008-0011."""
    tmp.mkdir(parents=True, exist_ok=True)
    for item in CLICKHOUSE_DIR.iterdir():
        if item.name.endswith(".sql") and not item.name.startswith(NARROWING):
            (tmp / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp


def old_client(data_dir: Path):
    (data_dir / "clickhouse").mkdir(parents=True, exist_ok=True)
    client = clickhouse_connect.get_client(dsn=f"chdb://{data_dir / 'clickhouse'}")
    migrate_clickhouse(client, old_folder(data_dir / "old-ddl"))
    return client


def old_insert(client, events: list, token: str | None = None) -> None:
    payload = msgspec.json.Encoder().encode_lines(events)
    client.raw_insert("raw_events", None, payload, fmt="JSONEachRow",
                      settings=dict(OLD_INSERT_SETTINGS, insert_deduplication_token=token or uuid.uuid4().hex))


# How the requests end up in `build`: the first ones stored; then a batch stored whose log
# record still says "begun" (the crash came before `done`); a batch begun and not stored; two
# chunks queued; one chunk done; the last request spooled (its inserts kept failing).
STORED, BEGUN_STORED, BEGUN, QUEUED, DONE = range(5)


def plan(n: int) -> list[int]:
    fates = [STORED] * (n - 8) + [BEGUN_STORED, BEGUN_STORED, BEGUN, QUEUED, QUEUED, DONE, STORED]
    return fates + [-1]  # the last one: spooled


async def _build(data_dir: Path) -> None:
    reqs = requests()
    fates = plan(len(reqs))
    client = old_client(data_dir)
    encoder = msgspec.json.Encoder()
    wal = WriteAheadLog(data_dir / "wal", segment_bytes=1 << 20)
    wal.open()
    begun_stored, begun = [], []
    for events, fate in zip(reqs, fates):
        if fate == STORED:
            old_insert(client, events)
        elif fate == -1:
            (data_dir / "spool").mkdir(exist_ok=True)
            token = uuid.uuid4().hex
            (data_dir / "spool" / f"1790000000000-{token}-{len(events)}.ndjson").write_bytes(encoder.encode_lines(events))
        else:
            lsn = await wal.append(encoder.encode_lines(events), len(events))
            if fate == BEGUN_STORED:
                begun_stored.append((lsn, events))
            elif fate == BEGUN:
                begun.append((lsn, events))
            elif fate == DONE:
                old_insert(client, events)
                wal.done([lsn])
    lsns = [lsn for lsn, _ in begun_stored]
    token = wal.batch_token(lsns)
    await wal.log_batch(token, lsns)
    old_insert(client, [ev for _, evs in begun_stored for ev in evs], token)  # committed; `done` never written
    lsns = [lsn for lsn, _ in begun]
    await wal.log_batch(wal.batch_token(lsns), lsns)
    await wal.flush_pending()
    wal.close()


def reference(data_dir: Path) -> None:
    client = old_client(data_dir)
    reqs = requests()
    for r in range(0, len(reqs), 5):
        old_insert(client, [ev for evs in reqs[r:r + 5] for ev in evs])


# ---- dumps ----------------------------------------------------------------------------------------

AGGREGATES = {
    "player_daily": ("day, server_id, player_id", "max(player_name), sum(kills), sum(deaths), sum(suicides), "
                     "sum(team_kills), sum(world_deaths), sum(headshots), round(sum(damage_dealt), 3), "
                     "round(sum(damage_taken), 3), sum(shots_fired), sum(shots_hit)"),
    "player_weapon": ("weapon, server_id, player_id", "max(player_name), sum(kills), sum(deaths), sum(headshots), "
                      "round(sum(damage_dealt), 3), sum(shots_fired), sum(shots_hit)"),
    "player_map": ("map_name, server_id, player_id", "max(player_name), sum(kills), sum(deaths), sum(suicides), "
                   "sum(team_kills), sum(world_deaths), sum(headshots)"),
    "server_hourly": ("hour, server_id", "sum(events), sum(kills), sum(matches_started), uniqArrayMerge(players)"),
    "matches": ("server_id, match_id", "max(session_id), max(map_name), max(gametype), min(started_at), "
                "max(last_event_at), max(has_end), sum(events), sum(kills), uniqArrayMerge(players)"),
    "player_match": ("player_id, server_id, match_id", "max(player_name), max(map_name), min(started_at), sum(kills), "
                     "sum(deaths), sum(suicides), sum(team_kills), sum(world_deaths), sum(headshots), "
                     "round(sum(damage_dealt), 3), sum(shots_fired), sum(shots_hit)"),
    # views of later migrations (0014, 0015) that read raw_events under the wire's names
    "server_hourly_types": ("hour, server_id, type", "sum(events)"),
    "player_match_firsts": ("server_id, match_id, player_id", "min(first_connect), min(first_kill)"),
}


def _plain(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def dump(data_dir: Path, out: Path) -> None:
    client = clickhouse_connect.get_client(dsn=f"chdb://{data_dir / 'clickhouse'}")
    columns = [r[0] for r in client.query(
        "SELECT name FROM system.columns WHERE table = 'raw_events' AND database = currentDatabase()").result_rows]
    result = client.query(f"SELECT {', '.join(columns)} FROM raw_events")
    raw = [{c: _plain(v) for c, v in zip(result.column_names, row)} for row in result.result_rows]
    aggregates = {}
    tables = {r[0] for r in client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows}
    for table, (key, values) in AGGREGATES.items():
        if table not in tables:
            continue
        aggregates[table] = _plain(client.query(f"SELECT {key}, {values} FROM {table} GROUP BY {key} ORDER BY {key}").result_rows)
    if "heatmap" in tables:
        sql = "SELECT map_name, player_id, kind, x, y, sum(count) FROM heatmap GROUP BY ALL ORDER BY ALL"
    else:  # the release before clickhouse/0009
        sql = ("SELECT map_name, player_id, if(heat = 'kill', 'kills', 'deaths') AS kind, cell_x, cell_y, sum(events) "
               "FROM heatmap_cells GROUP BY ALL ORDER BY ALL")
    aggregates["heatmap"] = _plain(client.query(sql).result_rows)
    out.write_text(json.dumps({"raw_events": raw, "aggregates": aggregates, "tables": sorted(tables),
                               "player_block": sorted(PLAYER_BLOCK)}))


def main() -> None:
    command, data_dir = sys.argv[1], Path(sys.argv[2])
    if command == "build":
        asyncio.run(_build(data_dir))
    elif command == "reference":
        reference(data_dir)
    elif command == "dump":
        dump(data_dir, Path(sys.argv[3]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
