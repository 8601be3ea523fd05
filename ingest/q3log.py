"""Parse ioq3-style ``games.log`` lines (Quake III Arena, Urban Terror 4.x) into fragstats
wire-format events.

Pure: no I/O, no clock reads. The caller feeds lines (``Q3LogParser.feed``) and
ships the returned dicts; ``ingest.shipper`` does the reading and the HTTP.

Grammar (ioq3 ``g_log`` output, as written by ``G_LogPrintf`` in ``code/game``
and seen in the real Quake III ``games.log`` the tests read): every line is
``<mm>:<ss> <body>`` where the minutes may exceed 59 and have any number of
digits, and the body is one of::

    InitGame: \\key\\value...          Exit: <reason>          ShutdownGame:
    ClientConnect: <id>                ClientBegin: <id>       ClientDisconnect: <id>
    ClientUserinfoChanged: <id> n\\<name>\\t\\<team>\\...
    Kill: <killer> <victim> <mod>: <killer name> killed <victim name> by MOD_<X>
    Item: <id> <item>
    say: [<id> ]<name>: <text>         sayteam: [<id> ]<name>: <text>
    score: <n>  ping: <n>  client: <id> <name>
    red:<n>  blue:<n>                  ----- (separator)

Urban Terror 4.1/4.2 (grammar and numbers in ``ingest.urt``) adds::

    InitRound: \\key\\value...         (a round of a round-based game type; same keys as InitGame)
    ClientUserinfo: <id> \\ip\\...\\name\\<name>\\...\\cl_guid\\<GUID>   (the GUID lives here)
    Kill: ... by UT_MOD_<X>
    Hit: <victim> <attacker> <body part> <weapon>: <attacker name> hit <victim name> in the <Part>
    Flag: <id> <0 dropped | 1 returned | 2 captured>: team_CTF_<red|blue>flag
    Flag Return: <RED|BLUE>            SurvivorWinner: <Red|Blue|<id>>      ClientSpawn: <id>

and lines understood but not turned into events (``Warmup:``, ``Radio:``, ``Assist:``, votes,
bomb mode, ...), counted as ``ignored:<keyword>``.

The output is the tracker wire format (see ``ingest.events``): flat dicts
with the envelope ``type``, ``match_id``, ``session_id``, ``timestamp`` (float
seconds of game clock since the match began) plus ``occurred_at`` (int,
epoch milliseconds: ``start`` + log clock), and player blocks ``<prefix>_name``
(raw, colour codes kept), ``<prefix>_team`` (when known) and ``<prefix>_guid``
(only when the log has one).

Rules beyond the grammar:

- A log that begins mid-game (a rotated or followed file) gets a match of its
  own for the events before its first ``InitGame``: ``match_start`` and
  ``match_end`` carry ``partial: true``, map and game type once an
  ``InitRound`` names them.
- A client the log never announced is known by the name its ``Kill``/``Hit``/
  ``score`` line gives (no GUID, no team), so the service identifies it by
  name as any unauthenticated client; its slot keeps that name for later lines.
- Within a match a slot keeps the identity its first event went out with: a
  GUID learned later (an unannounced client's ``ClientUserinfo``) is used from
  the next match on, so one player is never split in two inside a match.
- A ``Kill`` right after a ``Hit`` by the same attacker on the same victim in
  the same second takes that hit's body part as its ``hitloc`` (the service
  counts ``head`` and ``helmet`` as headshots).
- Beyond the tracker's types (all declared in ``ingest.events``):
  ``red_score``/``blue_score`` and ``partial`` on ``match_end``, ``partial``
  on ``match_start``; event types ``flag_capture``, ``flag_return``,
  ``flag_drop`` (``player_*`` block, ``flag``: red/blue).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from ingest import urt
from ingest.identity import display_name

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
# Killer names meaning "no player": ioq3 writes <non-client> for an entity that is no client even
# when its number is a valid slot (Urban Terror: drowning, the flag), so the name decides.
_WORLD_NAMES = frozenset({"<world>", "<non-client>"})

_CLOCK = re.compile(r"^\s*(\d+):(\d{2})(?:\s(.*))?$")
_KILL = re.compile(r"^(\d+) (\d+) (\d+):?\s*(.*)$")
_KILL_TEXT = re.compile(r"^(.*) killed (.*) by ((?:UT_)?MOD_\w+)\s*$")
_HIT = re.compile(r"^(\d+) (\d+) (\d+) (\d+):?\s*(.*)$")
_HIT_TEXT = re.compile(r"^(.*) hit (.*) in the (.+?)\s*$")
_FLAG = re.compile(r"^(\d+) (\d+):\s*(\S+)\s*$")
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

_FLAG_ACTIONS = {0: "flag_drop", 1: "flag_return", 2: "flag_capture"}

# Lines of Urban Terror 4.1-4.3 logs (as listed by the parsers named in ingest.urt) that carry
# nothing we store; counted as "ignored:<keyword>" so a report shows what a log still holds.
_IGNORED = frozenset({
    "Warmup", "saytell", "tell", "Radio", "Callvote", "Vote", "VotePassed", "VoteFailed",
    "AccountValidated", "AccountKick", "AccountRejected", "InitAuth", "Assist", "Hotpotato",
    "FlagCaptureTime", "Freeze", "ThawOutStarted", "ThawOutFinished", "ClientMelted",
    "ClientJumpRunStarted", "ClientJumpRunStopped", "ClientJumpRunCanceled", "ClientSavePosition",
    "ClientLoadPosition", "ClientGoto",
})
# The same for lines without a "Keyword:": "Bomb was planted by 2", "Bombholder is 2", "Pop!",
# "Session data initialised for client on slot 0 at 1234"; keyed by their first word.
_IGNORED_PHRASES = frozenset({"Bomb", "Bombholder", "Pop!", "Session"})

UNKNOWN_LINE = "unknown_line"


def weapon_for_mod(mod: str) -> str:
    """Map a means of death to a weapon name.

    ``mod`` is the name with or without the ``MOD_`` prefix, any case
    (``"MOD_ROCKET_SPLASH"``, ``"rocket_splash"``), or an Urban Terror
    ``UT_MOD_`` name (``"UT_MOD_LR300"`` -> ``"lr300"``, see ``ingest.urt``).
    Environmental causes give ``"world"``; a name not in the table gives its
    own lowercased name.
    """
    key = mod.upper()
    if key.startswith("UT_MOD_"):
        return urt.weapon_for_ut_mod(key.removeprefix("UT_MOD_"))
    key = key.removeprefix("MOD_")
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


def _said_by(said: str, name: str) -> str | None:
    # The message of "<name>: <message>" if it starts with this name, exactly or once colour codes
    # are ignored (Urban Terror 4.3 appends "^7" to names in chat lines); else None.
    if said.startswith(name + ":"):
        return said[len(name) + 1:]
    at = said.find(": ")
    while at > 0:
        if display_name(said[:at]) == display_name(name):
            return said[at + 1:]
        at = said.find(": ", at + 1)
    return None


def _reprefix(block: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {new + k[len(old):]: v for k, v in block.items()}


@dataclass
class _Player:
    name: str
    team: str | None  # None: never announced, team unknown
    guid: str | None = None
    # An event went out without a GUID in this match: the service knows this
    # slot by name, so a GUID learned later waits for the next match.
    by_name: bool = False


@dataclass
class _Match:
    match_id: str
    session_id: str
    start_clock: int
    map_name: str
    gametype: str
    team_game: bool
    partial: bool = False
    exit_reason: str | None = None
    red_score: int | None = None
    blue_score: int | None = None
    rounds: int = 0


@dataclass
class _Hit:
    attacker: int
    hitloc: str
    clock: int


class Q3LogParser:
    """Stateful line-by-line parser of an ioq3 ``games.log`` (Quake III, Urban Terror 4.x).

    ``start`` is the wall-clock instant of log clock ``0:00`` (a naive datetime
    is taken as UTC). Feed lines in file order with ``feed``; each call returns
    the events that line produced (often none). ``finish(end_open_match=True)``
    closes a match still open at end of input.

    ``skipped`` counts the lines that gave no event, by kind:
    ``unknown_line`` (no grammar rule), ``malformed:<Keyword>`` (a known rule
    with a body it cannot read), ``unknown_player:<Keyword>`` (about a slot
    with no known name, nothing to send), ``ignored:<Keyword>`` (understood,
    nothing we store). ``unknown_lines``, ``skipped_lines`` and
    ``ignored_lines`` sum the first two, the third and the fourth;
    ``unknown_samples`` holds the first few unknown or malformed lines.
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
        self._guids: dict[int, str] = {}  # GUIDs from ClientUserinfo lines, by slot
        self._last_hit: dict[int, _Hit] = {}  # by victim slot
        self._urt = False  # the log is Urban Terror's
        self._urt_version: str | None = None
        self._opened: list[Event] = []  # a match_start owed before the current line's events
        self._keyword = ""
        self._body = ""  # the current line without its clock
        self.lines = 0
        self.skipped: Counter[str] = Counter()
        self.unknown_samples: list[str] = []
        self._handlers = {
            "InitGame": self._init_game,
            "InitRound": self._init_round,
            "Exit": self._exit,
            "ShutdownGame": self._shutdown,
            "ClientConnect": self._client_connect,
            "ClientUserinfo": self._client_userinfo,
            "ClientUserinfoChanged": self._userinfo_changed,
            "ClientBegin": self._client_begin,
            "ClientSpawn": self._client_begin,
            "ClientDisconnect": self._client_disconnect,
            "Kill": self._kill,
            "Hit": self._hit,
            "Flag": self._flag,
            "Flag Return": self._flag_timeout,
            "SurvivorWinner": self._survivor_winner,
            "Item": self._item,
            "say": self._say,
            "sayteam": self._say_team,
            "score": self._score,
        }

    # -- public -------------------------------------------------------------

    @property
    def unknown_lines(self) -> int:
        """Lines matching no grammar rule, or a known rule with a malformed body."""
        return sum(n for k, n in self.skipped.items() if k == UNKNOWN_LINE or k.startswith("malformed:"))

    @property
    def skipped_lines(self) -> int:
        """Lines understood but about a slot with no known player, so nothing to send."""
        return sum(n for k, n in self.skipped.items() if k.startswith("unknown_player:"))

    @property
    def ignored_lines(self) -> int:
        """Lines understood that carry nothing we store (votes, radio, bomb mode, ...)."""
        return sum(n for k, n in self.skipped.items() if k.startswith("ignored:"))

    def feed(self, line: str) -> list[Event]:
        """Parse one line (trailing newline allowed); return the events it produced."""
        self.lines += 1
        parsed = parse_clock(line)
        if parsed is None:
            if line.strip():
                self._unknown(UNKNOWN_LINE, line)
            return []
        raw, body = parsed
        self._now = self._clock(raw)
        self._body = body
        if not body or body.startswith("---"):
            return []
        m = _TEAM_SCORE.match(body)
        if m:
            match = self._game_line()
            match.red_score, match.blue_score = int(m.group(1)), int(m.group(2))
            return self._flush([])
        keyword, sep, rest = body.partition(":")
        handler = self._handlers.get(keyword) if sep else None
        if handler is None:
            word = keyword if sep else body.split(" ", 1)[0]
            if (keyword in _IGNORED and sep) or (not sep and word in _IGNORED_PHRASES):
                self.skipped[f"ignored:{word}"] += 1
            else:
                self._unknown(UNKNOWN_LINE, line)
            return []
        self._keyword = keyword
        events = handler(rest.strip())
        if events is None:
            self._unknown(f"malformed:{keyword}", line)
            events = []
        return self._flush(events)

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

    def _flush(self, events: list[Event]) -> list[Event]:
        if self._opened:
            events = self._opened + events
            self._opened = []
        return events

    def _unknown(self, kind: str, line: str) -> None:
        self.skipped[kind] += 1
        if len(self.unknown_samples) < self.SAMPLE_LIMIT:
            self.unknown_samples.append(line.rstrip("\r\n"))

    def _unknown_player(self) -> list[Event]:
        self.skipped[f"unknown_player:{self._keyword}"] += 1
        return []

    def _game_line(self, info: dict[str, str] | None = None) -> _Match:
        """The open match; a line of a game with no match open (the log began mid-game) opens one."""
        if self._match is None:
            self._open_partial(info or {})
        assert self._match is not None
        return self._match

    def _event(self, type_: str, **fields: Any) -> Event:
        match = self._game_line()
        return {
            "type": type_,
            "match_id": match.match_id,
            "session_id": match.session_id,
            "timestamp": float(self._now - match.start_clock),
            "occurred_at": self._start_ms + self._now * 1000,
            **fields,
        }

    def _saw_urt(self, version: str | None = None) -> None:
        # A line only Urban Terror writes; `version` when the line names it.
        self._urt = True
        self._urt_version = version or self._urt_version

    def _team(self, code: str) -> str:
        team_game = self._match.team_game if self._match else False
        if code == "0":
            return "none" if team_game else "freeforall"
        return _TEAMS.get(code, "none")

    @staticmethod
    def _block(prefix: str, player: _Player) -> dict[str, Any]:
        # Marks the player as known by name once a block without GUID went out (see _Player).
        block: dict[str, Any] = {f"{prefix}_name": player.name}
        if player.team is not None:
            block[f"{prefix}_team"] = player.team
        if player.guid and not player.by_name:
            block[f"{prefix}_guid"] = player.guid
        else:
            player.by_name = True
        return block

    def _player(self, slot: int, name: str | None) -> _Player | None:
        """The player on ``slot``; ``name`` is what the line itself calls it (None if it names no one).

        A slot never announced is learnt from the line's name. A known slot whose name does not
        match the line's (a rename or reconnect the log lost) is taken to be a new, unannounced
        player: the line is what the game printed at that moment."""
        player = self._slots.get(slot)
        if name is not None and player is not None and display_name(player.name) != display_name(name):
            player = None
        if player is None:
            if not name:
                return None
            player = self._slots[slot] = _Player(name=name, team=None)
        return player

    def _player_block(self, prefix: str, slot: int, name: str | None) -> dict[str, Any] | None:
        player = self._player(slot, name)
        return None if player is None else self._block(prefix, player)

    def _open_partial(self, info: dict[str, str]) -> None:
        # The events of a game whose InitGame is not in the log: a match of their own, marked
        # partial. Its id derives from its first line and that line's instant, as an InitGame's does.
        at = str(self._start_ms + self._now * 1000)
        self._match = _Match(
            match_id="match_" + _hex16("partial", self._body, at),
            session_id="sess_" + _hex16("partial-session", self._body, at),
            start_clock=self._now, map_name="", gametype="", team_game=False, partial=True,
        )
        self._learn_game(info)
        fields: dict[str, Any] = {"partial": True}
        if self._match.map_name:
            fields.update(map_name=self._match.map_name, gametype=self._match.gametype)
        self._opened.append(self._event("match_start", **fields))

    def _learn_game(self, info: dict[str, str]) -> None:
        # Map and game type of a partial match, from the first InitRound that names them.
        match = self._match
        if match is None or match.map_name or "mapname" not in info:
            return
        gt_num = _atoi(info.get("g_gametype"))
        match.map_name = info["mapname"]
        match.gametype = urt.gametype(gt_num) if self._urt else _GAMETYPES.get(gt_num, f"gt{gt_num}")
        match.team_game = urt.is_team_game(gt_num) if self._urt else gt_num >= _FIRST_TEAM_GAMETYPE

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
            fields["red_score"], fields["blue_score"] = match.red_score, match.blue_score
        if match.rounds:
            fields["total_rounds"] = match.rounds
        if match.partial:
            fields["partial"] = True
        event = self._event("match_end", **fields)
        self._match = None
        self._forget_clients()
        return event

    def _forget_clients(self) -> None:
        self._slots.clear()
        self._pending.clear()
        self._guids.clear()
        self._last_hit.clear()

    # -- line handlers: return None for a malformed body ----------------------

    def _init_game(self, rest: str) -> list[Event] | None:
        info = _kv(rest)
        if not info:
            return None
        events: list[Event] = []
        if self._match is not None:
            # An InitGame without ShutdownGame (crash, restart): the old match is over.
            events.append(self._end_match("next_game"))
        version = urt.version_of(info)
        if version is not None:
            self._saw_urt(version)
        gt_num = _atoi(info.get("g_gametype"))
        start_ms = str(self._start_ms + self._now * 1000)
        if self._urt:
            gametype, team_game = urt.gametype(gt_num), urt.is_team_game(gt_num)
        else:
            gametype, team_game = _GAMETYPES.get(gt_num, f"gt{gt_num}"), gt_num >= _FIRST_TEAM_GAMETYPE
        self._match = _Match(
            match_id="match_" + _hex16("match", rest, start_ms),
            session_id="sess_" + _hex16("session", rest, start_ms),
            start_clock=self._now,
            map_name=info.get("mapname", ""),
            gametype=gametype,
            team_game=team_game,
        )
        self._forget_clients()
        fields: dict[str, Any] = {"map_name": self._match.map_name, "gametype": self._match.gametype}
        for key, src in (("timelimit", "timelimit"), ("fraglimit", "fraglimit"), ("maxclients", "sv_maxclients")):
            value = _int_or_none(info.get(src))
            if value is not None:
                fields[key] = value
        if "sv_hostname" in info:
            fields["hostname"] = info["sv_hostname"]
        events.append(self._event("match_start", **fields))
        return events

    def _init_round(self, rest: str) -> list[Event] | None:
        info = _kv(rest)
        if not info:
            return None
        self._saw_urt(urt.version_of(info))
        match = self._game_line(info)
        self._learn_game(info)
        match.rounds += 1
        return [self._event("round_start", round_number=match.rounds)]

    def _survivor_winner(self, rest: str) -> list[Event] | None:
        if not rest:
            return None
        match = self._game_line()
        fields: dict[str, Any] = {"round_number": match.rounds}
        slot = _SLOT.match(rest)
        if slot:
            # A player won the round alone (last man standing).
            block = self._player_block("player", int(slot.group(1)), None)
            if block is None:
                return self._unknown_player()
            fields.update(block)
        else:
            fields["winning_team"] = rest.lower()
        return [self._event("round_end", **fields)]

    def _exit(self, rest: str) -> list[Event]:
        self._game_line().exit_reason = rest or None
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
        # A reused slot is a new client: forget the old one's name, team and GUID.
        self._slots.pop(slot, None)
        self._guids.pop(slot, None)
        self._pending.add(slot)
        return []

    def _client_userinfo(self, rest: str) -> list[Event] | None:
        # Urban Terror logs the full userinfo (with the GUID) before each ClientUserinfoChanged.
        m = _USERINFO.match(rest)
        if not m:
            return None
        info = _kv(m.group(2))
        guid = next((info[k] for k in _GUID_KEYS if info.get(k)), None)
        if guid:
            self._guids[int(m.group(1))] = guid
        return []

    def _userinfo_changed(self, rest: str) -> list[Event] | None:
        m = _USERINFO.match(rest)
        if not m:
            return None
        slot, info = int(m.group(1)), _kv(m.group(2))
        if "n" not in info:
            return None
        name, team = info["n"], self._team(info.get("t", "0"))
        guid = next((info[k] for k in _GUID_KEYS if info.get(k)), None) or self._guids.get(slot)
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
        if player.team is None:
            player.team = team  # an unannounced player's team, learnt: no change to report
        elif team != player.team:
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
            return self._unknown_player()
        return [self._event("player_spawn", **block)]

    def _client_disconnect(self, rest: str) -> list[Event] | None:
        slot = self._slot(rest)
        if slot is None:
            return None
        self._pending.discard(slot)
        self._guids.pop(slot, None)
        self._last_hit.pop(slot, None)
        block = self._player_block("player", slot, None)
        self._slots.pop(slot, None)
        if block is None:
            return self._unknown_player()
        return [self._event("disconnect", **block)]

    def _mod_for_number(self, number: int) -> str | None:
        if self._urt:
            return urt.mod_by_number(number, self._urt_version)
        return "MOD_" + _MOD_BY_NUMBER[number] if number < len(_MOD_BY_NUMBER) else None

    def _kill(self, rest: str) -> list[Event] | None:
        m = _KILL.match(rest)
        if not m:
            return None
        killer, victim, mod_num = int(m.group(1)), int(m.group(2)), int(m.group(3))
        text = _KILL_TEXT.match(m.group(4))
        if text:
            killer_text, victim_text, mod_name = text.group(1), text.group(2), text.group(3)
        else:
            killer_text = victim_text = None
            mod_name = self._mod_for_number(mod_num)
            if mod_name is None:
                return None
        if mod_name.startswith("UT_"):
            self._saw_urt()
        hit = self._last_hit.pop(victim, None)
        world = killer == WORLD_ID or (killer_text or "").lower() in _WORLD_NAMES
        victim_block = self._player_block("victim", victim, victim_text)
        if victim_block is None:
            return self._unknown_player()
        fields: dict[str, Any] = {}
        if not world:
            if killer == victim:
                # A suicide: the service recognises it by identical blocks.
                attacker_block = _reprefix(victim_block, "victim", "attacker")
            else:
                attacker_block = self._player_block("attacker", killer, killer_text)
            if attacker_block is None:
                return self._unknown_player()
            fields.update(attacker_block)
        fields.update(victim_block)
        mod = mod_name.removeprefix("UT_").removeprefix("MOD_")
        fields["weapon"] = weapon_for_mod(mod_name)
        fields["mod"] = mod.lower()
        # The shot that killed is the Hit logged just before, in the same second, by the same
        # attacker; a victim who bled out died of no shot.
        if hit is not None and hit.attacker == killer and hit.clock == self._now and mod != "BLED":
            fields["hitloc"] = hit.hitloc
        return [self._event("player_kill", **fields)]

    def _hit(self, rest: str) -> list[Event] | None:
        m = _HIT.match(rest)
        if not m:
            return None
        self._saw_urt()
        victim, attacker, part, weapon = (int(m.group(i)) for i in range(1, 5))
        text = _HIT_TEXT.match(m.group(5))
        attacker_text, victim_text, part_text = text.groups() if text else (None, None, None)
        hitloc = urt.hitloc(part_text, part, self._urt_version)
        self._last_hit[victim] = _Hit(attacker, hitloc, self._now)
        victim_block = self._player_block("victim", victim, victim_text)
        if victim_block is None:
            return self._unknown_player()
        if attacker == victim:
            attacker_block: dict[str, Any] | None = _reprefix(victim_block, "victim", "attacker")
        else:
            attacker_block = self._player_block("attacker", attacker, attacker_text)
        if attacker_block is None:
            return self._unknown_player()
        # A Hit line says where, not how much: a `damage` event without `damage`.
        return [self._event("damage", **attacker_block, **victim_block,
                            weapon=urt.hit_weapon(weapon, self._urt_version), hitloc=hitloc)]

    def _flag(self, rest: str) -> list[Event] | None:
        m = _FLAG.match(rest)
        if not m:
            return None
        self._saw_urt()
        slot, action, colour = int(m.group(1)), int(m.group(2)), urt.flag_colour(m.group(3))
        kind = _FLAG_ACTIONS.get(action)
        if kind is None or colour is None:
            return None
        player = self._player(slot, None)
        if player is None:
            return self._unknown_player()
        if player.team is None:
            # CTF rules: one returns one's own flag, drops or captures the other team's.
            other = "blue" if colour == "red" else "red"
            player.team = colour if kind == "flag_return" else other
        return [self._event(kind, **self._block("player", player), flag=colour)]

    def _flag_timeout(self, rest: str) -> list[Event] | None:
        # "Flag Return: RED": a dropped flag went home by itself after its timeout.
        colour = urt.flag_colour(rest)
        if colour is None:
            return None
        return [self._event("flag_return", flag=colour)]

    def _item(self, rest: str) -> list[Event] | None:
        m = _ITEM.match(rest)
        if not m:
            return None
        block = self._player_block("player", int(m.group(1)), None)
        if block is None:
            return self._unknown_player()
        return [self._event("item_pickup", **block, item=m.group(2))]

    def _say(self, rest: str) -> list[Event] | None:
        return self._chat(rest, team_only=False)

    def _say_team(self, rest: str) -> list[Event] | None:
        return self._chat(rest, team_only=True)

    def _chat(self, rest: str, team_only: bool) -> list[Event] | None:
        # Two shapes exist: "<id> <name>: <text>" (newer ioq3, Urban Terror) and "<name>: <text>"
        # (ioq3 1.36, as in the Quake III games.log). Names may hold spaces and ": ", so match
        # against the names of the players present before splitting blindly.
        block = None
        message = None
        m = _SAY_WITH_ID.match(rest)
        if m and int(m.group(1)) in self._slots:
            player = self._slots[int(m.group(1))]
            message = _said_by(m.group(2), player.name)
            if message is not None:
                block = self._block("player", player)
        if block is None:
            for player in sorted(self._slots.values(), key=lambda p: -len(p.name)):
                if rest.startswith(player.name + ":"):
                    block = self._block("player", player)
                    message = rest[len(player.name) + 1:]
                    break
        if block is None:
            # Urban Terror always writes the id: never take it for part of the name.
            text = m.group(2) if m and self._urt else rest
            name, sep, message = text.partition(": ")
            if not sep or not name:
                return None
            block = {"player_name": name}
        return [self._event("chat", **block, message=message.removeprefix(" "), team_only=team_only)]

    def _score(self, rest: str) -> list[Event] | None:
        m = _SCORE.match(rest)
        if not m:
            return None
        # The name ends the line, where a torn write leaves its garbage (seen in the Quake III
        # games.log): only a slot we know nothing of is named by it.
        slot = int(m.group(3))
        block = self._player_block("player", slot, None if slot in self._slots else m.group(4) or None)
        if block is None:
            return self._unknown_player()
        return [self._event("player_score", **block, score=int(m.group(1)), ping=int(m.group(2)))]
