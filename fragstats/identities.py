"""What the feature packages share about players without importing one another.

- `Play`: the part of one committed telemetry event that the identity package reads (achievements,
  `!claim` typed in chat). `ingest` makes them from its event Structs (`ingest.identity.play_of`);
  the identity backfill reads the same columns from `raw_events`. The assembly hands the converter
  over, so `identity` never imports `ingest`.
- `IdentityResolver`: player id -> the user who claimed it. The identity package implements it;
  the assembly hands it to `query` (`app.state.identity_resolver`), which uses it for
  `?expand=identity`, `?by=user` and a user's stats. `NoIdentities` stands in when no identity
  package is wired (nothing resolves).
- `expand(body, resolver)`: the one implementation of `?expand=identity` for any JSON body.

A player id is the client GUID when persistent, else `<display name>@<server_id>`
(`clickhouse/0001_functions.sql`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Protocol

import msgspec

_COLOUR = re.compile(r"\^[0-9A-Za-z]")


@functools.lru_cache(maxsize=65536)  # names repeat all match long; the regex need not run each time
def display_name(name: str | None) -> str:
    """Colour codes (Quake III's `^` + alphanumeric) stripped, surrounding blanks trimmed
    (`fragstats_display_name` of `clickhouse/0001_functions.sql`)."""
    return _COLOUR.sub("", name or "").strip()


@functools.lru_cache(maxsize=65536)
def player_id(guid: str | int | None, name: str | None, server_id: int) -> str:
    """The client GUID when persistent (not OpenMOHAA's `unauth_<slot>`), else `<display name>@<server_id>`;
    "" when there is neither (`fragstats_player_id` of `clickhouse/0001_functions.sql`)."""
    guid = "" if guid is None else str(guid)
    if guid and not guid.startswith("unauth_"):
        return guid
    shown = display_name(name)
    return f"{shown}@{server_id}" if shown else ""


def team(value: str | None) -> str:
    """allies/axis for both naming styles of the tracker (american/german), else lower-cased
    (`fragstats_team` of `clickhouse/0001_functions.sql`)."""
    t = (value or "").lower()
    if t in ("allies", "american"):
        return "allies"
    if t in ("axis", "german"):
        return "axis"
    return t


class Play(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One committed event as achievements and chat claims read it.

    Times: `timestamp` game clock (s since map load), `occurred_at` and `received_at` epoch s.
    Player ids follow the rule above; `kill_kind` is `kill|suicide|team_kill|world` for
    `player_kill`, else "". `player_*` is the acting player of non-combat events (chat, distance...).
    """

    type: str
    server_id: int
    match_id: str
    timestamp: float
    occurred_at: float
    received_at: float
    attacker_id: str = ""
    attacker_name: str = ""
    attacker_team: str = ""
    victim_id: str = ""
    victim_team: str = ""
    player_id: str = ""
    player_name: str = ""
    player_guid: str = ""
    player_team: str = ""
    weapon: str = ""
    hitloc: str = ""
    kill_kind: str = ""
    distance: float = 0.0
    winning_team: str = ""
    partial: bool = False
    message: str = ""

    def ref(self) -> dict:
        """The event as an unlock or a link names it: `{"server_id", "match_id", "type", "timestamp",
        "occurred_at"}` (epoch s)."""
        return {"server_id": self.server_id, "match_id": self.match_id, "type": self.type,
                "timestamp": self.timestamp, "occurred_at": self.occurred_at}


class Identity(msgspec.Struct, frozen=True):
    """The user behind a player id: what `?expand=identity` adds."""

    user_id: int
    display_name: str
    avatar_url: str | None = None


class UserIdentities(msgspec.Struct, frozen=True):
    """A user and every player id linked to it (oldest link first)."""

    user_id: int
    display_name: str
    avatar_url: str | None
    player_ids: list[str]


class IdentityResolver(Protocol):
    """Resolution of telemetry player ids to users (implemented by `identity.resolve.Resolver`)."""

    async def resolve(self, player_ids: Iterable[str]) -> tuple[dict[str, Identity | None], list[str]]:
        """({player id: its user, or None when linked to no user}, warnings): an id missing from the
        mapping could not be looked up (the warning says why)."""
        ...

    async def user(self, user_id: int) -> UserIdentities | None:
        """The user and its linked player ids; None when there is no such user."""
        ...

    async def links(self) -> dict[str, int]:
        """Every linked player id -> user id (for `?by=user` boards)."""
        ...


class NoIdentities:
    """The resolver when no identity package is wired: every id resolves to no user."""

    async def resolve(self, player_ids: Iterable[str]) -> tuple[dict[str, Identity | None], list[str]]:
        return {pid: None for pid in player_ids}, []

    async def user(self, user_id: int) -> UserIdentities | None:
        return None

    async def links(self) -> dict[str, int]:
        return {}


# Keys that hold a player id in the JSON bodies of the read routes (leaderboards, matches, match
# timeline, live): `player_id` on rows, the role ids on timeline events.
ID_KEYS = ("player_id", "attacker_id", "victim_id", "target_id", "killer_id")
_MAX_WALK = 100_000


def _walk(node, found: list[dict]) -> None:
    stack = [node]
    while stack and len(found) < _MAX_WALK:
        item = stack.pop()
        if isinstance(item, dict):
            if any(isinstance(item.get(k), str) and item.get(k) for k in ID_KEYS):
                found.append(item)
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))


async def expand(body: dict, resolver: IdentityResolver) -> dict:
    """`?expand=identity`: every object of `body` holding a `player_id` gets `user_id`,
    `display_name` and `avatar_url` (null when the id is linked to no user); an object holding role
    ids (`attacker_id`, `victim_id`, ...) gets `<role>_user_id` and `<role>_display_name`. The body
    gets `warnings`: one line per id that did not resolve to a user (not linked, or the lookup
    failed). Returns `body`, changed in place."""
    objects: list[dict] = []
    _walk(body, objects)
    ids = {obj[k] for obj in objects for k in ID_KEYS if isinstance(obj.get(k), str) and obj.get(k)}
    found, warnings = await resolver.resolve(sorted(ids))
    unresolved = sorted(pid for pid in ids if found.get(pid) is None and pid in found)
    for obj in objects:
        for key in ID_KEYS:
            pid = obj.get(key)
            if not isinstance(pid, str) or not pid:
                continue
            who = found.get(pid)
            if key == "player_id":
                obj["user_id"] = who.user_id if who else None
                obj["display_name"] = who.display_name if who else None
                obj["avatar_url"] = who.avatar_url if who else None
            else:
                role = key.removesuffix("_id")
                obj[f"{role}_user_id"] = who.user_id if who else None
                obj[f"{role}_display_name"] = who.display_name if who else None
    body["warnings"] = [*warnings, *(f"player id {pid!r} is linked to no user" for pid in unresolved)]
    return body
