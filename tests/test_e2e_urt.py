"""End to end on an Urban Terror 4.1 log that begins mid-game (`tests/data/urt/mid_game.log`, see its
README): `fragstats serve`, `fragstats server add`, `fragstats import-log`, then the stats API
against what the log text says, read here with our own simple rules."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from helpers import cli

URT_LOG = Path(__file__).parent / "data" / "urt" / "mid_game.log"

CLOCK = re.compile(r"^\s*(\d+:\d\d) (.*)$")
KILL = re.compile(r"^Kill: (\d+) (\d+) \d+: (.*) killed (.*) by ((?:UT_)?MOD_\w+)$")
HIT = re.compile(r"^Hit: (\d+) (\d+) \d+ \d+: (.*) hit (.*) in the (\w+)$")
FLAG = re.compile(r"^Flag: (\d+) ([012]): team_CTF_(red|blue)flag$")
NAMED = re.compile(r"^(?:ClientUserinfoChanged: (\d+) n\\([^\\]*).*|score: .* client: (\d+) (.*))$")
ITEM = re.compile(r"^Item: (\d+) ")
GUID = re.compile(r"^ClientUserinfo: (\d+) .*\\cl_guid\\(\w+)")
NOBODY = ("<world>", "<non-client>")
IGNORED = ("Warmup", "saytell", "tell")  # the keywords the README lists as ignored


@dataclass
class Game:
    """What one game of the log says: one game per InitGame line, plus the lines before the first."""

    kills: list[dict] = field(default_factory=list)  # {"attacker", "victim", "kind", "hitloc", "killer_slot"}
    flags: list[tuple[str, str, str]] = field(default_factory=list)  # (type, player name, flag)
    rounds: int = 0
    survivors: list[str] = field(default_factory=list)
    scores: tuple[int, int] | None = None
    guids: dict[int, str] = field(default_factory=dict)  # slot -> last GUID its ClientUserinfo gave


def read_log() -> tuple[list[Game], Counter]:
    """Our reading of the text. Kill: killer 1022 or named <world>/<non-client> is a world death, killer ==
    victim a suicide, else a kill (the fixture has no team kills). A kill is a headshot when the line
    before it is a Hit of the same second, same victim and attacker, in the Head or Helmet. Lines that
    carry no event: no clock (`unknown_line`), an IGNORED keyword, an Item of a slot no line of its
    game has named yet (`unknown_player:Item`)."""
    games, skipped = [Game()], Counter()
    names: dict[int, str] = {}
    previous = None
    for raw in URT_LOG.read_text().splitlines():
        m = CLOCK.match(raw)
        if not m:
            skipped["unknown_line"] += 1
            continue
        clock, body = m.groups()
        game = games[-1]
        keyword = body.split(":", 1)[0]
        if body.startswith("InitGame:"):
            games.append(Game())
            names = {}
        elif keyword in IGNORED:
            skipped[f"ignored:{keyword}"] += 1
        elif body.startswith("InitRound:"):
            game.rounds += 1
        elif body.startswith("SurvivorWinner:"):
            game.survivors.append(body.split(": ", 1)[1].lower())
        elif scores := re.match(r"^red:(\d+)\s+blue:(\d+)$", body):
            game.scores = (int(scores.group(1)), int(scores.group(2)))
        elif g := GUID.match(body):
            game.guids[int(g.group(1))] = g.group(2)
        elif i := ITEM.match(body):
            if int(i.group(1)) not in names:
                skipped["unknown_player:Item"] += 1
        elif f := FLAG.match(body):
            kind = ("flag_drop", "flag_return", "flag_capture")[int(f.group(2))]
            game.flags.append((kind, names[int(f.group(1))], f.group(3)))
        elif k := KILL.match(body):
            killer, victim, killer_name, victim_name, mod = k.groups()
            kind = ("world" if killer == "1022" or killer_name in NOBODY
                    else "suicide" if killer == victim else "kill")
            hit = HIT.match(previous[1]) if previous and previous[0] == clock else None
            headshot = (hit is not None and hit.group(1, 2) == (victim, killer) and mod != "UT_MOD_BLED"
                        and hit.group(5) in ("Head", "Helmet"))
            game.kills.append({"attacker": killer_name, "victim": victim_name, "kind": kind,
                               "headshot": headshot and kind == "kill", "killer_slot": int(killer)})
            names[int(victim)] = victim_name
            if kind != "world":
                names[int(killer)] = killer_name
        elif h := HIT.match(body):
            names[int(h.group(1))], names[int(h.group(2))] = h.group(4), h.group(3)
        if n := NAMED.match(body):
            slot = n.group(1) or n.group(3)
            names[int(slot)] = n.group(2) if n.group(1) else n.group(4)
        previous = (clock, body)
    return games, skipped


def test_import_urt_log_that_begins_mid_game(serve_factory):
    serve = serve_factory({"FRAGSTATS_STATS_CACHE_S": "0"}).start()
    registered = json.loads(cli("server", "add", "UrT test server", "--url", serve.url))
    server_id = registered["server_id"]
    summary = cli("import-log", str(URT_LOG), "--url", serve.url, "--token", registered["token"],
                  "--start", "2026-11-02T20:00:00Z", "--no-progress")

    games, skipped = read_log()
    partial, ctf = games[0], games[1]
    assert len(games) == 2 and len(partial.kills) == 20 and len(ctf.kills) == 44  # the README's numbers
    assert "rejected 0" in summary, summary
    assert json.loads(summary.split("skipped: ", 1)[1]) == dict(skipped), summary
    assert skipped["unknown_player:Item"] == 2 and skipped["unknown_line"] == 1

    api = f"{serve.url}/api/v1/stats"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = httpx.get(f"{api}/matches?server_id={server_id}").json()
        if listed["total"] == 2 and sum(m["kills"] for m in listed["matches"]) == sum(
                k["kind"] == "kill" for g in games for k in g.kills):
            break
        time.sleep(0.3)
    matches = {m["map_name"]: m for m in listed["matches"]}
    assert set(matches) == {"ut4_abbey", "ut4_turnpike"}  # the first one's map only an InitRound names
    assert all(m["ended"] for m in matches.values())

    def timeline(match: str, *types: str) -> list[dict]:
        query = "&".join(f"type={t}" for t in types)
        return httpx.get(f"{api}/match/{matches[match]['match_id']}/timeline?{query}&limit=10000").json()["events"]

    for match, game in (("ut4_abbey", partial), ("ut4_turnpike", ctf)):
        # Every Kill line is stored, as the kill the text says, headshots from the Hit line before it.
        stored = [{"attacker": e.get("attacker_name"), "victim": e["victim_name"], "kind": e["kill_kind"],
                   "headshot": e["kill_kind"] == "kill" and e.get("hitloc") in ("head", "helmet")}
                  for e in timeline(match, "player_kill")]
        expected = [{**k, "attacker": None if k["kind"] == "world" and k["attacker"] in NOBODY else k["attacker"]}
                    for k in game.kills]
        assert Counter(map(repr, stored)) == Counter(
            repr({key: k[key] for key in ("attacker", "victim", "kind", "headshot")}) for k in expected)

        flags = [(e["type"], e["player_name"], e["flag"])
                 for e in timeline(match, "flag_capture", "flag_return", "flag_drop")]
        assert flags == game.flags
        rounds = Counter(e["type"] for e in timeline(match, "round_start", "round_end"))
        assert (rounds["round_start"], rounds["round_end"]) == (game.rounds, len(game.survivors))
        end = timeline(match, "match_end")[0]
        assert (end["red_score"], end["blue_score"]) == game.scores
    assert partial.flags == [] and len(ctf.flags) == 6 and ctf.rounds == 1 and len(partial.survivors) == 5
    assert timeline("ut4_abbey", "match_start")[0]["partial"] is True
    assert timeline("ut4_turnpike", "match_start")[0]["partial"] is False

    # The leaderboard adds up to the text, headshots included.
    board = httpx.get(f"{api}/leaderboard?server_id={server_id}&limit=500").json()["players"]
    every = [k for g in games for k in g.kills]
    assert sum(p["kills"] for p in board) == sum(k["kind"] == "kill" for k in every)
    assert sum(p["deaths"] for p in board) == len(every) == 64
    assert sum(p["suicides"] for p in board) == sum(k["kind"] == "suicide" for k in every)
    assert sum(p["world_deaths"] for p in board) == sum(k["kind"] == "world" for k in every)
    assert sum(p["headshots"] for p in board) == sum(k["headshot"] for k in every) > 0
    assert sum(p["team_kills"] for p in board) == 0

    # Identity. Client 3 learnt his GUID mid-way through the first game: known by name until it ended
    # (one player, not two, in that game), by GUID in the next. Client 6 arrived announced, GUID in both.
    players = {p["player_id"]: p for p in board}

    def kills_by(slot: int, *of: Game) -> int:
        return sum(k["kind"] == "kill" and k["killer_slot"] == slot for g in of for k in g.kills)

    assert players[f"n00b:slayer@{server_id}"]["kills"] == kills_by(3, partial) > 0
    assert partial.guids[3] == ctf.guids[3] and players[ctf.guids[3]]["kills"] == kills_by(3, ctf) > 0
    assert players[partial.guids[6]]["kills"] == kills_by(6, partial, ctf) > kills_by(6, ctf) > 0
    first_game = {p["player_id"] for p in httpx.get(
        f"{api}/match/{matches['ut4_abbey']['match_id']}").json()["players"]}
    assert f"n00b:slayer@{server_id}" in first_game and ctf.guids[3] not in first_game
    # Client 2 renamed in the second game, same GUID: one player with the kills of both names. In the
    # first game, never announced, he was known by name.
    assert players[ctf.guids[2]]["kills"] == kills_by(2, ctf) > 0
    assert players[f"Dr. Strange Love@{server_id}"]["deaths"] == sum(
        k["victim"] == "Dr. Strange Love" for k in partial.kills) > 0
