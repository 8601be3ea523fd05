"""Validation and the real raw_events table agree, field by field (issue: "one event wedges everyone").

Every field of every event type declares its ClickHouse column type (ingest/events.py). Here the
real table is read back and compared with the declaration, then every numeric field is sent at the
edges of its range — which must pass the door *and* go into ClickHouse — and one step beyond,
which must be refused at the door with the field named.
"""

from __future__ import annotations

import json
import uuid

import msgspec
import pytest
from conftest import new_server, settle

from ingest import rows
from ingest.decode import validate
from ingest.events import (
    COLUMN_TYPES,
    ENVELOPE_COLUMNS,
    EVENT_TYPES,
    STORAGE,
    STRUCTS,
    UnknownEvent,
    column_type,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVER_SET = {"server_id", "received_at", "extra"}  # filled by the server, not sent


def bounds(column: str) -> tuple[float, float] | None:
    """(lowest, highest) value the door lets through for a numeric column type, else None."""
    meta = getattr(COLUMN_TYPES[column], "__metadata__", ())
    for m in meta:
        if isinstance(m, msgspec.Meta) and m.ge is not None:
            return m.ge, m.le
    return None


def numeric_fields() -> list[tuple[str, str, str]]:
    """(event type, field, column type) of every numeric field sent on the wire."""
    out = []
    for etype, cls in STRUCTS.items():
        for name in cls.__struct_fields__:
            col = column_type(etype, name)
            if name not in SERVER_SET and name != "occurred_at" and col in COLUMN_TYPES and bounds(col):
                out.append((etype, name, col))
    return out


def beyond(value: float, column: str, up: bool) -> object:
    """One step past an edge: the next integer, or for floats a value the column cannot hold."""
    if column.startswith(("Int", "UInt")):
        return value + 1 if up else value - 1
    return "inf" if up else "-1e309" if column == "Float64" else "-3.5e38"


async def test_every_field_declares_its_real_column_type(app):
    """Each field's declared type is the type of the column that stores it (a player block's under
    its role's name, ingest/events.py STORAGE); a field kept in `extra` is stored as text."""
    found = await app.state.engines.query(
        "SELECT name, type FROM system.columns WHERE table = 'raw_events' AND database = currentDatabase()")
    real = dict(found)
    for name, declared in ENVELOPE_COLUMNS.items():
        assert real[name] == declared, f"envelope {name}: declared {declared}, table has {real[name]}"
    checked = 0
    for etype, cls in STRUCTS.items():
        columns, in_extra = STORAGE[etype]
        column_of = {field: column for column, field in columns.items()}
        for name in cls.__struct_fields__:
            declared = column_type(etype, name)
            assert declared is not None, f"{etype}.{name} has no declared column type"
            if name in in_extra:
                assert real["extra"] == "Map(String, String)"
            else:
                column = column_of.get(name, name)
                assert real.get(column) == declared, f"{etype}.{name} ({column}): declared {declared}, table has {real.get(column)}"
            checked += 1
    assert real["type"] == "LowCardinality(String)" and "type" in UnknownEvent.__struct_fields__
    assert checked > 300  # 27 types x their blocks: a declaration that shrank to nothing would pass vacuously


async def test_edges_of_every_range_insert_and_one_step_beyond_is_refused(app):
    fields = numeric_fields()
    assert {col for _, _, col in fields} >= {"UInt64", "Int32", "Float32", "Float64"}
    match_id = "edges_" + uuid.uuid4().hex[:12]
    items, expected = [], []
    for etype, name, col in fields:
        lo, hi = bounds(col)
        for value in (lo, hi):
            items.append({"type": etype, "match_id": match_id, name: str(value)})  # numbers as strings, as sent
            expected.append((etype, name, value))
    verdicts = validate(items, server_id=4343)
    assert not verdicts.rejected, verdicts.rejected[:3]
    pipeline = app.state.pipeline
    payload = rows.encode(verdicts.accepted)
    await pipeline.inserter.insert_once(pipeline.client, payload, uuid.uuid4().hex, len(items))  # raises if refused
    stored = await app.state.engines.query(
        "SELECT count() FROM raw_events WHERE match_id = {m:String}", {"m": match_id})
    assert stored[0][0] == len(items)
    # One step beyond each edge: refused at the door, the field named, the column type given.
    for etype, name, col in fields:
        lo, hi = bounds(col)
        for bad in (beyond(lo, col, up=False), beyond(hi, col, up=True), "nan"):
            if bad == "nan" and not col.startswith("Float"):
                continue
            out = validate([{"type": etype, name: str(bad)}], server_id=4343)
            assert not out.accepted, f"{etype}.{name}={bad} passed the door"
            assert out.rejected[0].field == name and col in out.rejected[0].reason, out.rejected[0]


async def test_the_poison_events_are_refused_at_the_door_and_their_neighbours_stored(client, app):
    """The events that used to wedge the spool (issue's list), between good ones."""
    _, token = await new_server(client, "poison")
    match_id = "poison_" + uuid.uuid4().hex[:12]
    good = {"type": "jump", "match_id": match_id, "player_name": "ok", "jump_height": "12"}
    poison = [
        {"type": "player_auth", "session_id": "s", "player_name": "x", "smf_member_id": -5},
        {"type": "player_auth", "player_name": "x", "player_smf_id": -1},
        {"type": "damage", "attacker_smf_id": 2**64 - 1, "victim_name": "v"},
        {"type": "weapon_fire", "player_name": "x", "ammo_remaining": 2**63 - 1},
    ]
    body = [good, *poison, good]
    resp = await client.post("/api/v1/ingest/events", content=json.dumps(body).encode(),
                             headers={"X-Server-Token": token, "Content-Type": "application/json"})
    assert resp.status_code == 202, resp.text
    out = resp.json()
    assert out["accepted"] == 2 and [e["index"] for e in out["errors"]] == [1, 2, 3, 4]
    assert [e["field"] for e in out["errors"]] == ["smf_member_id", "player_smf_id", "attacker_smf_id", "ammo_remaining"]
    await settle(app)
    rows = await app.state.engines.query("SELECT count() FROM raw_events WHERE match_id = {m:String}", {"m": match_id})
    assert rows[0][0] == 2
    assert not app.state.pipeline.spool.entries()


async def test_every_event_type_has_a_struct_and_every_numeric_column_a_range():
    assert set(STRUCTS) == set(EVENT_TYPES)
    for col in ("Int32", "UInt32", "UInt64", "Float32", "Float64"):
        assert bounds(col) is not None, col
