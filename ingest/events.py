"""Every event type the service knows, declared once, as typed msgspec Structs.

Source of the format: the OpenMOHAA tracker scripts (`../shared/data/mohaa/README.md`): flat JSON
objects, an envelope (`type`, `match_id`, `session_id`, `timestamp`), player blocks of prefixed keys
(`attacker_`, `victim_`, `player_`, `target_`, `killer_` + `name`, `guid`, `smf_id`, `team`, `x`,
`y`, `z`, `pitch`, `yaw`, `stance`) and per-type keys. The Quake III importer (`ingest/q3log.py`)
sends the same format plus `player_score` and `player_rename`.

The Struct field names are the `raw_events` column names and the JSON names of the API: one
spelling from the wire to the column. Encoding a Struct gives its `JSONEachRow` line for
ClickHouse (`omit_defaults`: a field the client did not send is left to the column default).

Units: `timestamp` is the game clock in seconds since the map loaded; `occurred_at` is the sender's
wall clock, epoch **milliseconds** or ISO-8601 on the wire, epoch seconds once validated;
`received_at` is our receipt time in epoch seconds (ms precision); positions in game units
(~1 inch), angles in degrees, `damage` in hit points, `duration` and `timelimit` in seconds/minutes
as the game sends them.
"""

from __future__ import annotations

from typing import Union

import msgspec

PLAYER_PREFIXES = ("attacker", "victim", "player", "target", "killer")

# Suffix -> type of one player block. Positions and angles are kept for every block of every event.
PLAYER_BLOCK: dict[str, object] = {
    "name": str,
    "guid": str | int,
    "smf_id": int,
    "team": str,
    "x": float,
    "y": float,
    "z": float,
    "pitch": float,
    "yaw": float,
    "stance": str,
}

# type -> (player blocks, extra keys with their types). The table *is* the declaration: the
# Structs below, the docs and the ClickHouse column list are all derived from it.
EVENT_TYPES: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
    "player_kill": (("attacker", "victim", "killer"), {"weapon": str, "damage": float, "hitloc": str, "mod": str}),
    "damage": (("attacker", "victim"), {"weapon": str, "damage": float, "hitloc": str, "mod": str}),
    "weapon_fire": (("player",), {"weapon": str, "ammo_remaining": int}),
    "weapon_hit": (("player", "target"), {"hitloc": str, "weapon": str, "damage": float}),
    "weapon_change": (("player",), {"old_weapon": str, "new_weapon": str}),
    "player_spawn": (("player",), {}),
    "crouch": (("player",), {}),
    "ladder_mount": (("player",), {}),
    "ladder_dismount": (("player",), {}),
    "player_suicide": (("player", "killer"), {}),
    "jump": (("player",), {"jump_height": float}),
    "distance": (("player",), {"walked": float, "distance": float, "total_distance": float}),
    "player_auth": (("player",), {"smf_member_id": int, "smf_member_name": str}),
    "heartbeat": ((), {"round_number": int, "allies_score": int, "axis_score": int, "player_count": int,
                       "map_name": str, "gametype": str}),
    "match_start": ((), {"map_name": str, "gametype": str, "timelimit": float, "fraglimit": int,
                         "maxclients": int, "hostname": str}),
    "match_end": ((), {"map_name": str, "gametype": str, "winning_team": str, "duration": float,
                       "allies_score": int, "axis_score": int, "total_rounds": int, "reason": str}),
    "round_start": ((), {"round_number": int}),
    "round_end": ((), {"round_number": int, "winning_team": str}),
    "connect": (("player",), {}),
    "disconnect": (("player",), {"reason": str}),
    "team_join": (("player",), {"old_team": str, "new_team": str}),
    "chat": (("player",), {"message": str, "team_only": bool}),
    "item_pickup": (("player",), {"item": str}),
    "grenade_throw": (("player",), {"projectile": str}),
    "grenade_explode": (("player",), {"projectile": str}),
    "player_score": (("player",), {"score": int, "ping": int}),
    "player_rename": (("player",), {"old_name": str}),
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
    timestamp: float | None = None
    occurred_at: float | str | None = None
    map_name: str = ""
    gametype: str = ""
    server_id: int = 0
    received_at: float = 0.0
    extra: dict[str, str] = {}


class Event(Envelope, tag_field="type", forbid_unknown_fields=True):
    """Base of the known event types: the envelope, tagged by `type`.

    `gc=False`: events hold only strings, numbers and a dict of strings, so they cannot be part of a
    reference cycle; untracked, the hundreds of thousands of them waiting in the queue no longer
    make every garbage collection pass walk them (measured: 183k -> see bench/RESULTS.md events/s
    decoded with a full queue).

    Unknown keys are refused at this level so that the one-call decode of a whole body fails over
    to the per-event path (`ingest/decode.py`), which keeps them in `extra` instead of dropping them.

    `match_id` `"no_match"` (the tracker's value before its map-start hook runs) is replaced by the
    `session_id`, so every event belongs to some match.
    """


class UnknownEvent(Envelope):
    """An event of a type we do not know: stored with its envelope and all its keys in `extra`,
    feeding no aggregate."""

    type: str


def _fields_for(blocks: tuple[str, ...], extra: dict[str, object]) -> list[tuple[str, object, None]]:
    fields: list[tuple[str, object, None]] = []
    for prefix in blocks:
        for suffix, typ in PLAYER_BLOCK.items():
            fields.append((f"{prefix}_{suffix}", typ | None, None))
    for name, typ in extra.items():
        if name in ("map_name", "gametype"):
            continue  # already on the envelope
        fields.append((name, typ | None, None))
    return fields


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


STRUCTS: dict[str, type[Event]] = {
    name: msgspec.defstruct(_camel(name), _fields_for(blocks, extra), bases=(Event,), tag=name,
                            module=__name__)
    for name, (blocks, extra) in EVENT_TYPES.items()
}

# Event classes whose content matters after commit (live state, tournament results); the rest
# (shots, hits, movement: most of the traffic) only say "this match is alive".
NOTABLE: dict[type, str] = {STRUCTS[t]: t for t in ("player_kill", "match_start", "match_end", "heartbeat",
                                                    "connect", "disconnect", "player_spawn", "team_join",
                                                    "player_auth")}

EventUnion = Union[tuple(STRUCTS.values())]  # noqa: UP007 (a runtime tuple of types)

# Keys a client may send for each type (struct fields minus the ones the server owns).
WIRE_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(cls.__struct_fields__) - SERVER_OWNED | {"type"} for name, cls in STRUCTS.items()
}
UNKNOWN_WIRE_FIELDS = frozenset(UnknownEvent.__struct_fields__) - SERVER_OWNED


def event_type(event: Event | UnknownEvent) -> str:
    """The wire `type` of a decoded event (the Struct's tag, or the unknown type's own field)."""
    return type(event).__struct_config__.tag or event.type


def all_columns() -> dict[str, object]:
    """Every column the known types can fill, name -> Python type (for docs and DDL checks)."""
    cols: dict[str, object] = {}
    for cls in STRUCTS.values():
        for name, typ in zip(cls.__struct_fields__, msgspec.structs.fields(cls)):
            cols.setdefault(name, typ.type)
    return cols
