"""Parse ioq3-style ``games.log`` lines into fragstats wire-format events.

Pure: no I/O, no clock reads. The caller feeds lines (``Q3LogParser.feed``) and
ships the returned dicts; ``ingest.shipper`` does the reading and the HTTP.

Grammar (ioq3 ``g_log`` output, as written by ``G_LogPrintf`` in ``code/game``
and seen in ``../shared/data/q3/games.log``): every line is ``<mm>:<ss> <body>``
where the minutes may exceed 59 and have any number of digits, and the body is
one of::

    InitGame: \\key\\value...          Exit: <reason>          ShutdownGame:
    ClientConnect: <id>                ClientBegin: <id>       ClientDisconnect: <id>
    ClientUserinfoChanged: <id> n\\<name>\\t\\<team>\\...
    Kill: <killer> <victim> <mod>: <killer name> killed <victim name> by MOD_<X>
    Item: <id> <item>
    say: [<id> ]<name>: <text>         sayteam: [<id> ]<name>: <text>
    score: <n>  ping: <n>  client: <id> <name>
    red:<n>  blue:<n>                  ----- (separator)

The output is the wire format of ``../shared/data/mohaa/README.md``: flat dicts
with the envelope ``type``, ``match_id``, ``session_id``, ``timestamp`` (float
seconds of game clock since the match's InitGame) plus ``occurred_at`` (int,
epoch milliseconds: ``start`` + log clock), and player blocks ``<prefix>_name``
(raw, colour codes kept), ``<prefix>_team`` and ``<prefix>_guid`` (only when
the log has one).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

__all__ = [
    "Q3LogParser",
    "WORLD_ID",
    "parse_clock",
    "log_span_seconds",
    "weapon_for_mod",
]

Event = dict[str, Any]

#: Client number ioq3 uses for the world (``ENTITYNUM_WORLD``) as a killer.
WORLD_ID = 1022

_CLOCK = re.compile(r"^\s*(\d+):(\d{2})(?:\s(.*))?$")
_KILL = re.compile(r"^(\d+) (\d+) (\d+):?\s*(.*)$")
_KILL_TEXT = re.compile(r"^(.*) killed (.*) by (MOD_\w+)\s*$")
_ITEM = re.compile(r"^(\d+) (\S+)\s*$")
_SCORE = re.compile(r"^(-?\d+)\s+ping:\s+(\d+)\s+client:\s+(\d+)\s?(.*)$")
_TEAM_SCORE = re.compile(r"^red:\s*(-?\d+)\s+blue:\s*(-?\d+)\s*$")
_SLOT = re.compile(r"^(\d+)\s*$")
_USERINFO = re.compile(r"^(\d+) (.*)$")
_SAY_WITH_ID = re.compile(r"^(\d+) (.*)$")

# meansOfDeath_t in ioq3 code/game/bg_public.h (MISSIONPACK numbering); only
# used when a Kill line lacks the "by MOD_X" text.
_MOD_BY_NUMBER = [
    "UNKNOWN", "SHOTGUN", "GAUNTLET", "MACHINEGUN", "GRENADE", "GRENADE_SPLASH",
    "ROCKET", "ROCKET_SPLASH", "PLASMA", "PLASMA_SPLASH", "RAILGUN", "LIGHTNING",
    "BFG", "BFG_SPLASH", "WATER", "SLIME", "LAVA", "CRUSH", "TELEFRAG", "FALLING",
    "SUICIDE", "TARGET_LASER", "TRIGGER_HURT", "NAIL", "CHAINGUN",
    "PROXIMITY_MINE", "KAMIKAZE", "JUICED", "GRAPPLE",
]

_WEAPON_BY_MOD = {
    "RAILGUN": "railgun",
    "ROCKET": "rocket_launcher",
    "ROCKET_SPLASH": "rocket_launcher",
    "SHOTGUN": "shotgun",
    "GAUNTLET": "gauntlet",
    "MACHINEGUN": "machinegun",
    "GRENADE": "grenade_launcher",
    "GRENADE_SPLASH": "grenade_launcher",
    "PLASMA": "plasmagun",
    "PLASMA_SPLASH": "plasmagun",
    "LIGHTNING": "lightning_gun",
    "BFG": "bfg10k",
    "BFG_SPLASH": "bfg10k",
    "TELEFRAG": "telefrag",
    "NAIL": "nailgun",
    "CHAINGUN": "chaingun",
    "PROXIMITY_MINE": "proximity_launcher",
    # JUICED is the death of a player a proximity mine stuck to.
    "JUICED": "proximity_launcher",
    "KAMIKAZE": "kamikaze",
    "GRAPPLE": "grapple",
}
_WORLD_MODS = frozenset(
    {"FALLING", "TRIGGER_HURT", "WATER", "SLIME", "LAVA", "CRUSH",
     "TARGET_LASER", "SUICIDE", "UNKNOWN"}
)

_GAMETYPES = {0: "ffa", 1: "tournament", 2: "single", 3: "tdm", 4: "ctf"}
# Gametypes below GT_TEAM are not team games: t\0 (TEAM_FREE) is the normal team there.
_FIRST_TEAM_GAMETYPE = 3
_TEAMS = {"1": "red", "2": "blue", "3": "spectator"}

# Userinfo keys some ioq3 builds and mods use for the client's GUID.
_GUID_KEYS = ("cl_guid", "id")


def weapon_for_mod(mod: str) -> str:
    """Map an ioq3 means of death to a weapon name.

    ``mod`` is the name with or without the ``MOD_`` prefix, any case
    (``"MOD_ROCKET_SPLASH"``, ``"rocket_splash"``). Environmental causes give
    ``"world"``; a name not in the table gives its own lowercased name.
    """
    key = mod.upper().removeprefix("MOD_")
    if key in _WORLD_MODS:
        return "world"
    return _WEAPON_BY_MOD.get(key, key.lower())


def parse_clock(line: str) -> tuple[int, str] | None:
    """Split a log line into (clock seconds, body).

    The clock is ``mm:ss`` with unbounded minutes (``981:27``). Returns None
    when the line does not start with a clock. The body has no trailing
    newline and may be empty.
    """
    m = _CLOCK.match(line.rstrip("\r\n"))
    if not m:
        return None
    return int(m.group(1)) * 60 + int(m.group(2)), (m.group(3) or "").strip()


class _MonotonicClock:
    # ioq3's clock restarts at 0:00 when the server restarts; shifting later
    # readings by the last one seen keeps time moving forward.
    def __init__(self) -> None:
        self.offset = 0
        self.last_raw: int | None = None

    def __call__(self, raw: int) -> int:
        if self.last_raw is not None and raw < self.last_raw:
            self.offset += self.last_raw
        self.last_raw = raw
        return raw + self.offset


def log_span_seconds(lines: Iterable[str]) -> int:
    """Seconds of monotonic log clock at the last clocked line (0 if none).

    Used to derive a start time from a file's mtime: the last line's clock is
    taken to be the moment the file was last written. Clock restarts are
    handled the same way as in ``Q3LogParser``.
    """
    clock = _MonotonicClock()
    last = 0
    for line in lines:
        parsed = parse_clock(line)
        if parsed is not None:
            last = clock(parsed[0])
    return last


def _kv(text: str) -> dict[str, str]:
    # \k\v\k\v...; empty values ("g_redteam\\") keep their slot so pairs stay aligned.
    parts = text.split("\\")
    if parts and parts[0] == "":
        parts = parts[1:]
    return {parts[i]: parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _atoi(value: str | None) -> int:
    # The server reads g_gametype with atoi(), so "= 0" (seen in games.log,
    # an admin's typo) means 0 there; parse it the same way.
    m = re.match(r"\s*([+-]?\d+)", value or "")
    return int(m.group(1)) if m else 0


def _hex16(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass
class _Player:
    name: str
    team: str
    guid: str | None = None


@dataclass
class _Match:
    match_id: str
    session_id: str
    start_clock: int
    map_name: str
    gametype: str
    team_game: bool
    exit_reason: str | None = None
    red_score: int | None = None
    blue_score: int | None = None


class Q3LogParser:
    """Stateful line-by-line parser of an ioq3 ``games.log``.

    ``start`` is the wall-clock instant of log clock ``0:00`` (a naive datetime
    is taken as UTC). Feed lines in file order with ``feed``; each call returns
    the events that line produced (often none). ``finish(end_open_match=True)``
    closes a match still open at end of input.

    Counters: ``lines`` (lines fed), ``unknown_lines`` (lines matching no
    grammar rule, or a known rule with a malformed body), ``skipped_lines``
    (understood but about a slot with no known player, so nothing to send),
    ``unknown_samples`` (the first few unknown lines, for the report).
    Never raises on bad input.
    """

    SAMPLE_LIMIT = 10

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._start_ms = round(start.timestamp() * 1000)
        self._clock = _MonotonicClock()
        self._now = 0
        self._match: _Match | None = None
        self._slots: dict[int, _Player] = {}
        self._pending: set[int] = set()  # slots seen in ClientConnect, no userinfo yet
        self.lines = 0
        self.unknown_lines = 0
        self.skipped_lines = 0
        self.unknown_samples: list[str] = []
        self._handlers = {
            "InitGame": self._init_game,
            "Exit": self._exit,
            "ShutdownGame": self._shutdown,
            "ClientConnect": self._client_connect,
            "ClientUserinfoChanged": self._userinfo_changed,
            "ClientBegin": self._client_begin,
            "ClientDisconnect": self._client_disconnect,
            "Kill": self._kill,
            "Item": self._item,
            "say": self._say,
            "sayteam": self._say_team,
            "score": self._score,
        }

    # -- public -------------------------------------------------------------

    def feed(self, line: str) -> list[Event]:
        """Parse one line (trailing newline allowed); return the events it produced."""
        self.lines += 1
        parsed = parse_clock(line)
        if parsed is None:
            if line.strip():
                self._unknown(line)
            return []
        raw, body = parsed
        self._now = self._clock(raw)
        if not body or body.startswith("---"):
            return []
        m = _TEAM_SCORE.match(body)
        if m:
            if self._match:
                self._match.red_score, self._match.blue_score = int(m.group(1)), int(m.group(2))
            return []
        keyword, sep, rest = body.partition(":")
        handler = self._handlers.get(keyword) if sep else None
        if handler is None:
            self._unknown(line)
            return []
        events = handler(rest.strip())
        if events is None:
            self._unknown(line)
            return []
        return events

    def finish(self, end_open_match: bool = False) -> list[Event]:
        """Return the events owed at end of input.

        With ``end_open_match`` a match still open gets its ``match_end``
        (reason: the Exit text, else ``"end_of_log"``). Without it nothing is
        emitted: a followed file may simply not have its next lines yet.
        """
        if end_open_match and self._match is not None:
            return [self._end_match("end_of_log")]
        return []

    # -- helpers ------------------------------------------------------------

    def _unknown(self, line: str) -> None:
        self.unknown_lines += 1
        if len(self.unknown_samples) < self.SAMPLE_LIMIT:
            self.unknown_samples.append(line.rstrip("\r\n"))

    def _event(self, type_: str, **fields: Any) -> Event:
        match = self._match
        if match is None:
            # Lines outside any match (a followed file picked up mid-way): the
            # wire format's own marker, and the clock since the log began.
            envelope = {
                "match_id": "no_match",
                "session_id": "sess_" + _hex16("no_match", str(self._start_ms)),
                "timestamp": float(self._now),
            }
        else:
            envelope = {
                "match_id": match.match_id,
                "session_id": match.session_id,
                "timestamp": float(self._now - match.start_clock),
            }
        return {
            "type": type_,
            **envelope,
            "occurred_at": self._start_ms + self._now * 1000,
            **fields,
        }

    def _team(self, code: str) -> str:
        team_game = self._match.team_game if self._match else False
        if code == "0":
            return "none" if team_game else "freeforall"
        return _TEAMS.get(code, "none")

    @staticmethod
    def _block(prefix: str, player: _Player) -> dict[str, Any]:
        block = {f"{prefix}_name": player.name, f"{prefix}_team": player.team}
        if player.guid:
            block[f"{prefix}_guid"] = player.guid
        return block

    def _player_block(self, prefix: str, slot: int, fallback_name: str | None) -> dict[str, Any] | None:
        player = self._slots.get(slot)
        if player is not None:
            return self._block(prefix, player)
        if fallback_name:
            return {f"{prefix}_name": fallback_name}
        return None

    def _end_match(self, default_reason: str) -> Event:
        match = self._match
        assert match is not None
        fields: dict[str, Any] = {
            "map_name": match.map_name,
            "gametype": match.gametype,
            "duration": float(self._now - match.start_clock),
            "reason": match.exit_reason or default_reason,
        }
        if match.red_score is not None and match.blue_score is not None:
            fields["winning_team"] = (
                "red" if match.red_score > match.blue_score
                else "blue" if match.blue_score > match.red_score
                else "draw"
            )
        event = self._event("match_end", **fields)
        self._match = None
        self._slots.clear()
        self._pending.clear()
        return event

    # -- line handlers: return None for a malformed body ----------------------

    def _init_game(self, rest: str) -> list[Event] | None:
        info = _kv(rest)
        if not info:
            return None
        events: list[Event] = []
        if self._match is not None:
            # An InitGame without ShutdownGame (crash, restart): the old match is over.
            events.append(self._end_match("next_game"))
        gt_num = _atoi(info.get("g_gametype"))
        start_ms = str(self._start_ms + self._now * 1000)
        self._match = _Match(
            match_id="match_" + _hex16("match", rest, start_ms),
            session_id="sess_" + _hex16("session", rest, start_ms),
            start_clock=self._now,
            map_name=info.get("mapname", ""),
            gametype=_GAMETYPES.get(gt_num, f"gt{gt_num}"),
            team_game=gt_num >= _FIRST_TEAM_GAMETYPE,
        )
        self._slots.clear()
        self._pending.clear()
        fields: dict[str, Any] = {"map_name": self._match.map_name, "gametype": self._match.gametype}
        for key, src in (("timelimit", "timelimit"), ("fraglimit", "fraglimit"), ("maxclients", "sv_maxclients")):
            value = _int_or_none(info.get(src))
            if value is not None:
                fields[key] = value
        if "sv_hostname" in info:
            fields["hostname"] = info["sv_hostname"]
        events.append(self._event("match_start", **fields))
        return events

    def _exit(self, rest: str) -> list[Event]:
        if self._match is not None:
            self._match.exit_reason = rest or None
        return []

    def _shutdown(self, rest: str) -> list[Event]:
        if self._match is None:
            return []
        return [self._end_match("shutdown")]

    def _slot(self, rest: str) -> int | None:
        m = _SLOT.match(rest)
        return int(m.group(1)) if m else None

    def _client_connect(self, rest: str) -> list[Event] | None:
        slot = self._slot(rest)
        if slot is None:
            return None
        # A reused slot is a new client: forget the old one's name and team.
        self._slots.pop(slot, None)
        self._pending.add(slot)
        return []

    def _userinfo_changed(self, rest: str) -> list[Event] | None:
        m = _USERINFO.match(rest)
        if not m:
            return None
        slot, info = int(m.group(1)), _kv(m.group(2))
        if "n" not in info:
            return None
        name, team = info["n"], self._team(info.get("t", "0"))
        guid = next((info[k] for k in _GUID_KEYS if info.get(k)), None)
        player = self._slots.get(slot)
        if player is None or slot in self._pending:
            # First userinfo after ClientConnect (or of a slot never seen
            # connecting, e.g. a file followed from the middle): the player arrives.
            self._pending.discard(slot)
            player = _Player(name=name, team=team, guid=guid)
            self._slots[slot] = player
            return [self._event("connect", **self._block("player", player))]
        events: list[Event] = []
        if guid and player.guid != guid:
            player.guid = guid
        if name != player.name:
            old_name, player.name = player.name, name
            events.append(self._event("player_rename", **self._block("player", player), old_name=old_name))
        if team != player.team:
            old_team, player.team = player.team, team
            events.append(
                self._event("team_join", **self._block("player", player), old_team=old_team, new_team=team)
            )
        return events

    def _client_begin(self, rest: str) -> list[Event] | None:
        slot = self._slot(rest)
        if slot is None:
            return None
        block = self._player_block("player", slot, None)
        if block is None:
            self.skipped_lines += 1
            return []
        return [self._event("player_spawn", **block)]

    def _client_disconnect(self, rest: str) -> list[Event] | None:
        slot = self._slot(rest)
        if slot is None:
            return None
        self._pending.discard(slot)
        block = self._player_block("player", slot, None)
        self._slots.pop(slot, None)
        if block is None:
            self.skipped_lines += 1
            return []
        return [self._event("disconnect", **block)]

    def _kill(self, rest: str) -> list[Event] | None:
        m = _KILL.match(rest)
        if not m:
            return None
        killer, victim, mod_num = int(m.group(1)), int(m.group(2)), int(m.group(3))
        text = _KILL_TEXT.match(m.group(4))
        if text:
            killer_text, victim_text, mod_name = text.group(1), text.group(2), text.group(3)
        elif mod_num < len(_MOD_BY_NUMBER):
            killer_text = victim_text = None
            mod_name = "MOD_" + _MOD_BY_NUMBER[mod_num]
        else:
            return None
        victim_block = self._player_block("victim", victim, victim_text)
        if victim_block is None:
            self.skipped_lines += 1
            return []
        fields: dict[str, Any] = {}
        if killer != WORLD_ID:
            if killer == victim:
                # A suicide: the service recognises it by identical blocks.
                attacker_block = {"attacker" + k[len("victim"):]: v for k, v in victim_block.items()}
            else:
                attacker_block = self._player_block("attacker", killer, killer_text)
            if attacker_block is None:
                self.skipped_lines += 1
                return []
            fields.update(attacker_block)
        fields.update(victim_block)
        mod = mod_name.removeprefix("MOD_")
        fields["weapon"] = weapon_for_mod(mod)
        fields["mod"] = mod.lower()
        return [self._event("player_kill", **fields)]

    def _item(self, rest: str) -> list[Event] | None:
        m = _ITEM.match(rest)
        if not m:
            return None
        block = self._player_block("player", int(m.group(1)), None)
        if block is None:
            self.skipped_lines += 1
            return []
        return [self._event("item_pickup", **block, item=m.group(2))]

    def _say(self, rest: str) -> list[Event] | None:
        return self._chat(rest, team_only=False)

    def _say_team(self, rest: str) -> list[Event] | None:
        return self._chat(rest, team_only=True)

    def _chat(self, rest: str, team_only: bool) -> list[Event] | None:
        # Two shapes exist: "<id> <name>: <text>" (newer ioq3) and "<name>: <text>"
        # (ioq3 1.36, as in games.log). Names may hold spaces and ": ", so match
        # against the names of the players present before splitting blindly.
        block = None
        message = None
        m = _SAY_WITH_ID.match(rest)
        if m and int(m.group(1)) in self._slots:
            player = self._slots[int(m.group(1))]
            if m.group(2).startswith(player.name + ":"):
                block = self._block("player", player)
                message = m.group(2)[len(player.name) + 1:]
        if block is None:
            for player in sorted(self._slots.values(), key=lambda p: -len(p.name)):
                if rest.startswith(player.name + ":"):
                    block = self._block("player", player)
                    message = rest[len(player.name) + 1:]
                    break
        if block is None:
            name, sep, message = rest.partition(": ")
            if not sep or not name:
                return None
            block = {"player_name": name}
        return [self._event("chat", **block, message=message.removeprefix(" "), team_only=team_only)]

    def _score(self, rest: str) -> list[Event] | None:
        m = _SCORE.match(rest)
        if not m:
            return None
        block = self._player_block("player", int(m.group(3)), m.group(4) or None)
        if block is None:
            self.skipped_lines += 1
            return []
        return [self._event("player_score", **block, score=int(m.group(1)), ping=int(m.group(2)))]
