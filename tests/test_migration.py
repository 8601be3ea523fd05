"""An upgrade over a data dir of the release before clickhouse/0008 (tests/legacy_store.py): the
migrations convert raw_events and the heatmap in place, the write-ahead log and the spool it left
behind after a crash (JSONEachRow records, a begun batch that had in fact committed, one that had
not, queued chunks) are stored once each, and afterwards every stored field and every aggregate is
what the old release holds had it stored the same events without crashing.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from conftest import ADMIN

from ingest import rows
from ingest.events import (
    ENVELOPE_COLUMNS,
    PLAYER_BLOCK,
    STORAGE,
    STORED_COLUMNS,
    roles_of,
)

HERE = Path(__file__).resolve().parent
ROLE_IDS = ("actor_id", "target_id")
# The wire's names of the player blocks, ALIAS columns of the narrow table (clickhouse/0008).
WIRE_NAMES = tuple(f"{prefix}_{suffix}" for prefix in ("attacker", "victim", "player", "killer")
                   for suffix in (*PLAYER_BLOCK, "id"))


def script(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    subprocess.run([sys.executable, str(HERE / "legacy_store.py"), *args], check=True, env=env, timeout=600)


def load(data_dir: Path, out: Path) -> dict:
    script("dump", str(data_dir), str(out))
    return json.loads(out.read_text())


def f32(value) -> float | None:
    """A number as a Float32 column holds it (None for NaN / not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else round(struct.unpack("<f", struct.pack("<f", number))[0], 4)


def expected_row(old: dict) -> dict:
    """The row the narrow raw_events must hold for a row of the old one (ingest/events.py STORAGE):
    each column from the old column its type maps to, else its default; a kill's killer block in
    `extra` (values that were not the old columns' defaults)."""
    etype = old["type"]
    columns, in_extra = STORAGE.get(etype, ({}, ()))
    out = {}
    for column in STORED_COLUMNS:
        if column == "extra":
            continue
        source = column if column == "type" or column in ENVELOPE_COLUMNS else columns.get(column)
        default = rows.default_of(column)
        out[column] = old[source] if source else (None if default != default else default)
    extra = dict(old["extra"])
    for name in in_extra:  # NaN (None here), '' and a forum id of 0 are what nothing sent left
        value = old[name]
        if value is not None and value != "" and not (name.endswith("smf_id") and value == 0):
            extra[name] = value
    out["extra"] = extra
    roles = {role: prefix for prefix, role in roles_of(etype).items()}
    for role_id in ROLE_IDS:
        prefix = roles.get(role_id.split("_")[0])
        out[role_id] = old[f"{prefix}_id"] if prefix else ""
    out["kill_kind"] = old["kill_kind"]
    out["headshot"] = old["headshot"]
    return out


def canonical(row: dict) -> tuple:
    """A row as a comparable tuple: Float32 values at Float32 precision, `extra` numbers likewise."""
    items = []
    for column in sorted(row):
        value = row[column]
        if column == "extra":
            value = tuple(sorted((k, f32(v) if k.endswith(("_x", "_y", "_z", "_pitch", "_yaw")) else str(v))
                                 for k, v in value.items()))
        elif STORED_COLUMNS.get(column) == "Float32" or (isinstance(value, float) and column != "timestamp"):
            value = f32(value)
        items.append((column, value))
    return tuple(items)


def wait_stored(url: str, expect_recovered: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = httpx.get(url + "/api/v1/ingest/status", headers=ADMIN, timeout=30).json()
        if st["queued"] == 0 and st["in_flight"] == 0 and st["spooled"] == 0 and st["recovered"] == expect_recovered:
            return st
        assert time.monotonic() < deadline, st
        time.sleep(0.3)


def test_upgrade_converts_the_store_and_recovers_the_old_log_and_spool(tmp_path, serve_factory):
    legacy, reference = tmp_path / "legacy", tmp_path / "reference"
    script("build", str(legacy))
    script("reference", str(reference))
    before = load(legacy, tmp_path / "before.json")
    assert "heatmap_cells" in before["tables"] and "attacker_name" in before["raw_events"][0]
    stored_before = len(before["raw_events"])

    serve = serve_factory(data_dir=legacy).start(timeout=180)
    try:
        # The log held 5 requests of 10 events not marked stored: 2 begun (and in fact stored before
        # the crash), 1 begun and not stored, 2 queued. The spool held one more.
        status = wait_stored(serve.url, expect_recovered=50)
        log = serve.log.read_text()
        assert "was stored then: not inserted again" in log
        timeline = httpx.get(serve.url + "/api/v1/stats/match/mig_01/timeline", timeout=30).json()
        kills = [e for e in timeline["events"] if e["type"] == "player_kill"]
        assert kills and all("attacker_name" in e and "victim_name" in e for e in kills)
        assert not any(k.startswith("killer_") for e in kills for k in e.get("extra", {}))
        assert status["dead_lettered"] == 0
    finally:
        serve.stop()

    after = load(legacy, tmp_path / "after.json")
    expected = load(reference, tmp_path / "reference.json")
    assert {"heatmap", "raw_events"} <= set(after["tables"])
    assert not {"heatmap_cells", "raw_events_next"} & set(after["tables"])
    # Every event once: the old rows, the log's and the spool's.
    assert len(after["raw_events"]) == len(expected["raw_events"]) > stored_before
    # Every stored field: each row of the old release, mapped to the two roles, is a row now.
    want = Counter(canonical(expected_row(row)) for row in expected["raw_events"])
    got = Counter(canonical({c: row[c] for c in (*STORED_COLUMNS, *ROLE_IDS, "kill_kind", "headshot")})
                  for row in after["raw_events"])
    assert got == want, (list((got - want).elements())[:2], list((want - got).elements())[:2])
    # Read under the wire's names, each row gives back what the old columns of those names held.
    key = ("type", "server_id", "received_at", "match_id", "timestamp", "session_id")
    want = Counter(canonical({c: row[c] for c in (*key, *WIRE_NAMES)}) for row in expected["raw_events"])
    got = Counter(canonical({c: row[c] for c in (*key, *WIRE_NAMES)}) for row in after["raw_events"])
    assert got == want, (list((got - want).elements())[:1], list((want - got).elements())[:1])
    # Every aggregate, the heatmap by its new names.
    for table, values in expected["aggregates"].items():
        assert after["aggregates"][table] == values, table
    sizes = {table: len(values) for table, values in expected["aggregates"].items()}
    assert all(sizes.values()) and sum(sizes.values()) > 200, sizes  # not a comparison of nothing
    assert set(PLAYER_BLOCK) == set(after["player_block"])
