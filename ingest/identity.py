"""Player identity and kill kinds in Python, for live state (Redis) computed from a batch before
ClickHouse has answered.

These are the same rules as `clickhouse/0001_functions.sql` and the `kill_kind` column of
`clickhouse/0002_raw_events.sql`; `tests/test_live.py::test_python_identity_rules_match_clickhouse`
feeds the same inputs to both and checks they agree, so the two spellings of the rule cannot drift
apart.
"""

from __future__ import annotations

from fragstats.identities import Play, display_name, player_id, team  # the rule is the kernel's: one copy
from ingest.events import STRUCTS


PlayerKill = STRUCTS["player_kill"]

_NO_TEAM = frozenset({"", "none", "freeforall", "free", "spectator"})
_WORLD = frozenset({"world", "<world>", "<non-client>"})

__all__ = ["display_name", "player_id", "team", "kill_kind", "play_of"]


def kill_kind(event) -> str:
    """'world', 'suicide', 'team_kill' or 'kill' for a player_kill event ('' for other types)."""
    if not isinstance(event, PlayerKill):
        return ""
    return _kind(event, player_id(event.attacker_guid, event.attacker_name, event.server_id),
                 player_id(event.victim_guid, event.victim_name, event.server_id))


def _kind(event, attacker: str, victim: str) -> str:
    if not attacker or display_name(event.attacker_name).lower() in _WORLD:
        return "world"
    if attacker == victim:
        return "suicide"
    a_team = team(event.attacker_team)
    if a_team == team(event.victim_team) and a_team not in _NO_TEAM:
        return "team_kill"
    return "kill"


def _when(event) -> tuple[float, float]:
    occurred = event.occurred_at if isinstance(event.occurred_at, (int, float)) else event.received_at
    return event.timestamp or 0.0, float(occurred)


def _kill_play(ev) -> Play:
    sid = ev.server_id
    attacker = player_id(ev.attacker_guid, ev.attacker_name, sid)
    victim = player_id(ev.victim_guid, ev.victim_name, sid)
    timestamp, occurred = _when(ev)
    return Play(type="player_kill", server_id=sid, match_id=ev.match_id, timestamp=timestamp, occurred_at=occurred,
                received_at=ev.received_at, attacker_id=attacker, attacker_name=display_name(ev.attacker_name),
                attacker_team=ev.attacker_team or "", victim_id=victim, victim_team=ev.victim_team or "",
                weapon=ev.weapon or "", hitloc=ev.hitloc or "", kill_kind=_kind(ev, attacker, victim))


def _player_play(ev, etype: str, **fields) -> Play:
    sid = ev.server_id
    timestamp, occurred = _when(ev)
    return Play(type=etype, server_id=sid, match_id=ev.match_id, timestamp=timestamp, occurred_at=occurred,
                received_at=ev.received_at, player_id=player_id(ev.player_guid, ev.player_name, sid),
                player_name=display_name(ev.player_name), player_team=ev.player_team or "",
                player_guid="" if ev.player_guid is None else str(ev.player_guid), **fields)


def _match_play(ev, etype: str, **fields) -> Play:
    timestamp, occurred = _when(ev)
    return Play(type=etype, server_id=ev.server_id, match_id=ev.match_id, timestamp=timestamp, occurred_at=occurred,
                received_at=ev.received_at, partial=bool(ev.partial), **fields)


# type -> its Play maker: one direct function per type (this runs for every kill of every batch).
_MAKERS = {
    STRUCTS["player_kill"]: _kill_play,
    STRUCTS["distance"]: lambda ev: _player_play(ev, "distance", distance=float(ev.distance or 0.0)),
    STRUCTS["chat"]: lambda ev: _player_play(ev, "chat", message=ev.message or ""),
    STRUCTS["match_start"]: lambda ev: _match_play(ev, "match_start"),
    STRUCTS["match_end"]: lambda ev: _match_play(ev, "match_end", winning_team=ev.winning_team or ""),
}


def play_of(event) -> Play | None:
    """A committed event as the identity package reads it (`fragstats.identities.Play`), or None for
    an event of no player interest (types other than kills, distance, chat, match start and end).
    Player ids and kill kinds by the rules above; `occurred_at` falls back to the receipt time as in
    `raw_events`."""
    make = _MAKERS.get(type(event))
    return make(event) if make is not None else None
