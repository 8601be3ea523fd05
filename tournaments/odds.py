"""Bracket odds: each participant's chance to reach each round and to win, by Monte Carlo over the
matches still to play, from pairwise win probabilities (OpenSkill's ``predict_win``, see
``tournaments.ratings``). Pure: the caller passes the state and a probability function.

* A best-of-n series is won with the probability of winning a majority of n independent games.
* Elimination formats (single, double with any grand final): results already in the bracket stand;
  each run plays the remaining matches in dependency order, sending winners and losers along the
  bracket's links; the grand-final reset is played only when opponent2 wins the first final. The
  champion is the winner of the last final played (grand final, else the winners' bracket final).
* Round robin (without a playoff): each run plays the remaining matches (no draws) and the champion
  has the most points, ties broken at random -- the configured tie-break chain is not simulated.
* Swiss (both kinds) and group stages with a playoff: each run plays the tournament on to its end
  with the engine's own rules on a copy of the state -- Swiss rounds paired by ``swiss.add_round``
  (score groups, or Valve's records), groups ranked by their tie-break chain and the playoff built
  by ``groups.maybe_build_playoff`` -- every undecided match decided by the series probability
  (no draws). The champion is first in the final standings (``standings.standings``; a shared first
  place is split between those sharing it). ``valve_swiss`` has no single champion: ``win`` is the
  chance to advance (``wins_to_advance`` wins), also reported as ``"swiss:advance"``.
Reach keys are ``"<bracket>:<round>"`` (e.g. ``"winners:3"``, ``"losers:2"``, ``"grand_final:1"``,
``"swiss:4"``, ``"group:3"``): the chance to play a match of that round; probabilities are fractions
of ``runs``.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable

from . import groups, standings, swiss
from .errors import InvalidSettings
from .groups import uses_groups
from .model import Match, Tournament, clone
from .progress import advance, is_real

WinProbability = Callable[[int, int], float]
PLAYED_RUNS = 500
"""Default runs where each run plays the engine's own rules (Swiss, groups): ~2 ms a run for 16 entrants."""


def played(t: Tournament) -> bool:
    """Whether odds for ``t`` play the engine's rules run by run (Swiss formats, group stages)."""
    return t.format in ("swiss", "valve_swiss") or uses_groups(t)


def series_probability(p: float, best_of: int) -> float:
    """Chance to win a best-of-``best_of`` series with chance ``p`` per game (binomial majority)."""
    need = best_of // 2 + 1
    return sum(math.comb(best_of, k) * p ** k * (1 - p) ** (best_of - k) for k in range(need, best_of + 1))


def _pid(m: Match, side: int) -> int | None:
    o = m.opponent1 if side == 1 else m.opponent2
    return None if o is None else o.participant_id


def _winner_loser(m: Match) -> tuple[int | None, int | None]:
    for side, other in ((1, 2), (2, 1)):
        o = m.opponent1 if side == 1 else m.opponent2
        if o is not None and o.result == "win":
            return _pid(m, side), _pid(m, other)
    return None, None


def _elimination_run(t: Tournament, p: WinProbability, rng: random.Random) -> tuple[int | None, set[tuple[int, str]]]:
    slots = {m.id: [_pid(m, 1), _pid(m, 2)] for m in t.matches}
    byes = {m.id: (m.opponent1 is None, m.opponent2 is None) for m in t.matches}
    by_id = {m.id: m for m in t.matches}
    outcome: dict[int, tuple[int | None, int | None]] = {}
    for m in t.matches:
        if m.status == "completed":
            outcome[m.id] = _winner_loser(m)
        elif m.status == "not_needed":
            outcome[m.id] = (None, None)
    progress = True
    while progress:
        progress = False
        for m in t.matches:
            if m.id in outcome:
                continue
            a, b = slots[m.id]
            bye_a, bye_b = byes[m.id]
            if (a is None and not bye_a) or (b is None and not bye_b):
                continue
            if bye_a or bye_b:
                win, lose = (b, None) if bye_a else (a, None)
            else:
                win, lose = (a, b) if rng.random() < series_probability(p(a, b), m.best_of) else (b, a)
            outcome[m.id] = (win, lose)
            progress = True
            for link, who in ((m.winner_to, win), (m.loser_to, lose)):
                if link is not None and who is not None:
                    slots[link.match_id][link.slot - 1] = who
            if m.bracket == "grand_final" and m.round == 1:
                reset = next((x for x in t.matches if x.bracket == "grand_final" and x.round == 2), None)
                if reset is not None and reset.id not in outcome:
                    if win == a:
                        outcome[reset.id] = (None, None)
                    else:
                        slots[reset.id] = [a, b]
    reached = {(pid, f"{by_id[mid].bracket}:{by_id[mid].round}") for mid, pair in slots.items()
               for pid in pair if pid is not None and outcome.get(mid) != (None, None)}
    finals = [m for m in t.matches if m.bracket == "grand_final" and outcome.get(m.id, (None, None))[0] is not None]
    if not finals:
        top = max((m.round for m in t.matches if m.bracket == "winners"), default=0)
        finals = [m for m in t.matches if m.bracket == "winners" and m.round == top]
    last = max(finals, key=lambda m: m.round)
    return outcome.get(last.id, (None, None))[0], reached


def _round_robin_run(t: Tournament, p: WinProbability, rng: random.Random) -> tuple[int | None, set[tuple[int, str]]]:
    pts = t.settings.points
    points: dict[int, float] = defaultdict(float)
    for pl in t.participants:
        points[pl.id] += 0
    for m in t.matches:
        a, b = _pid(m, 1), _pid(m, 2)
        if a is None or b is None:
            continue
        if m.status == "completed":
            for side, pid in ((1, a), (2, b)):
                o = m.opponent1 if side == 1 else m.opponent2
                points[pid] += {"win": pts.win, "draw": pts.draw, "loss": pts.loss}.get(o.result or "", 0)
        elif m.status != "not_needed":
            win, lose = (a, b) if rng.random() < series_probability(p(a, b), m.best_of) else (b, a)
            points[win] += pts.win
            points[lose] += pts.loss
    best = max(points.values(), default=0)
    leaders = sorted(pid for pid, v in points.items() if v == best)
    return (rng.choice(leaders) if leaders else None), set()


def _decide(t: Tournament, m: Match, winner_side: int) -> None:
    """Decide ``m`` for ``winner_side`` with no score and send its players on (mutates ``t``)."""
    for side, o in ((1, m.opponent1), (2, m.opponent2)):
        if o is not None:
            o.score, o.forfeit = None, False
            o.result = "win" if side == winner_side else "loss"
    for g in m.games:
        if g.status == "pending":
            g.status = "not_needed"
    m.status = "completed"
    advance(t, m)


def _played_run(t: Tournament, p: WinProbability, rng: random.Random) -> tuple[dict[int, float], set[tuple[int, str]]]:
    """One run to the end by the engine's rules (Swiss, groups and playoff): (champion shares, reached)."""
    t = clone(t)
    while True:
        todo = [m for m in t.matches if m.status in ("ready", "running") and is_real(m)]
        if not todo:
            if t.format in ("swiss", "valve_swiss") and not swiss.is_finished(t):
                swiss.add_round(t)
                continue
            if uses_groups(t) and not groups.playoff_matches(t):
                before = len(t.matches)
                groups.maybe_build_playoff(t)
                if len(t.matches) > before:
                    continue
            break
        for m in todo:
            a, b = _pid(m, 1), _pid(m, 2)
            assert a is not None and b is not None
            _decide(t, m, 1 if rng.random() < series_probability(p(a, b), m.best_of) else 2)
        if uses_groups(t):
            groups.maybe_build_playoff(t)
    reached = {(pid, f"{m.bracket}:{m.round}") for m in t.matches if is_real(m) or m.status == "completed"
               for pid in (_pid(m, 1), _pid(m, 2)) if pid is not None}
    if t.format == "valve_swiss":
        recs = standings.records(t, swiss.swiss_matches(t))
        top = [pid for pid, r in recs.items() if r.wins >= t.settings.wins_to_advance]
        reached |= {(pid, "swiss:advance") for pid in top}
        return {pid: 1.0 for pid in top}, reached
    top = [row.participant_id for row in standings.standings(t) if row.place.split("-")[0] == "1"]
    return {pid: 1 / len(top) for pid in top}, reached


def simulate(t: Tournament, p: WinProbability, *, runs: int = 2000, seed: int = 0) -> dict[int, dict]:
    """participant id -> ``{"win": probability, "reach": {"<bracket>:<round>": probability}}``.

    ``p(a, b)`` is the chance that ``a`` beats ``b`` in one game. Raises ``InvalidSettings`` (422)
    before the start (no matches yet).
    """
    if not t.matches:
        raise InvalidSettings("odds need a started bracket")
    if played(t):
        run = _played_run
    else:
        run = _round_robin_run if t.format == "round_robin" else _elimination_run
    cache: dict[tuple[int, int], float] = {}

    def cached(a: int, b: int) -> float:
        if (a, b) not in cache:
            cache[(a, b)] = p(a, b)
            cache[(b, a)] = 1.0 - cache[(a, b)]
        return cache[(a, b)]

    rng = random.Random(seed)
    wins: dict[int, float] = defaultdict(float)
    reach: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _ in range(runs):
        champion, reached = run(t, cached, rng)
        if isinstance(champion, dict):
            for pid, share in champion.items():
                wins[pid] += share
        elif champion is not None:
            wins[champion] += 1
        for pid, key in reached:
            reach[pid][key] += 1
    return {pl.id: {"win": wins[pl.id] / runs,
                    "reach": {k: v / runs for k, v in sorted(reach[pl.id].items())}} for pl in t.participants}
