"""Player identity and kill kinds in Python, for live state (Redis) computed from a batch before
ClickHouse has answered.

These are the same rules as `clickhouse/0001_functions.sql` and the `kill_kind` column of
`clickhouse/0002_raw_events.sql`; `tests/test_live.py::test_python_identity_rules_match_clickhouse`
feeds the same inputs to both and checks they agree, so the two spellings of the rule cannot drift
apart.
"""

from __future__ import annotations

import functools
import re

from ingest.events import STRUCTS

PlayerKill = STRUCTS["player_kill"]

_COLOUR = re.compile(r"\^[0-9A-Za-z]")
_NO_TEAM = frozenset({"", "none", "freeforall", "free", "spectator"})
_WORLD = frozenset({"world", "<world>", "<non-client>"})


@functools.lru_cache(maxsize=65536)  # names repeat all match long; the regex need not run each time
def display_name(name: str | None) -> str:
    """Colour codes (Quake III's `^` + alphanumeric) stripped, surrounding blanks trimmed."""
    return _COLOUR.sub("", name or "").strip()


@functools.lru_cache(maxsize=65536)
def player_id(guid: str | int | None, name: str | None, server_id: int) -> str:
    """The client GUID when persistent (not OpenMOHAA's `unauth_<slot>`), else `<display name>@<server_id>`;
    "" when there is neither."""
    guid = "" if guid is None else str(guid)
    if guid and not guid.startswith("unauth_"):
        return guid
    shown = display_name(name)
    return f"{shown}@{server_id}" if shown else ""


def team(value: str | None) -> str:
    """allies/axis for both naming styles of the tracker (american/german), else lower-cased."""
    t = (value or "").lower()
    if t in ("allies", "american"):
        return "allies"
    if t in ("axis", "german"):
        return "axis"
    return t


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
