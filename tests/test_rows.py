"""Every event type through the RowBinary rows of ingest/rows.py into the real raw_events (chDB),
every column read back and compared with the decoded event it came from; and the rows read back
in Python (isolation, dead letters) give the event again.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import uuid

import msgspec
import pytest

from ingest import rows
from ingest.decode import validate
from ingest.events import (
    EVENT_TYPES,
    PLAYER_BLOCK,
    STORAGE,
    STORED_COLUMNS,
    UnknownEvent,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

LONG = "Ω" * 70 + "x" * 100  # non-ASCII and over 127 bytes: the encoder's slow path for strings


def wire_value(name: str, typ: str, i: int) -> object:
    """A value for field `name` of column type `typ`, as a tracker sends it (numbers as strings)."""
    if name.endswith("_guid"):
        return 90000 + i if i % 2 else f"guid-{i}"  # a forum id may come as a number
    return {"Float32": f"{i * 3.3 - 1000.7}", "Int32": str(-(2**31) + i if i % 3 == 0 else i), "Bool": "1",
            "UInt64": str(2**63 - 1 - i), "Float64": f"{i * 0.25}"}.get(typ, LONG if i % 5 == 0 else f"v{i} ü")


def items(match_id: str) -> list[dict]:
    """Per declared type one event with every field and one with the envelope only; a type we do
    not declare with keys of its own; a known type with a key without a column."""
    out = []
    for n, (etype, (blocks, own)) in enumerate(EVENT_TYPES.items()):
        full = {"type": etype, "match_id": match_id, "session_id": f"s{n}", "timestamp": f"{n}.5",
                "occurred_at": str(1_700_000_000_000 + n)}
        i = 0
        for prefix in blocks:
            for suffix, typ in PLAYER_BLOCK.items():
                i += 1
                full[f"{prefix}_{suffix}"] = wire_value(f"{prefix}_{suffix}", typ, n * 31 + i)
        for key, typ in own.items():
            i += 1
            full[key] = wire_value(key, typ, n * 31 + i)
        full.setdefault("map_name", f"dm/m{n}")
        out += [full, {"type": etype, "match_id": match_id, "timestamp": f"{n}.25"}]
    out.append({"type": "bomb_planted", "match_id": match_id, "session_id": "sb", "site": "B", "points": 3})
    out.append({"type": "jump", "match_id": match_id, "player_name": "J", "combo": "x3", "timestamp": "999"})
    return out


def as_float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def text(value: object) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def expected_columns(ev) -> dict:
    """What each raw_events column must hold for the decoded event `ev` (ingest/events.py STORAGE)."""
    etype = ev.type if isinstance(ev, UnknownEvent) else type(ev).__struct_config__.tag
    columns, in_extra = STORAGE.get(etype, ({c: c for c in UnknownEvent.__struct_fields__ if c in STORED_COLUMNS}, ()))
    out = {}
    for column, typ in STORED_COLUMNS.items():
        field = columns.get(column)
        value = getattr(ev, field) if field else None
        if column == "type":
            value = etype
        elif column == "extra":
            value = dict(ev.extra)
            for name in in_extra:
                held = getattr(ev, name)  # kept unless it is what an unsent field's column holds
                if held is not None and held != "" and not (name.endswith("smf_id") and held == 0):
                    value[name] = text(held)
        elif column == "occurred_at":
            value = ev.received_at if value is None else value
        if column in ("occurred_at", "received_at"):
            value = dt.datetime.fromtimestamp(round(value * 1000) / 1000, dt.timezone.utc).replace(tzinfo=None)
        elif value is None:
            value = rows.default_of(column)
        elif typ == "Float32":
            value = as_float32(value)
        elif column.endswith("_guid"):
            value = str(value)
        out[column] = value
    return out


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


async def test_every_type_round_trips_through_rowbinary_column_by_column(app):
    match_id = "rows_" + uuid.uuid4().hex[:12]
    verdicts = validate(items(match_id), server_id=4711)
    assert not verdicts.rejected, verdicts.rejected
    events = verdicts.accepted
    payload = rows.encode(events)
    pipeline = app.state.pipeline
    await pipeline.inserter.insert_once(pipeline.client, payload, uuid.uuid4().hex, len(events))
    names = list(STORED_COLUMNS)
    found = await app.state.engines.query(
        f"SELECT {', '.join(names)} FROM raw_events WHERE match_id = {{m:String}}", {"m": match_id})
    assert len(found) == len(events) == 2 * len(EVENT_TYPES) + 2
    stored = {(r[names.index("type")], r[names.index("session_id")], r[names.index("timestamp")]): dict(zip(names, r))
              for r in found}
    checked = 0
    for ev in events:
        want = expected_columns(ev)
        got = stored[(want["type"], want["session_id"], want["timestamp"])]
        for column in names:
            assert same(got[column], want[column]), f"{want['type']}.{column}: stored {got[column]!r}, sent {want[column]!r}"
            checked += 1
    assert checked == len(events) * len(names)
    # Read back in Python: every field sent comes back (Float32 at its precision), the rest is unset.
    back = rows.decode(payload)
    for ev, again in zip(events, back):
        assert type(again) is type(ev)
        for name in ev.__struct_fields__:
            sent, got = getattr(ev, name), getattr(again, name)
            if name in ("occurred_at", "received_at"):
                assert got == round((sent if sent is not None else ev.received_at) * 1000) / 1000, name
            elif sent is None or sent == "" or (sent == 0 and name != "timestamp"):
                assert got in (None, "", 0, {}), f"{name}: {got!r}"
            elif isinstance(sent, float):
                assert got == as_float32(sent) or got == sent, f"{name}: {got!r} != {sent!r}"
            else:
                assert got == sent or str(got) == str(sent), f"{name}: {got!r} != {sent!r}"


async def test_rows_split_and_read_back_as_json_for_the_dead_letter_store():
    events = validate(items("split"), server_id=1).accepted
    payload = rows.encode(events)
    parts = rows.split(payload)
    assert len(parts) == len(events) and b"".join(parts) == payload
    assert payload[:1] in (b"\x00", b"\x01") and not rows.is_json_lines(payload)
    for part, ev in zip(parts, events):
        readable = msgspec.json.decode(rows.readable(part))
        assert readable["match_id"] == "split" and readable.get("type", getattr(ev, "type", None))
        # The readable row is an event again: converting it gives the same row.
        assert rows.from_json_lines(rows.readable(part) + b"\n") == part
    with pytest.raises(ValueError):
        rows.split(payload[:-3])
