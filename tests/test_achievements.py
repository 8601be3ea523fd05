"""Achievements from the real Quake III games.log: unlocked once each by the after-commit hook while
the log is imported into a real `fragstats serve`, and the same again by `fragstats achievements
backfill` from ClickHouse. The counter-based unlocks are also derived from the log text itself here;
the pure fold's match rules (streaks, multi-kills, wins, untouchable) are checked on small made-up
matches.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict

import httpx

from conftest import Q3_LOG
from fragstats.identities import Play
from helpers import cli
from identity.achievements import Folder, State, parse_rule

KILL = re.compile(r"Kill: (\d+) (\d+) \d+: (.*) killed (.*) by MOD_(\w+)$")
ROCKET = {"ROCKET", "ROCKET_SPLASH"}

# What the log earns (22 definitions of sql/0013_achievements.sql; the log has no headshots, no
# distance events and no MOHAA weapons). Checked below against the log text where the rule is a
# count, and identical between the live hook and the backfill.
EXPECTED = {
    "first_blood": 8, "kills_10": 7, "kills_100": 4, "kills_1000": 0, "rocket_50": 5, "railgun_25": 2,
    "streak_5": 5, "streak_10": 0, "double_kill": 7, "triple_kill": 2, "quad_kill": 0,
    "win_1": 7, "wins_10": 0, "untouchable": 0,
}


def counter_unlocks_from_log_text() -> Counter:
    """Our own reading of the log: kills per killer name (not <world> 1022, not oneself), with rockets
    and railgun apart; one name is one player (the log has no GUIDs)."""
    kills, rockets, rails = Counter(), Counter(), Counter()
    for line in Q3_LOG.read_text(errors="replace").splitlines():
        m = KILL.search(line)
        if not m or m.group(1) in ("1022", m.group(2)):
            continue
        kills[m.group(3)] += 1
        rockets[m.group(3)] += m.group(5) in ROCKET
        rails[m.group(3)] += m.group(5) == "RAILGUN"
    return Counter({"first_blood": sum(n >= 1 for n in kills.values()), "kills_10": sum(n >= 10 for n in kills.values()),
                    "kills_100": sum(n >= 100 for n in kills.values()),
                    "rocket_50": sum(n >= 50 for n in rockets.values()),
                    "railgun_25": sum(n >= 25 for n in rails.values())})


def unlocks(url: str) -> list[dict]:
    body = httpx.get(url + "/api/v1/achievements/recent?limit=200").json()["unlocks"]
    assert len(body) < 200
    return sorted(body, key=lambda u: (u["code"], u["player_id"]))


def test_the_real_q3_log_unlocks_each_achievement_once_live_and_by_backfill(serve_factory):
    serve = serve_factory({"FRAGSTATS_DURABILITY": "memory"}).start()
    server = json.loads(cli("server", "add", "Code Miner Server", "--url", serve.url))
    summary = cli("import-log", str(Q3_LOG), "--url", serve.url, "--token", server["token"],
                  "--start", "2026-11-01T12:00:00Z", "--no-progress")
    assert "rejected 0" in summary, summary
    deadline, last, stable = time.monotonic() + 60, None, 0
    while time.monotonic() < deadline and stable < 3:
        board = httpx.get(f"{serve.url}/api/v1/stats/leaderboard?limit=500&server_id={server['server_id']}").json()
        now = (sum(p["deaths"] for p in board["players"]), len(unlocks(serve.url)))
        stable = stable + 1 if now == last and now[0] == 1069 else 0
        last = now
        time.sleep(0.5)
    live = unlocks(serve.url)
    counts = Counter(u["code"] for u in live)
    assert {code: counts.get(code, 0) for code in EXPECTED} == EXPECTED
    assert sum(counts.values()) == sum(EXPECTED.values())  # nothing else unlocked
    from_text = counter_unlocks_from_log_text()
    assert {code: counts.get(code, 0) for code in from_text} == dict(from_text)
    assert len({(u["code"], u["player_id"]) for u in live}) == len(live)  # each once per player
    assert all(u["player_id"].endswith(f"@{server['server_id']}") and u["event"]["match_id"] for u in live)

    # Every unlock names the event that earned it; the timeline has that event.
    first = next(u for u in live if u["code"] == "kills_100")
    timeline = httpx.get(f"{serve.url}/api/v1/stats/match/{first['event']['match_id']}/timeline?type=player_kill"
                         "&limit=10000").json()["events"]
    assert any(e["timestamp"] == first["event"]["timestamp"] and e["attacker_id"] == first["player_id"]
               for e in timeline)
    mine = httpx.get(f"{serve.url}/api/v1/achievements/player/{first['player_id']}").json()
    kills = next(a for a in mine["achievements"] if a["code"] == "kills_1000")
    assert not kills["unlocked"] and 100 <= kills["progress"]["value"] < 1000

    # The unlocks went out on the live feed too (SSE `event: achievement`), replayed from the start.
    seen = []
    with httpx.stream("GET", serve.url + "/api/v1/stream/live", headers={"Last-Event-ID": "0-0"}, timeout=30) as feed:
        kind = None
        for line in feed.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "achievement":
                seen.append(json.loads(line[6:]))
                if len(seen) == len(live):
                    break
    assert sorted((u["code"], u["player_id"]) for u in seen) == [(u["code"], u["player_id"]) for u in live]

    report = json.loads(cli("achievements", "backfill", "--url", serve.url))
    assert report["unlocks"] == len(live) and report["events"] > 1069
    assert unlocks(serve.url) == live  # same achievements, players, times and earning events
    metrics = httpx.get(serve.url + "/metrics").text
    assert f"fragstats_achievement_unlocks_total {float(2 * len(live))}" in metrics

    # After the backfill, live folding goes on from its watermark: a new kill earns a new unlock once.
    kill = {"type": "player_kill", "match_id": "after-backfill", "timestamp": 1, "attacker_name": "Newcomer",
            "attacker_guid": "guid-newcomer", "victim_name": "Sarge"}
    assert httpx.post(serve.url + "/api/v1/ingest/events", json=[kill],
                      headers={"X-Server-Token": server["token"]}).status_code == 202
    newcomer = lambda: [u for u in unlocks(serve.url) if u["player_id"] == "guid-newcomer"]  # noqa: E731
    deadline = time.monotonic() + 30
    while not newcomer() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert [u["code"] for u in newcomer()] == ["first_blood"]
    assert len(unlocks(serve.url)) == len(live) + 1


def play(t: float, attacker: str, victim: str, kind: str = "kill", match: str = "m", **extra) -> Play:
    return Play(type="player_kill", server_id=1, match_id=match, timestamp=t, occurred_at=1_700_000_000 + t,
                received_at=1_700_000_000, attacker_id=attacker, attacker_name=attacker, victim_id=victim,
                kill_kind=kind, **extra)


def folder() -> Folder:
    return Folder([parse_rule("streak_3", {"streak": 3}), parse_rule("double", {"multi_kill": 2, "window_s": 4}),
                   parse_rule("untouchable", {"untouchable": 3}), parse_rule("win", {"counter": "wins", "at_least": 1}),
                   parse_rule("hs", {"counter": "headshots", "at_least": 1})])


def test_match_rules_streaks_reset_on_death_windows_wins_and_untouchable():
    f, state = folder(), State()
    plays = [play(1, "a", "b"), play(2, "a", "c"), play(3, "b", "a"), play(10, "a", "b"), play(20, "a", "b"),
             play(30, "a", "c", hitloc="head")]
    got = f.fold(state, plays)
    assert [(u.code, u.player_id, u.event["timestamp"]) for u in got] == [
        ("double", "a", 2.0), ("hs", "a", 30.0), ("streak_3", "a", 30.0)]
    end = Play(type="match_end", server_id=1, match_id="m", timestamp=40, occurred_at=0, received_at=0)
    got = f.fold(state, [end])
    assert [(u.code, u.player_id) for u in got] == [("win", "a")]  # a has the most kills; a died once
    assert f.fold(state, [play(1, "a", "b")]) == []  # each once
    # Untouchable: a whole match without dying; not from a partial one.
    clean = [play(i, "z", "y", match="m2") for i in range(1, 4)]
    got = f.fold(State(), clean + [Play(type="match_end", server_id=1, match_id="m2", timestamp=9, occurred_at=0,
                                        received_at=0, winning_team="")])
    assert sorted(u.code for u in got) == ["double", "streak_3", "untouchable", "win"]
    got = f.fold(State(), clean + [Play(type="match_end", server_id=1, match_id="m2", timestamp=9, occurred_at=0,
                                        received_at=0, partial=True)])
    assert sorted(u.code for u in got) == ["double", "streak_3"]
    # Team modes: the winning team's players win, a world death or a suicide is no kill but a death.
    teams = [play(1, "r1", "b1", attacker_team="red", victim_team="blue"), play(2, "", "r1", kind="world"),
             play(3, "b1", "r1", attacker_team="blue", victim_team="red")]
    state = State()
    f.fold(state, teams)
    got = f.fold(state, [Play(type="match_end", server_id=1, match_id="m", timestamp=9, occurred_at=0, received_at=0,
                              winning_team="Blue")])
    assert [(u.code, u.player_id) for u in got] == [("win", "b1")]
    per_player: dict[str, int] = defaultdict(int)
    for (pid, counter), value in state.counters.items():
        per_player[pid] += counter == "kills" and value
    assert dict(per_player) == {"r1": 1, "b1": 1}
