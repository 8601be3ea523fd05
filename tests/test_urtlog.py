"""The games.log parser on Urban Terror 4.x lines: the fixture log that begins mid-game, and made-up
edge cases. Expected values come from the lines written here, never from the parser's output."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ingest import urt
from ingest.q3log import Q3LogParser, weapon_for_mod

URT_LOG = Path(__file__).parent / "data" / "urt" / "mid_game.log"
START = datetime(2026, 11, 2, 20, 0, tzinfo=timezone.utc)
KILL = re.compile(r"^\s*\d+:\d\d Kill: ")
CTF = (r"  0:00 InitGame: \sv_hostname\UrT\g_gametype\7\sv_maxclients\16\capturelimit\3\timelimit\20"
       r"\mapname\ut4_turnpike\gamename\q3ut4\g_modversion\4.1.1")


def parse(text: str, end_open_match: bool = True) -> tuple[Q3LogParser, list[dict]]:
    parser = Q3LogParser(START)
    events = [e for line in text.strip("\n").splitlines() for e in parser.feed(line + "\n")]
    return parser, events + parser.finish(end_open_match=end_open_match)


def of(events: list[dict], type_: str) -> list[dict]:
    return [e for e in events if e["type"] == type_]


# -- the fixture ---------------------------------------------------------------------


def test_fixture_every_kill_line_is_an_event_in_a_match():
    text = URT_LOG.read_text()
    parser, events = parse(text)
    assert len(of(events, "player_kill")) == sum(1 for line in text.splitlines() if KILL.match(line)) == 64
    assert parser.lines == len(text.splitlines())
    # The lines before the first InitGame make a match of their own, ended by its ShutdownGame.
    starts, ends = of(events, "match_start"), of(events, "match_end")
    assert [e.get("partial") for e in starts] == [True, None]
    assert [(e["map_name"], e["gametype"], e.get("partial")) for e in ends] == [
        ("ut4_abbey", "ts", True), ("ut4_turnpike", "ctf", None)]
    current = None
    for e in events:
        current = e["match_id"] if e["type"] == "match_start" else current
        assert e["match_id"] == current
        current = None if e["type"] == "match_end" else current


# -- clients the log never announced ---------------------------------------------------


def test_unannounced_clients_are_named_by_their_kill_line():
    _, events = parse(r"""
  7:12 Kill: 2 5 19: ^2Dark^7Star killed Tango by UT_MOD_LR300
  7:13 Item: 2 ut_weapon_lr300
  7:14 Item: 5 ut_item_vest
""")
    start, kill, item2, item5 = events[:4]
    assert (start["type"], start["partial"]) == ("match_start", True)
    assert {k: v for k, v in kill.items() if k.startswith(("attacker_", "victim_"))} == {
        "attacker_name": "^2Dark^7Star", "victim_name": "Tango"}  # no team, no GUID: known by name
    assert (kill["weapon"], kill["mod"]) == ("lr300", "lr300")
    assert (item2["player_name"], item5["player_name"]) == ("^2Dark^7Star", "Tango")


def test_non_client_killer_is_no_one_even_with_a_slot_number():
    parser, events = parse(r"""
  1:00 Kill: 0 5 19: Ace killed Bob by UT_MOD_LR300
  1:05 Kill: 0 5 1: <non-client> killed Bob by MOD_WATER
  1:06 Item: 0 ut_weapon_lr300
""")
    _, kill, drowned, item = events[:4]
    assert kill["attacker_name"] == "Ace"
    assert "attacker_name" not in drowned and (drowned["victim_name"], drowned["weapon"]) == ("Bob", "world")
    assert item["player_name"] == "Ace"  # slot 0 still is Ace


def test_a_guid_learnt_mid_match_waits_for_the_next_match():
    _, events = parse(r"""
  7:00 Kill: 3 1 38: Mal killed Zeh by UT_MOD_M4
  7:05 ClientUserinfo: 3 \ip\192.0.2.3:27960\name\Mal\cl_guid\0123456789ABCDEF0123456789ABCDEF
  7:05 ClientUserinfoChanged: 3 n\Mal\t\1\r\0\tl\0\f0\\f1\\f2\\a0\0\a1\0\a2\0
  7:09 Kill: 3 1 38: Mal killed Zeh by UT_MOD_M4
  8:00 ShutdownGame:
""" + CTF + r"""
  0:00 ClientConnect: 3
  0:00 ClientUserinfo: 3 \ip\192.0.2.3:27960\name\Mal\cl_guid\0123456789ABCDEF0123456789ABCDEF
  0:00 ClientUserinfoChanged: 3 n\Mal\t\1\r\0\tl\0\f0\\f1\\f2\\a0\0\a1\0\a2\0
  0:30 Kill: 3 1 38: Mal killed Zeh by UT_MOD_M4
""")
    first, second, third = of(events, "player_kill")
    assert "attacker_guid" not in first and "attacker_guid" not in second
    assert second["attacker_team"] == "red"  # the team is learnt at once: it is no identity
    assert not of(events, "team_join")  # an unknown team becoming known is no change of team
    assert third["attacker_guid"] == "0123456789ABCDEF0123456789ABCDEF"
    assert first["match_id"] == second["match_id"] != third["match_id"]


def test_a_kill_line_naming_someone_else_than_the_slot_we_knew_wins():
    _, events = parse(CTF + r"""
  0:01 ClientConnect: 4
  0:01 ClientUserinfo: 4 \name\Old\cl_guid\AAAA0000AAAA0000AAAA0000AAAA0000
  0:01 ClientUserinfoChanged: 4 n\Old\t\1
  0:09 Kill: 4 2 19: ^3New killed Zeh by UT_MOD_LR300
  0:10 Kill: 4 2 19: ^7Old killed Zeh by UT_MOD_LR300
""")
    lost, back = of(events, "player_kill")
    # The line is what the game printed then: our view of slot 4 was stale (a lost rename or
    # reconnect). Whoever it is, we know them by name only from then on.
    assert lost["attacker_name"] == "^3New" and "attacker_guid" not in lost
    assert back["attacker_name"] == "^7Old" and "attacker_guid" not in back


# -- Hit, Kill and headshots ---------------------------------------------------------


def test_a_kill_takes_the_body_part_of_the_hit_just_before_it():
    _, events = parse(r"""
  1:00 Hit: 2 1 1 19: Ace hit Bob in the Helmet
  1:00 Kill: 1 2 38: Ace killed Bob by UT_MOD_M4
  1:10 Hit: 3 1 0 8: Ace hit Cat in the Head
  1:11 Kill: 1 3 19: Ace killed Cat by UT_MOD_LR300
  1:20 Hit: 4 2 0 8: Bob hit Dan in the Head
  1:20 Kill: 1 4 19: Ace killed Dan by UT_MOD_LR300
  1:30 Hit: 5 1 0 8: Ace hit Eve in the Head
  1:30 Kill: 1 5 23: Ace killed Eve by UT_MOD_BLED
""")
    hits = of(events, "damage")
    assert [(h["attacker_name"], h["victim_name"], h["hitloc"], h["weapon"]) for h in hits] == [
        ("Ace", "Bob", "helmet", "m4"), ("Ace", "Cat", "head", "lr300"), ("Bob", "Dan", "head", "lr300"),
        ("Ace", "Eve", "head", "lr300")]
    assert all("damage" not in h for h in hits)  # a Hit line says where, not how much
    # Same second, same attacker: its hit. A second later, another attacker, a bleed-out: none.
    assert [k.get("hitloc") for k in of(events, "player_kill")] == ["helmet", None, None, None]


@pytest.mark.parametrize("version, part, weapon, hitloc, name", [
    (r"\gamename\q3ut4", 0, 22, "head", "knife"),
    (r"\gamename\q3ut4", 3, 19, "kevlar", "m4"),
    (r"\gamename\q3urt42", 1, 22, "head", "mac11"),
    (r"\g_modversion\4.3.4", 4, 27, "vest", "tod50"),
    (r"\gamename\q3urt42", 9, 99, "left_upper_leg", "weapon_99"),
])
def test_hit_numbers_by_version_when_the_text_is_missing(version, part, weapon, hitloc, name):
    _, events = parse(rf"  0:00 InitGame: \mapname\ut4_casa\g_gametype\4{version}" + f"\n  0:05 Hit: 2 1 {part} {weapon}:\n")
    assert of(events, "damage") == []  # no names and no known slots: nothing to send
    parser = Q3LogParser(START)
    parser.feed(rf"  0:00 InitGame: \mapname\ut4_casa\g_gametype\4{version}")
    for slot, who in ((1, "Ace"), (2, "Bob")):
        parser.feed(f"  0:01 ClientUserinfoChanged: {slot} n\\{who}\\t\\{slot}")
    (hit,) = parser.feed(f"  0:05 Hit: 2 1 {part} {weapon}:")
    assert (hit["hitloc"], hit["weapon"]) == (hitloc, name)


def test_kill_without_text_uses_the_urban_terror_numbers():
    _, events = parse(CTF + r"""
  0:01 ClientUserinfoChanged: 1 n\Ace\t\1
  0:01 ClientUserinfoChanged: 2 n\Bob\t\2
  0:05 Kill: 1 2 28
  0:06 Kill: 1 2 99
""")
    (kill,) = of(events, "player_kill")
    assert (kill["weapon"], kill["mod"]) == ("sr8", "sr8")


# -- flags, rounds, scores --------------------------------------------------------------


def test_flags_and_team_scores():
    parser, events = parse(CTF + r"""
  0:01 ClientUserinfoChanged: 1 n\Ace\t\2
  0:40 Flag: 1 0: team_CTF_redflag
  0:41 Flag: 4 1: team_CTF_redflag
  0:50 Flag: 1 2: team_CTF_redflag
  0:55 Flag Return: BLUE
  0:56 Flag: 1 7: team_CTF_redflag
  0:57 Flag: 1 2: team_CTF_greenflag
 20:00 Exit: Timelimit hit.
 20:00 red:0  blue:1
 20:05 ShutdownGame:
""")
    flags = [(e["type"], e.get("player_name"), e["flag"]) for e in events if e["type"].startswith("flag_")]
    assert flags == [("flag_drop", "Ace", "red"), ("flag_capture", "Ace", "red"), ("flag_return", None, "blue")]
    assert parser.skipped == Counter({"unknown_player:Flag": 1, "malformed:Flag": 2})
    end = of(events, "match_end")[0]
    assert (end["red_score"], end["blue_score"], end["winning_team"], end["reason"]) == (0, 1, "blue", "Timelimit hit.")


def test_flag_tells_the_team_of_an_unannounced_player():
    _, events = parse(r"""
  3:00 Kill: 1 2 19: Ace killed Bob by UT_MOD_LR300
  3:01 Kill: 2 1 19: Bob killed Ace by UT_MOD_LR300
  3:10 Flag: 1 2: team_CTF_blueflag
  3:20 Flag: 2 1: team_CTF_blueflag
""")
    capture, back = [e for e in events if e["type"].startswith("flag_")]
    assert (capture["player_team"], back["player_team"]) == ("red", "blue")  # captured blue's, returned own


def test_rounds_of_a_game_that_began_before_the_log():
    _, events = parse(r"""
  4:00 Kill: 1 2 19: Ace killed Bob by UT_MOD_LR300
  4:10 SurvivorWinner: Red
  4:15 InitRound: \g_gametype\4\mapname\ut4_abbey\gamename\q3ut4
  4:50 SurvivorWinner: Blue
  4:55 InitRound: \g_gametype\4\mapname\ut4_abbey\gamename\q3ut4
  5:30 SurvivorWinner: 7
  5:31 SurvivorWinner: 1
  6:00 Exit: Timelimit hit.
  6:00 red:4  blue:2
""")
    rounds = [(e["type"], e["round_number"], e.get("winning_team"), e.get("player_name"))
              for e in events if e["type"].startswith("round_")]
    assert rounds == [("round_end", 0, "red", None), ("round_start", 1, None, None), ("round_end", 1, "blue", None),
                      ("round_start", 2, None, None), ("round_end", 2, None, "Ace")]
    start, end = events[0], events[-1]
    assert start["partial"] is True and "map_name" not in start  # the InitRound came later
    assert (end["map_name"], end["gametype"], end["total_rounds"], end["reason"]) == ("ut4_abbey", "ts", 2, "Timelimit hit.")
    assert (end["red_score"], end["blue_score"], end["duration"]) == (4, 2, 120.0)


def test_an_init_round_first_names_the_partial_match():
    _, events = parse(r"""
  2:00 InitRound: \g_gametype\8\mapname\ut4_casa\g_modversion\4.2.023
  2:05 ClientUserinfoChanged: 1 n\Ace\t\0
""")
    start = events[0]
    assert (start["type"], start["map_name"], start["gametype"], start["partial"]) == ("match_start", "ut4_casa", "bomb", True)
    assert events[2]["player_team"] == "none"  # t\0 in a team game: no team yet


@pytest.mark.parametrize("number, name, team_game", [(0, "ffa", False), (1, "lms", False), (3, "tdm", True),
                                                      (4, "ts", True), (7, "ctf", True), (8, "bomb", True),
                                                      (9, "jump", False), (11, "gungame", False)])
def test_urban_terror_gametypes(number, name, team_game):
    _, events = parse(rf"  0:00 InitGame: \g_gametype\{number}\mapname\ut4_casa\gamename\q3urt43" + "\n"
                      r"  0:01 ClientUserinfoChanged: 1 n\Ace\t\0")
    assert events[0]["gametype"] == name
    assert events[1]["player_team"] == ("none" if team_game else "freeforall")


# -- what is still skipped ---------------------------------------------------------------


def test_skipped_lines_are_counted_by_kind():
    parser, events = parse(CTF + r"""
ayer1 hit Player2 in the Torso
  0:00 Warmup:
  0:10 Radio: 0 - 7 - 2 - "New Alley" - "I'm going for the flag"
  0:11 Callvote: 1 - "map ut4_abbey"
  0:12 Assist: 0 1 2: Ace assisted Bob to kill Cat
  0:13 Bomb was planted by 2
  0:14 Bombholder is 2
  0:15 Pop!
  0:16 Item: 9 ut_weapon_lr300
  0:17 ClientSpawn: 9
  0:18 Hit: 1 2 0 8
  0:19 Gibberish: 1 2 3
  0:20 Kill: x
""")
    assert parser.skipped == Counter({
        "unknown_line": 2, "malformed:Kill": 1, "unknown_player:Item": 1, "unknown_player:ClientSpawn": 1,
        "unknown_player:Hit": 1, "ignored:Warmup": 1, "ignored:Radio": 1, "ignored:Callvote": 1,
        "ignored:Assist": 1, "ignored:Bomb": 1, "ignored:Bombholder": 1, "ignored:Pop!": 1})
    assert (parser.unknown_lines, parser.skipped_lines, parser.ignored_lines) == (3, 3, 7)
    assert parser.unknown_samples == ["ayer1 hit Player2 in the Torso", "  0:19 Gibberish: 1 2 3", "  0:20 Kill: x"]
    assert [e["type"] for e in events] == ["match_start", "match_end"]


def test_chat_of_an_unannounced_client_keeps_the_id_out_of_the_name():
    _, events = parse(CTF + r"""
  0:01 ClientUserinfoChanged: 4 n\Ace\t\1\r\0
  0:02 say: 7 Stranger: hi
  0:03 sayteam: 4 Ace^7: cover me
""")
    chats = [(e["player_name"], e.get("player_team"), e["message"], e["team_only"]) for e in of(events, "chat")]
    assert chats == [("Stranger", None, "hi", False), ("Ace", "red", "cover me", True)]


# -- tables --------------------------------------------------------------------------------


def test_weapon_names_of_urban_terror_kills():
    assert [weapon_for_mod(m) for m in ("UT_MOD_LR300", "UT_MOD_KNIFE_THROWN", "ut_mod_hk69_hit",
                                        "UT_MOD_HEGRENADE", "MOD_CHANGE_TEAM", "MOD_FALLING")] == [
        "lr300", "knife", "hk69", "hegrenade", "change_team", "world"]


def test_versions_and_flags():
    assert urt.version_of({"gamename": "q3ut4"}) == urt.version_of({"gamename": "q3urt41"}) == urt.URT41
    assert urt.version_of({"gamename": "q3urt42"}) == urt.version_of({"g_modversion": "4.3.4"}) == urt.URT42
    assert urt.version_of({"gamename": "baseq3"}) is None
    assert urt.mod_by_number(35, urt.URT41) == "UT_MOD_NEGEV" and urt.mod_by_number(35, urt.URT42) == "UT_MOD_NUKED"
    assert (urt.flag_colour("team_CTF_blueflag"), urt.flag_colour("RED"), urt.flag_colour("flag")) == ("blue", "red", None)
    assert urt.hitloc("Left Upper Leg", 0, None) == "left_upper_leg"
