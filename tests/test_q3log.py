"""The ioq3 log parser against the real games.log and made-up edge cases.

Expected numbers are derived here from the log text by a deliberately simple
reading (one regex over Kill lines), never copied from the parser's output.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone

import pytest

from conftest import Q3_LOG as GAMES_LOG
from ingest.q3log import Q3LogParser, log_span_seconds, parse_clock, weapon_for_mod

START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
START_MS = int(START.timestamp() * 1000)

KILL_LINE = re.compile(r"^\s*\d+:\d\d Kill: (\d+) (\d+) \d+: (.*) killed (.*) by (MOD_\w+)$")


def parse(lines, start=START, end_open_match=True):
    parser = Q3LogParser(start)
    events = [e for line in lines for e in parser.feed(line)]
    return parser, events + parser.finish(end_open_match=end_open_match)


@pytest.fixture(scope="module")
def log_lines():
    assert GAMES_LOG.exists(), f"real input missing: {GAMES_LOG}"
    return GAMES_LOG.read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.fixture(scope="module")
def parsed(log_lines):
    return parse(log_lines)


def text_counts(lines):
    """Per-player kills, deaths, suicides, world deaths from the Kill lines' text.

    Rule: killer id 1022 is the world (a world death, not anyone's kill);
    killer id == victim id is a suicide (not a kill); every Kill line is a
    death of its victim; any other line is a kill of the killer.
    """
    kills, deaths, suicides, world = Counter(), Counter(), Counter(), Counter()
    for line in lines:
        m = KILL_LINE.match(line.rstrip("\n"))
        if not m:
            continue
        killer, victim, killer_name, victim_name = m.group(1), m.group(2), m.group(3), m.group(4)
        deaths[victim_name] += 1
        if killer == "1022":
            world[victim_name] += 1
        elif killer == victim:
            suicides[victim_name] += 1
        else:
            kills[killer_name] += 1
    return kills, deaths, suicides, world


def event_counts(events):
    kills, deaths, suicides, world = Counter(), Counter(), Counter(), Counter()
    for e in events:
        if e["type"] != "player_kill":
            continue
        deaths[e["victim_name"]] += 1
        if "attacker_name" not in e:
            world[e["victim_name"]] += 1
        elif {k[9:]: v for k, v in e.items() if k.startswith("attacker_")} == {
            k[7:]: v for k, v in e.items() if k.startswith("victim_")
        }:
            suicides[e["victim_name"]] += 1
        else:
            kills[e["attacker_name"]] += 1
    return kills, deaths, suicides, world


# -- the real log ---------------------------------------------------------------


def test_every_line_of_the_real_log_is_understood(parsed, log_lines):
    parser, _ = parsed
    assert parser.lines == len(log_lines)
    assert parser.unknown_lines == 0, parser.unknown_samples
    assert parser.skipped_lines == 0


def test_kill_counts_per_player_match_the_text(parsed, log_lines):
    _, events = parsed
    assert sum(1 for line in log_lines if " Kill: " in line) == 1069
    assert event_counts(events) == text_counts(log_lines)
    kills, deaths, suicides, world = text_counts(log_lines)
    assert sum(deaths.values()) == 1069
    assert sum(world.values()) == sum(1 for line in log_lines if " Kill: 1022 " in line)


def test_weapons_follow_the_means_of_death(parsed, log_lines):
    _, events = parsed
    mods = Counter(m.group(5) for line in log_lines if (m := KILL_LINE.match(line.rstrip("\n"))))
    got = Counter(e["mod"] for e in events if e["type"] == "player_kill")
    assert got == Counter({k.removeprefix("MOD_").lower(): v for k, v in mods.items()})
    weapons = Counter(e["weapon"] for e in events if e["type"] == "player_kill")
    assert weapons["rocket_launcher"] == mods["MOD_ROCKET"] + mods["MOD_ROCKET_SPLASH"]
    assert weapons["world"] == mods["MOD_TRIGGER_HURT"] + mods["MOD_FALLING"] + mods["MOD_CRUSH"]
    assert weapons["bfg10k"] == mods["MOD_BFG"] + mods["MOD_BFG_SPLASH"]


def test_twenty_one_matches_each_start_and_end_once(parsed, log_lines):
    _, events = parsed
    init_lines = [line for line in log_lines if " InitGame: " in line]
    assert len(init_lines) == 21
    starts = [e for e in events if e["type"] == "match_start"]
    ends = [e for e in events if e["type"] == "match_end"]
    assert len(starts) == len(ends) == 21
    assert [e["match_id"] for e in starts] == [e["match_id"] for e in ends]
    assert len({e["match_id"] for e in starts}) == 21
    assert len({e["session_id"] for e in starts}) == 21
    # The second game (line 11) has no ShutdownGame: the next InitGame ends it.
    assert ends[1]["reason"] == "next_game"
    assert sum(e["reason"] == "shutdown" for e in ends) == 20 - sum(" Exit: " in line for line in log_lines)
    # Every event sits inside its match: open, then its events, then close.
    current = None
    for e in events:
        if e["type"] == "match_start":
            assert current is None
            current = e["match_id"]
        assert e["match_id"] == current
        if e["type"] == "match_end":
            current = None


def test_match_fields_and_gametypes(parsed):
    _, events = parsed
    starts = [e for e in events if e["type"] == "match_start"]
    assert starts[0] == {
        "type": "match_start",
        "match_id": starts[0]["match_id"],
        "session_id": starts[0]["session_id"],
        "timestamp": 0.0,
        "occurred_at": START_MS,
        "map_name": "q3dm17",
        "gametype": "ffa",
        "timelimit": 15,
        "fraglimit": 20,
        "maxclients": 16,
        "hostname": "Code Miner Server",
    }
    assert Counter(e["gametype"] for e in starts) == {"ffa": 14, "ctf": 7}
    # CTF games have red and blue teams, FFA games only free-for-all and spectators.
    for e in events:
        team = e.get("player_team") or e.get("victim_team")
        if team is None:
            continue
        match = next(s for s in starts if s["match_id"] == e["match_id"])
        allowed = {"red", "blue", "spectator"} if match["gametype"] == "ctf" else {"freeforall", "spectator"}
        assert team in allowed, e


def test_envelope_and_clocks(parsed):
    _, events = parsed
    last = START_MS
    for e in events:
        assert re.fullmatch(r"match_[0-9a-f]{16}", e["match_id"])
        assert re.fullmatch(r"sess_[0-9a-f]{16}", e["session_id"])
        assert isinstance(e["timestamp"], float) and e["timestamp"] >= 0
        assert isinstance(e["occurred_at"], int)
        assert e["occurred_at"] >= last, "the clock restarts in this log, time must not"
        last = e["occurred_at"]
        assert not any(k.endswith(("_x", "_y", "_z", "_guid")) for k in e)


def test_ids_are_deterministic(log_lines, parsed):
    _, events = parsed
    _, again = parse(log_lines)
    assert again == events
    _, shifted = parse(log_lines, start=datetime(2024, 5, 2, tzinfo=timezone.utc))
    assert {e["match_id"] for e in shifted}.isdisjoint({e["match_id"] for e in events})


def test_other_event_types_on_the_real_log(parsed, log_lines):
    _, events = parsed
    types = Counter(e["type"] for e in events)
    count = lambda word: sum(1 for line in log_lines if f" {word}:" in line)  # noqa: E731
    assert types["item_pickup"] == count("Item")
    assert types["player_spawn"] == count("ClientBegin")
    assert types["disconnect"] == count("ClientDisconnect")
    assert types["connect"] == count("ClientConnect")
    assert types["player_score"] == count("score")
    assert types["chat"] == count("say")
    chats = [e for e in events if e["type"] == "chat"]
    assert (chats[0]["player_name"], chats[0]["message"], chats[0]["team_only"]) == ("Oootsimo", "team red", False)


def test_log_span_handles_restarts(log_lines):
    # Each restart continues from the last clock seen, so the span is the sum
    # of the clock at every point it went backwards, plus the last clock.
    clocks = [parse_clock(line)[0] for line in log_lines if parse_clock(line)]
    expected = clocks[-1] + sum(a for a, b in zip(clocks, clocks[1:]) if b < a)
    assert log_span_seconds(log_lines) == expected


# -- made-up edge cases -----------------------------------------------------------

INIT = r"  0:00 InitGame: \sv_hostname\Test\g_gametype\{gt}\sv_maxclients\8\fraglimit\10\timelimit\5\mapname\{map}" "\n"


def lines(text: str) -> list[str]:
    return [line + "\n" for line in text.strip("\n").splitlines()]


def test_colour_codes_and_spaces_kept_raw():
    _, events = parse([INIT.format(gt=0, map="q3dm1")] + lines(r"""
  0:01 ClientConnect: 0
  0:01 ClientUserinfoChanged: 0 n\^1Red ^7Baron\t\0\model\sarge
  0:02 ClientConnect: 1
  0:02 ClientUserinfoChanged: 1 n\Dono da Bola\t\0\model\sarge
  0:03 Kill: 0 1 10: ^1Red ^7Baron killed Dono da Bola by MOD_RAILGUN
"""))
    kill = next(e for e in events if e["type"] == "player_kill")
    assert kill["attacker_name"] == "^1Red ^7Baron"
    assert kill["victim_name"] == "Dono da Bola"
    assert (kill["weapon"], kill["mod"]) == ("railgun", "railgun")
    assert kill["attacker_team"] == kill["victim_team"] == "freeforall"


def test_init_without_shutdown_ends_the_previous_match():
    _, events = parse([INIT.format(gt=0, map="a")] + lines("""
  1:00 Exit: Fraglimit hit.
""") + [INIT.format(gt=4, map="b").replace("0:00", "1:05")] + lines("  2:00 ShutdownGame:"))
    assert [e["type"] for e in events] == ["match_start", "match_end", "match_start", "match_end"]
    first_end, second_start = events[1], events[2]
    assert first_end["match_id"] == events[0]["match_id"] != second_start["match_id"]
    assert (first_end["reason"], first_end["duration"], first_end["map_name"]) == ("Fraglimit hit.", 65.0, "a")
    assert (second_start["gametype"], second_start["timestamp"]) == ("ctf", 0.0)
    assert (events[3]["duration"], events[3]["reason"]) == (55.0, "shutdown")


def test_clock_restart_and_long_minutes_stay_monotonic():
    _, events = parse([INIT.format(gt=0, map="a")] + lines(r"""
 30:00 ClientConnect: 0
 30:00 ClientUserinfoChanged: 0 n\A\t\0
  0:00 ClientBegin: 0
  0:10 Item: 0 weapon_railgun
1234:56 Item: 0 ammo_slugs
"""))
    spawn, item1, item2 = events[2], events[3], events[4]
    assert spawn["timestamp"] == 1800.0
    assert item1["timestamp"] == 1810.0
    assert item2["timestamp"] == 1800.0 + 1234 * 60 + 56
    assert item1["occurred_at"] == START_MS + 1810 * 1000


def test_garbage_is_counted_never_fatal():
    parser, events = parse([INIT.format(gt=0, map="a")] + lines(r"""
this is not a log line
  0:05 Bogus: something
  0:06 Kill: x y z
  0:07 ClientBegin: 9
"""))
    assert parser.lines == 5
    assert parser.unknown_lines == 3
    assert parser.skipped_lines == 1  # ClientBegin of a slot nobody connected
    assert "this is not a log line" in parser.unknown_samples
    assert [e["type"] for e in events] == ["match_start", "match_end"]


def test_name_and_team_changes_mid_game():
    _, events = parse([INIT.format(gt=4, map="ctf")] + lines(r"""
  0:01 ClientConnect: 3
  0:01 ClientUserinfoChanged: 3 n\UnnamedPlayer\t\3\model\x\cl_guid\ABCDEF0123
  0:02 ClientBegin: 3
  0:05 ClientUserinfoChanged: 3 n\Mal\t\3\model\x\cl_guid\ABCDEF0123
  0:06 ClientUserinfoChanged: 3 n\Mal\t\1\model\x\cl_guid\ABCDEF0123
  0:07 ClientConnect: 4
  0:07 ClientUserinfoChanged: 4 n\Zeh\t\2
  0:09 Kill: 3 4 6: Mal killed Zeh by MOD_ROCKET
  0:10 ClientDisconnect: 3
"""))
    by_type = {e["type"]: e for e in events}
    assert by_type["connect"]["player_name"] == "Zeh"  # the last connect
    first_connect = next(e for e in events if e["type"] == "connect")
    assert first_connect["player_team"] == "spectator"
    assert first_connect["player_guid"] == "ABCDEF0123"
    rename = by_type["player_rename"]
    assert (rename["player_name"], rename["old_name"]) == ("Mal", "UnnamedPlayer")
    join = by_type["team_join"]
    assert (join["player_name"], join["old_team"], join["new_team"], join["player_team"]) == (
        "Mal", "spectator", "red", "red")
    kill = by_type["player_kill"]
    assert (kill["attacker_name"], kill["attacker_team"], kill["attacker_guid"]) == ("Mal", "red", "ABCDEF0123")
    assert (kill["victim_name"], kill["victim_team"]) == ("Zeh", "blue")
    assert "victim_guid" not in kill
    assert (kill["weapon"], kill["mod"]) == ("rocket_launcher", "rocket")
    assert by_type["disconnect"]["player_name"] == "Mal"


def test_suicide_and_world_death():
    _, events = parse([INIT.format(gt=0, map="a")] + lines(r"""
  0:01 ClientConnect: 2
  0:01 ClientUserinfoChanged: 2 n\Isgalamido\t\0
  0:02 Kill: 2 2 7: Isgalamido killed Isgalamido by MOD_ROCKET_SPLASH
  0:03 Kill: 1022 2 22: <world> killed Isgalamido by MOD_TRIGGER_HURT
  0:04 Kill: 1022 2 19
"""))
    suicide, world, bare = [e for e in events if e["type"] == "player_kill"]
    assert {k[9:]: v for k, v in suicide.items() if k.startswith("attacker_")} == {
        k[7:]: v for k, v in suicide.items() if k.startswith("victim_")}
    assert (suicide["weapon"], suicide["mod"]) == ("rocket_launcher", "rocket_splash")
    assert not any(k.startswith("attacker_") for k in world)
    assert (world["victim_name"], world["weapon"], world["mod"]) == ("Isgalamido", "world", "trigger_hurt")
    # No "by MOD_X" text: the number says MOD_FALLING.
    assert (bare["weapon"], bare["mod"]) == ("world", "falling")


def test_chat_both_shapes_and_team_only():
    _, events = parse([INIT.format(gt=0, map="a")] + lines(r"""
  0:01 ClientConnect: 1
  0:01 ClientUserinfoChanged: 1 n\Dono: da Bola\t\0
  0:02 say: 1 Dono: da Bola: gg all
  0:03 sayteam: Dono: da Bola: rush b
  0:04 say: Stranger: hi
"""))
    chats = [e for e in events if e["type"] == "chat"]
    assert [(c["player_name"], c["message"], c["team_only"]) for c in chats] == [
        ("Dono: da Bola", "gg all", False),
        ("Dono: da Bola", "rush b", True),
        ("Stranger", "hi", False),
    ]


def test_scores_and_team_result():
    _, events = parse([INIT.format(gt=4, map="ctf")] + lines(r"""
  0:01 ClientConnect: 2
  0:01 ClientUserinfoChanged: 2 n\Isgalamido\t\1
 10:12 Exit: Capturelimit hit.
 10:12 red:8  blue:6
 10:12 score: 77  ping: 3  client: 2 Isgalamido
 10:12 score: -3  ping: 15  client: 6 Mal
 10:28 ShutdownGame:
"""))
    scores = [e for e in events if e["type"] == "player_score"]
    assert [(s["player_name"], s["score"], s["ping"]) for s in scores] == [("Isgalamido", 77, 3), ("Mal", -3, 15)]
    assert scores[0]["player_team"] == "red"
    end = events[-1]
    assert (end["reason"], end["winning_team"], end["duration"]) == ("Capturelimit hit.", "red", 628.0)


def test_finish_leaves_an_open_match_open_unless_asked():
    parser = Q3LogParser(START)
    assert [e["type"] for e in parser.feed(INIT.format(gt=0, map="a"))] == ["match_start"]
    parser.feed(" 0:09 Item: 1 weapon_shotgun\n")
    assert parser.finish(end_open_match=False) == []
    end = parser.finish(end_open_match=True)
    assert [(e["type"], e["reason"], e["duration"]) for e in end] == [("match_end", "end_of_log", 9.0)]


def test_events_before_any_init_game_open_a_partial_match():
    _, events = parse(lines(r"""
  5:00 ClientConnect: 0
  5:00 ClientUserinfoChanged: 0 n\Late\t\0
  5:09 ShutdownGame:
"""))
    assert [e["type"] for e in events] == ["match_start", "connect", "match_end"]
    start, connect, end = events
    assert start["partial"] is end["partial"] is True
    assert start["match_id"] == connect["match_id"] == end["match_id"] != "no_match"
    assert (start["timestamp"], connect["timestamp"], end["duration"]) == (0.0, 0.0, 9.0)
    assert start["occurred_at"] == START_MS + 300_000


def test_naive_start_is_utc():
    naive = Q3LogParser(START.replace(tzinfo=None)).feed(INIT.format(gt=0, map="a"))
    assert naive[0]["occurred_at"] == START_MS


@pytest.mark.parametrize(
    "mod, weapon",
    [("MOD_GAUNTLET", "gauntlet"), ("MOD_MACHINEGUN", "machinegun"), ("MOD_GRENADE_SPLASH", "grenade_launcher"),
     ("MOD_PLASMA", "plasmagun"), ("MOD_LIGHTNING", "lightning_gun"), ("MOD_TELEFRAG", "telefrag"),
     ("MOD_NAIL", "nailgun"), ("MOD_CHAINGUN", "chaingun"), ("MOD_PROXIMITY_MINE", "proximity_launcher"),
     ("MOD_LAVA", "world"), ("MOD_WATER", "world"), ("MOD_SLIME", "world"), ("MOD_TARGET_LASER", "world"),
     ("MOD_SUICIDE", "world"), ("MOD_UNKNOWN", "world"), ("bfg_splash", "bfg10k")],
)
def test_weapon_table(mod, weapon):
    assert weapon_for_mod(mod) == weapon
