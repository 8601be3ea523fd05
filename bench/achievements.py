"""Cost of achievements on the after-commit path, per kill: converting ingest's events to `Play`s
(`ingest.identity.play_of`), ordering them (`identity.achievements.sort_key`) and the pure fold,
without Postgres. `python -m bench.achievements [--events 50000]`; prints events/s of each step.

The synthetic batch: 64 players on one server, 25 matches of 2,000 kills, the starting rules' shapes
(counters, streaks, multi-kill windows, untouchable, wins), a receipt time per 500 events.
"""

from __future__ import annotations

import argparse
import random
import time

from identity.achievements import Folder, State, parse_rule, sort_key
from ingest.events import STRUCTS
from ingest.identity import play_of

RULES = [("k1", {"counter": "kills", "at_least": 1}), ("k100", {"counter": "kills", "at_least": 100}),
         ("hs", {"counter": "headshots", "at_least": 50}),
         ("w", {"counter": "weapon_kills", "weapon": "Thompson", "at_least": 100}),
         ("s5", {"streak": 5}), ("s10", {"streak": 10}), ("m2", {"multi_kill": 2, "window_s": 4}),
         ("m3", {"multi_kill": 3, "window_s": 4}), ("u", {"untouchable": 10}), ("win", {"counter": "wins", "at_least": 1})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    n = parser.parse_args().events
    rng = random.Random(1)
    kill = STRUCTS["player_kill"]
    events = []
    for i in range(n):
        a, v = rng.randrange(64), rng.randrange(64)
        e = kill(match_id=f"m{i // 2000}", timestamp=float(i % 2000), attacker_name=f"p{a}", attacker_guid=f"g{a}",
                 victim_name=f"p{v}", victim_guid=f"g{v}", weapon="Thompson", hitloc="head" if i % 5 == 0 else "torso")
        e.server_id, e.received_at = 1, 1.7e9 + i // 500
        events.append(e)
    t0 = time.perf_counter()
    plays = [play_of(e) for e in events]
    t1 = time.perf_counter()
    plays.sort(key=sort_key)
    t2 = time.perf_counter()
    unlocks = Folder([parse_rule(c, r) for c, r in RULES]).fold(State(), plays)
    t3 = time.perf_counter()
    print(f"play_of {n / (t1 - t0):,.0f}/s  sort {n / (t2 - t1):,.0f}/s  fold {n / (t3 - t2):,.0f}/s  "
          f"({len(unlocks)} unlocks)")


if __name__ == "__main__":
    main()
