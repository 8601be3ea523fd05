"""Every event type the service knows, declared once, as typed msgspec Structs.

Source of the format: the OpenMOHAA tracker scripts (`examples/mohaa/README.md`): flat JSON
objects, an envelope (`type`, `match_id`, `session_id`, `timestamp`), player blocks of prefixed keys
(`attacker_`, `victim_`, `player_`, `target_`, `killer_` + `name`, `guid`, `smf_id`, `team`, `x`,
`y`, `z`, `pitch`, `yaw`, `stance`) and per-type keys. The Quake III importer (`ingest/q3log.py`)
sends the same format plus `player_score`, `player_rename` and, from Urban Terror logs, the
flag events and team scores.

The Struct field names are the wire names and the JSON names of the API. `raw_events` stores a
player in one of two roles (`STORAGE` below, clickhouse/0008): the first block a type declares is
its actor, the second its target (`attacker_name` of a kill is stored as `actor_name`, `victim_name`
as `target_name`); the envelope and the per-type keys keep their names. Encoding a Struct as JSON
(`omit_defaults`: a field the client did not send is left out) gives the readable form of an event
that the dead-letter store keeps; ingest/rows.py writes the RowBinary rows ClickHouse takes.

Units: `timestamp` is the game clock in seconds since the map loaded; `occurred_at` is the sender's
wall clock, epoch **milliseconds** or ISO-8601 on the wire, epoch seconds once validated;
`received_at` is our receipt time in epoch seconds (ms precision); positions in game units
(~1 inch), angles in degrees, `damage` in hit points, `duration` and `timelimit` in seconds/minutes
as the game sends them.
"""

from __future__ import annotations

from typing import Annotated, Union

import msgspec

# ClickHouse column type -> the wire value it accepts, with the column's own range, so that
# nothing validated here can make the insert fail for its content (a negative UInt64, an Int32
# past 2^31, a Float32 past 3.4e38, NaN or infinity). msgspec checks these bounds in C, on the
# fast path too. The column types are those of raw_events (clickhouse/0008_raw_events_narrow.sql);
# a test (tests/test_column_ranges.py) reads the real table and proves every field's declared type
# is its column's type and that each range's edges insert and one step beyond is refused here.
_FLOAT32_MAX = 3.4028234663852886e38
_FLOAT64_MAX = 1.7976931348623157e308
COLUMN_TYPES: dict[str, object] = {
    "String": str,
    "LowCardinality(String)": str,
    "Bool": bool,
    "Int32": Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)],
    "UInt32": Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)],
    # msgspec checks integer bounds within int64 only, and beyond them it accepts any size of int:
    # UInt64 columns take 0 .. 2^63-1 at the door (forum ids and the like never come near it).
    "UInt64": Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)],
    "Float32": Annotated[float, msgspec.Meta(ge=-_FLOAT32_MAX, le=_FLOAT32_MAX)],  # finite: NaN fails both
    "Float64": Annotated[float, msgspec.Meta(ge=-_FLOAT64_MAX, le=_FLOAT64_MAX)],
}
# The tracker sends a logged-in player's forum id as a JSON number in `_guid`; the column is a
# String and ClickHouse reads the number as its text (`input_format_json_read_numbers_as_strings`).
Float64 = COLUMN_TYPES["Float64"]
GUID_WIRE_TYPE = str | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]

# Suffix -> column type of one player block. Positions and angles are kept for every block of
# every event.
PLAYER_BLOCK: dict[str, str] = {
    "name": "String",
    "guid": "String",
    "smf_id": "UInt64",
    "team": "String",
    "x": "Float32",
    "y": "Float32",
    "z": "Float32",
    "pitch": "Float32",
    "yaw": "Float32",
    "stance": "String",
}

# type -> (player blocks, its own keys with their column types). The table *is* the declaration:
# the Structs below, their ranges, the docs and the OpenAPI schema are derived from it; the
# ClickHouse DDL is written by hand and checked against it by the tests.
EVENT_TYPES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "player_kill": (("attacker", "victim", "killer"),
                    {"weapon": "String", "damage": "Float32", "hitloc": "String", "mod": "String"}),
    "damage": (("attacker", "victim"), {"weapon": "String", "damage": "Float32", "hitloc": "String", "mod": "String"}),
    "weapon_fire": (("player",), {"weapon": "String", "ammo_remaining": "Int32"}),
    "weapon_hit": (("player", "target"), {"hitloc": "String", "weapon": "String", "damage": "Float32"}),
    "weapon_change": (("player",), {"old_weapon": "String", "new_weapon": "String"}),
    "player_spawn": (("player",), {}),
    "crouch": (("player",), {}),
    "ladder_mount": (("player",), {}),
    "ladder_dismount": (("player",), {}),
    "player_suicide": (("player", "killer"), {}),
    "jump": (("player",), {"jump_height": "Float32"}),
    "distance": (("player",), {"walked": "Float32", "distance": "Float32", "total_distance": "Float32"}),
    "player_auth": (("player",), {"smf_member_id": "UInt64", "smf_member_name": "String"}),
    "heartbeat": ((), {"round_number": "Int32", "allies_score": "Int32", "axis_score": "Int32",
                       "player_count": "Int32", "map_name": "LowCardinality(String)",
                       "gametype": "LowCardinality(String)"}),
    # `partial`: the importer saw only part of the match (a log that begins mid-game).
    "match_start": ((), {"map_name": "LowCardinality(String)", "gametype": "LowCardinality(String)",
                         "timelimit": "Float32", "fraglimit": "Int32", "maxclients": "Int32", "hostname": "String",
                         "partial": "Bool"}),
    "match_end": ((), {"map_name": "LowCardinality(String)", "gametype": "LowCardinality(String)",
                       "winning_team": "String", "duration": "Float32", "allies_score": "Int32",
                       "axis_score": "Int32", "red_score": "Int32", "blue_score": "Int32", "total_rounds": "Int32",
                       "reason": "String", "partial": "Bool"}),
    "round_start": ((), {"round_number": "Int32"}),
    "round_end": ((), {"round_number": "Int32", "winning_team": "String"}),
    "connect": (("player",), {}),
    "disconnect": (("player",), {"reason": "String"}),
    "team_join": (("player",), {"old_team": "String", "new_team": "String"}),
    "chat": (("player",), {"message": "String", "team_only": "Bool"}),
    "item_pickup": (("player",), {"item": "String"}),
    "grenade_throw": (("player",), {"projectile": "String"}),
    "grenade_explode": (("player",), {"projectile": "String"}),
    "player_score": (("player",), {"score": "Int32", "ping": "Int32"}),
    "player_rename": (("player",), {"old_name": "String"}),
    # Capture the flag (Urban Terror's `Flag:` lines, ingest/q3log.py): `flag` is the flag's colour,
    # red or blue; a flag that went home by itself has no player.
    "flag_capture": (("player",), {"flag": "String"}),
    "flag_return": (("player",), {"flag": "String"}),
    "flag_drop": (("player",), {"flag": "String"}),
}

# The envelope's columns. `occurred_at` arrives as epoch ms or ISO-8601 and is checked for
# plausibility (2000-01-01 .. now + 1 day) by ingest/decode.py before it becomes a DateTime64.
ENVELOPE_COLUMNS: dict[str, str] = {
    "match_id": "String",
    "session_id": "String",
    "timestamp": "Float64",
    "occurred_at": "DateTime64(3, 'UTC')",
    "map_name": "LowCardinality(String)",
    "gametype": "LowCardinality(String)",
    "server_id": "UInt32",
    "received_at": "DateTime64(3, 'UTC')",
    "extra": "Map(String, String)",
}

# Wire spellings that mean the same thing as one of our fields (match_end sends `map` or `map_name`).
ALIASES: dict[str, dict[str, str]] = {"match_end": {"map": "map_name"}}

# Fields the server fills in; a client that sends them has them kept in `extra` instead.
SERVER_OWNED = frozenset({"server_id", "received_at", "extra"})


class Envelope(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    """The envelope every event carries, plus the fields the server sets (`server_id`,
    `received_at`, `extra`)."""

    match_id: str = ""
    session_id: str = ""
    timestamp: Float64 | None = None
    occurred_at: float | str | None = None
    map_name: str = ""
    gametype: str = ""
    server_id: int = 0
    received_at: float = 0.0
    extra: dict[str, str] = {}


class Event(Envelope, tag_field="type", forbid_unknown_fields=True):
    """Base of the known event types: the envelope, tagged by `type`.

    `gc=False`: events hold only strings, numbers and a dict of strings, so they cannot be part of a
    reference cycle; untracked, the events of queued requests no longer make every garbage
    collection pass walk them.

    Unknown keys are refused at this level so that the one-call decode of a whole body fails over
    to the per-event path (`ingest/decode.py`), which keeps them in `extra` instead of dropping them.

    `match_id` `"no_match"` (the tracker's value before its map-start hook runs) is replaced by the
    `session_id`, so every event belongs to some match.
    """


class UnknownEvent(Envelope):
    """An event of a type we do not know: stored with its envelope and all its keys in `extra`,
    feeding no aggregate."""

    type: str


def wire_type(name: str, column_type: str) -> object:
    """The msgspec type a field named `name` with column type `column_type` accepts (its range included)."""
    return GUID_WIRE_TYPE if name.endswith("_guid") else COLUMN_TYPES[column_type]


def columns_of(blocks: tuple[str, ...], own: dict[str, str]) -> dict[str, str]:
    """Field name -> column type of an event type's player blocks and own keys (envelope excluded)."""
    cols = {f"{prefix}_{suffix}": typ for prefix in blocks for suffix, typ in PLAYER_BLOCK.items()}
    cols.update((name, typ) for name, typ in own.items() if name not in ENVELOPE_COLUMNS)
    return cols


def _fields_for(blocks: tuple[str, ...], own: dict[str, str]) -> list[tuple[str, object, None]]:
    return [(name, wire_type(name, typ) | None, None) for name, typ in columns_of(blocks, own).items()]


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


STRUCTS: dict[str, type[Event]] = {
    name: msgspec.defstruct(_camel(name), _fields_for(blocks, extra), bases=(Event,), tag=name,
                            module=__name__)
    for name, (blocks, extra) in EVENT_TYPES.items()
}

# Event classes whose content matters after commit (live state, tournament results, achievements
# and `!claim` in chat); the rest (shots, hits: most of the traffic) only say "this match is alive".
NOTABLE: dict[type, str] = {STRUCTS[t]: t for t in ("player_kill", "match_start", "match_end", "heartbeat",
                                                    "connect", "disconnect", "player_spawn", "team_join",
                                                    "player_auth", "chat", "distance")}

EventUnion = Union[tuple(STRUCTS.values())]  # noqa: UP007 (a runtime tuple of types)

# Keys a client may send for each type (struct fields minus the ones the server owns).
WIRE_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(cls.__struct_fields__) - SERVER_OWNED | {"type"} for name, cls in STRUCTS.items()
}
UNKNOWN_WIRE_FIELDS = frozenset(UnknownEvent.__struct_fields__) - SERVER_OWNED


_COLUMN_OF: dict[str, dict[str, str]] = {
    name: {**ENVELOPE_COLUMNS, **columns_of(blocks, own)} for name, (blocks, own) in EVENT_TYPES.items()
}


def column_type(etype: str, field: str) -> str | None:
    """The raw_events column type of `field` of events of type `etype` (None when not a column of it)."""
    return _COLUMN_OF.get(etype, ENVELOPE_COLUMNS).get(field)


# ---- How raw_events stores each type (clickhouse/0008_raw_events_narrow.sql) ---------------------
# An event has at most two players that matter to an aggregate: the one acting (attacker, player)
# and the one acted upon (victim, weapon_hit's target, player_suicide's killer). raw_events keeps
# these two roles instead of one block of columns per wire prefix (five blocks of ten, most of them
# empty in any row: insert and merge costs grow with the column count, bench/RESULTS.md). The
# third block of a player_kill (`killer_`, which the trackers do not fill today) is kept in `extra`
# under its wire keys, as text, like any key without a column.
ROLES = ("actor", "target")


def roles_of(etype: str) -> dict[str, str]:
    """Wire prefix -> role of the player blocks of `etype` that have one (the first two blocks)."""
    blocks = EVENT_TYPES[etype][0] if etype in EVENT_TYPES else ()
    return dict(zip(blocks, ROLES))


def _stored_columns() -> dict[str, str]:
    cols = {name: typ for name, typ in ENVELOPE_COLUMNS.items() if name != "extra"}
    cols["type"] = "LowCardinality(String)"
    for role in ROLES:
        cols.update((f"{role}_{suffix}", typ) for suffix, typ in PLAYER_BLOCK.items())
    for _, own in EVENT_TYPES.values():
        for name, typ in own.items():
            if name in ENVELOPE_COLUMNS:
                continue
            if cols.setdefault(name, typ) != typ:
                raise TypeError(f"{name} is declared as {cols[name]} and as {typ}: one column, one type")
    cols["extra"] = ENVELOPE_COLUMNS["extra"]
    return cols


# raw_events' columns that an insert writes (its MATERIALIZED columns are computed by ClickHouse),
# name -> column type.
STORED_COLUMNS: dict[str, str] = _stored_columns()


def _storage_of(etype: str) -> tuple[dict[str, str], tuple[str, ...]]:
    blocks, own = EVENT_TYPES[etype]
    roles = roles_of(etype)
    columns = {name: name for name in ENVELOPE_COLUMNS if name != "extra"}
    in_extra: list[str] = []
    for prefix in blocks:
        for suffix in PLAYER_BLOCK:
            if prefix in roles:
                columns[f"{roles[prefix]}_{suffix}"] = f"{prefix}_{suffix}"
            else:
                in_extra.append(f"{prefix}_{suffix}")
    columns.update((name, name) for name in own if name not in ENVELOPE_COLUMNS)
    return columns, tuple(in_extra)


# type -> ({raw_events column: the Struct field stored in it}, Struct fields kept in `extra` as text).
# `type` and `extra` themselves are not listed: every row has them.
STORAGE: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {etype: _storage_of(etype) for etype in EVENT_TYPES}
