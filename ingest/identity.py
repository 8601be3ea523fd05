"""Player identity and kill kinds in Python, for live state (Redis) computed from a batch before
ClickHouse has answered.

These are the same rules as `clickhouse/0001_functions.sql` and the `kill_kind` column of
`clickhouse/0002_raw_events.sql`; `tests/test_live.py::test_python_identity_rules_match_clickhouse`
feeds the same inputs to both and checks they agree, so the two spellings of the rule cannot drift
apart.
"""

from __future__ import annotations

import functools

from fragstats.identities import Play, display_name, player_id, team  # the rule is the kernel's: one copy
from ingest.events import STRUCTS

# The event types a `Play` is made of (achievements, chat claims; see `play_of`).
PLAY_TYPES = ("player_kill", "distance", "match_start", "match_end", "chat")
EVENT_NAMES = {STRUCTS[t]: t for t in PLAY_TYPES}

PlayerKill = STRUCTS["player_kill"]

_NO_TEAM = frozenset({"", "none", "freeforall", "free", "spectator"})
_WORLD = frozenset({"world", "<world>", "<non-client>"})

__all__ = ["display_name", "player_id", "team", "kill_kind", "play_of"]


def kill_kind(event) -> str:
    """'world', 'suicide', 'team_kill' or 'kill' for a player_kill event ('' for other types)."""
    if not isinstance(event, PlayerKill):
        return ""
    attacker = player_id(event.attacker_guid, event.attacker_name, event.server_id)
    if not attacker or display_name(event.attacker_name).lower() in _WORLD:
        return "world"
    if attacker == player_id(event.victim_guid, event.victim_name, event.server_id):
        return "suicide"
    a_team = team(event.attacker_team)
    if a_team == team(event.victim_team) and a_team not in _NO_TEAM:
        return "team_kill"
    return "kill"


def play_of(event) -> Play | None:
    """A committed event as the identity package reads it (`fragstats.identities.Play`), or None for
    an event of no player interest. Player ids and kill kinds by the rules above; `occurred_at`
    falls back to the receipt time as in `raw_events`."""
    etype = EVENT_NAMES.get(type(event))
    if etype is None:
        return None
    occurred = event.occurred_at if isinstance(event.occurred_at, (int, float)) else event.received_at
    get = functools.partial(getattr, event)
    fields = {"type": etype, "server_id": event.server_id, "match_id": event.match_id,
              "timestamp": event.timestamp or 0.0, "occurred_at": float(occurred), "received_at": event.received_at}
    for prefix in ("attacker", "victim", "player"):
        name = get(f"{prefix}_name", None)
        guid = get(f"{prefix}_guid", None)
        if name or guid:
            fields[f"{prefix}_id"] = player_id(guid, name, event.server_id)
            fields[f"{prefix}_team"] = get(f"{prefix}_team", None) or ""
            if prefix != "victim":
                fields[f"{prefix}_name"] = display_name(name)
            if prefix == "player":
                fields["player_guid"] = "" if guid is None else str(guid)
    if etype == "player_kill":
        fields.update(kill_kind=kill_kind(event), weapon=event.weapon or "", hitloc=event.hitloc or "")
    elif etype == "distance":
        fields["distance"] = float(event.distance or 0.0)
    elif etype == "match_end":
        fields.update(winning_team=event.winning_team or "", partial=bool(event.partial))
    elif etype == "match_start":
        fields["partial"] = bool(event.partial)
    elif etype == "chat":
        fields["message"] = event.message or ""
    return Play(**fields)
