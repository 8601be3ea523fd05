"""End to end on real input: `fragstats serve`, `fragstats server add`, `fragstats import-log` of the
real Quake III games.log, then the stats API against counts read straight off the log text."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import httpx

from conftest import Q3_LOG
from helpers import cli

KILL = re.compile(r"Kill: (\d+) (\d+) \d+: (.*) killed (.*) by MOD_\w+$")


def counts_from_log_text() -> tuple[Counter, Counter, Counter, Counter]:
    """Our own simple reading: every Kill line is a death of its victim; killer 1022 (<world>) or
    killer == victim is no kill; killer == victim is a suicide. One match per InitGame line, on
    the map its `mapname` names."""
    kills, deaths, suicides, maps = Counter(), Counter(), Counter(), Counter()
    for line in Q3_LOG.read_text(errors="replace").splitlines():
        if "InitGame:" in line:
            maps[re.search(r"\\mapname\\([^\\]*)", line).group(1)] += 1
        m = KILL.search(line)
        if not m:
            continue
        killer_id, victim_id, killer, victim = m.groups()
        deaths[victim] += 1
        if killer_id == victim_id:
            suicides[victim] += 1
        elif killer_id != "1022":
            kills[killer] += 1
    return kills, deaths, suicides, maps


def test_import_real_q3_log_gives_the_logs_own_counts(serve_factory):
    serve = serve_factory({"FRAGSTATS_STATS_CACHE_S": "0"}).start()  # every read sees the store as it is
    registered = json.loads(cli("server", "add", "Code Miner Server", "--url", serve.url))
    assert set(registered) >= {"server_id", "token"}
    server_id = registered["server_id"]

    summary = cli("import-log", str(Q3_LOG), "--url", serve.url, "--token", registered["token"],
                  "--start", "2026-11-01T12:00:00Z", "--no-progress")
    assert "rejected 0" in summary and "0 lines not understood" in summary, summary

    kills, deaths, suicides, maps = counts_from_log_text()
    matches = sum(maps.values())
    assert sum(deaths.values()) == 1069 and matches == 21  # the README's numbers for this file

    def board():
        return httpx.get(f"{serve.url}/api/v1/stats/leaderboard?limit=500&server_id={server_id}").json()

    deadline = time.monotonic() + 30
    while sum(p["deaths"] for p in board()["players"]) < 1069 and time.monotonic() < deadline:
        time.sleep(0.3)
    players = {p["player_name"]: p for p in board()["players"]}
    assert {n: p["kills"] for n, p in players.items() if p["kills"]} == dict(kills)
    assert {n: p["deaths"] for n, p in players.items()} == dict(deaths)
    assert {n: p["suicides"] for n, p in players.items() if p["suicides"]} == dict(suicides)
    ranked = board()["players"]
    assert [p["kills"] for p in ranked] == sorted((p["kills"] for p in ranked), reverse=True)

    listed = httpx.get(f"{serve.url}/api/v1/stats/matches?server_id={server_id}&limit=100").json()
    assert listed["total"] == matches
    assert Counter(m["map_name"] for m in listed["matches"]) == maps
    assert sum(m["ended"] for m in listed["matches"]) == matches  # the unfinished game is ended at EOF

    # The same import again (same --start, so the same batches): every batch carries its body's
    # SHA-256 as Idempotency-Key, so nothing is stored twice.
    cli("import-log", str(Q3_LOG), "--url", serve.url, "--token", registered["token"],
        "--start", "2026-11-01T12:00:00Z", "--no-progress")
    time.sleep(3)  # longer than a flush interval: anything stored again would show
    again = {p["player_name"]: p for p in board()["players"]}
    assert {n: p["deaths"] for n, p in again.items()} == dict(deaths)

    top = ranked[0]
    profile = httpx.get(f"{serve.url}/api/v1/stats/player/{top['player_id']}").json()
    assert profile["totals"]["kills"] == kills[top["player_name"]]
    assert sum(w["kills"] for w in profile["weapons"]) == kills[top["player_name"]]
