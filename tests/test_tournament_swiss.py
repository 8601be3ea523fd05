"""Swiss pairing (score groups and Valve Major rules) and the matching oracle behind it."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from helpers import AT, make
from hypothesis import given, settings
from hypothesis import strategies as st

from tournaments import exports, lifecycle, results, swiss
from tournaments.errors import InvalidSettings, RoundNotComplete, StageError
from tournaments.matching import matching_size
from tournaments.model import Tournament
from tournaments.standings import records


def finish_round(t: Tournament, rng: random.Random, draws: bool = False) -> Tournament:
    for m in [m for m in t.matches if m.status == "ready"]:
        choice = rng.choice([[1, 0], [0, 1], [1, 1]] if draws else [[1, 0], [0, 1]])
        if m.best_of > 1:
            choice = [2, rng.randint(0, 1)] if choice[0] else [rng.randint(0, 1), 2]
        t, _ = results.report_result(t, m.id, scores=choice, actor="org", at=AT)
    return t


def round_pairs(t: Tournament, rnd: int) -> list[tuple[int, int]]:
    return [(m.opponent1.participant_id, m.opponent2.participant_id)
            for m in t.matches if m.bracket == "swiss" and m.round == rnd and m.opponent2 is not None]


def min_rematches(players: list[int], played: set[frozenset[int]]) -> int:
    """Brute force: fewest rematches over every perfect pairing of ``players``."""
    if not players:
        return 0
    first, rest = players[0], players[1:]
    return min((frozenset((first, p)) in played) + min_rematches([q for q in rest if q != p], played) for p in rest)


# --- matching oracle ---------------------------------------------------------------------------

@given(n=st.integers(0, 9), data=st.data())
@settings(max_examples=200, deadline=None)
def test_blossom_matches_brute_force(n: int, data) -> None:
    edges = [e for e in itertools.combinations(range(n), 2) if data.draw(st.booleans())]
    adj = [[] for _ in range(n)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)

    def brute(avail: list[int]) -> int:
        if len(avail) < 2:
            return 0
        v, rest = avail[0], avail[1:]
        best = brute(rest)
        for u in rest:
            if u in adj[v]:
                best = max(best, 1 + brute([x for x in rest if x != u]))
        return best

    assert matching_size(n, adj) == brute(list(range(n)))


# --- score-group Swiss -------------------------------------------------------------------------

def test_round_one_is_top_half_against_bottom_half() -> None:
    t = make("swiss", 8)
    assert sorted(round_pairs(t, 1)) == [(1, 5), (2, 6), (3, 7), (4, 8)]


def test_round_two_pairs_within_score_groups() -> None:
    t = make("swiss", 8, rounds=3)
    for m in [m for m in t.matches if m.status == "ready"]:
        t, _ = results.report_result(t, m.id, scores=[1, 0], actor="org", at=AT)
    t, _ = swiss.pair_round(t, actor="org", at=AT)
    pts = {p: r.points for p, r in records(t, [m for m in t.matches if m.round == 1]).items()}
    assert all(pts[a] == pts[b] for a, b in round_pairs(t, 2))


@given(n=st.integers(2, 10), seed=st.integers(0, 10**6), draws=st.booleans())
@settings(max_examples=40, deadline=None)
def test_no_avoidable_rematch(n: int, seed: int, draws: bool) -> None:
    rng = random.Random(seed)
    t = make("swiss", n, rounds=n - 1)
    while True:
        rnd = swiss.current_round(t)
        before = [m for m in t.matches if m.round < rnd]
        played = swiss.played_pairs(before)
        pairs = round_pairs(t, rnd)
        players = [p for pair in pairs for p in pair]
        rematches = sum(frozenset(p) in played for p in pairs)
        assert rematches == min_rematches(players, played)
        seen = Counter(players)
        assert max(seen.values()) == 1
        t = finish_round(t, rng, draws)
        if swiss.is_finished(t):
            break
        t, _ = swiss.pair_round(t, actor="org", at=AT)
    assert lifecycle.status(t) == "completed"


def test_bye_goes_to_lowest_ranked_without_a_bye() -> None:
    t = make("swiss", 5, rounds=4)
    bye1 = next(m for m in t.matches if m.opponent2 is None)
    assert bye1.opponent1.participant_id == 5 and bye1.status == "completed"
    assert bye1.opponent1.result == "win"
    byes = [5]
    rng = random.Random(1)
    for _ in range(3):
        t = finish_round(t, rng)
        t, _ = swiss.pair_round(t, actor="org", at=AT)
        bye = next(m for m in t.matches if m.opponent2 is None and m.round == swiss.current_round(t))
        assert bye.opponent1.participant_id not in byes
        byes.append(bye.opponent1.participant_id)


def test_pair_round_is_idempotent_and_guarded() -> None:
    t = make("swiss", 4, rounds=2)
    with pytest.raises(RoundNotComplete):
        swiss.pair_round(t, actor="org", at=AT)
    t = finish_round(t, random.Random(2))
    t, audit = swiss.pair_round(t, actor="org", at=AT, round=2)
    assert len(audit) == 2 and all(e.before is None for e in audit)
    again, audit2 = swiss.pair_round(t, actor="org", at=AT, round=2)
    assert audit2 == [] and again == t
    with pytest.raises(StageError):
        swiss.pair_round(t, actor="org", at=AT, round=4)
    t = finish_round(t, random.Random(2))
    with pytest.raises(StageError):
        swiss.pair_round(t, actor="org", at=AT)


# --- Valve Major mode --------------------------------------------------------------------------

def test_valve_round_one_is_one_against_nine() -> None:
    t = make("valve_swiss", 16)
    assert round_pairs(t, 1) == [(i, i + 8) for i in range(1, 9)]


def test_valve_priority_table_takes_top_most_row_without_rematch() -> None:
    a, b, c, d, e, f = range(1, 7)
    assert swiss._valve_group([a, b, c, d, e, f], set(), 4) == [(1, 6), (2, 5), (3, 4)]
    played = {frozenset((1, 6))}
    assert swiss._valve_group([a, b, c, d, e, f], played, 4) == [(1, 5), (2, 6), (3, 4)]
    played = {frozenset((2, 5))}
    assert swiss._valve_group([a, b, c, d, e, f], played, 5) == [(1, 6), (2, 4), (3, 5)]


def test_valve_rounds_two_three_high_low_with_final_swap() -> None:
    assert swiss._valve_group([1, 2, 3, 4], set(), 2) == [(1, 4), (2, 3)]
    # 2 v 3 would be a rematch: the last two high seeds swap opponents.
    assert swiss._valve_group([1, 2, 3, 4], {frozenset((2, 3))}, 3) == [(1, 3), (2, 4)]


@given(seed=st.integers(0, 10**6))
@settings(max_examples=25, deadline=None)
def test_valve_stage_runs_to_three_wins_or_losses(seed: int) -> None:
    rng = random.Random(seed)
    t = make("valve_swiss", 16)
    while True:
        t = finish_round(t, rng)
        if swiss.is_finished(t):
            break
        t, _ = swiss.pair_round(t, actor="org", at=AT)
        rnd = swiss.current_round(t)
        prev = records(t, [m for m in t.matches if m.round < rnd])
        for m in t.matches:
            if m.round == rnd:
                r1, r2 = prev[m.opponent1.participant_id], prev[m.opponent2.participant_id]
                assert (r1.wins, r1.losses) == (r2.wins, r2.losses)
                decisive = 2 in (r1.wins, r1.losses)
                assert m.best_of == (3 if decisive else 1)
    ms = [m for m in t.matches if m.bracket == "swiss"]
    assert max(m.round for m in ms) == 5
    recs = records(t, ms)
    assert all(r.wins == 3 or r.losses == 3 for r in recs.values())
    pairs = [frozenset((m.opponent1.participant_id, m.opponent2.participant_id)) for m in ms]
    assert len(pairs) == len(set(pairs))  # no rematch


# --- export and import -------------------------------------------------------------------------

def test_swiss_export_replays_round_by_round() -> None:
    rng = random.Random(11)
    t = make("swiss", 6, rounds=3)
    while True:
        t = finish_round(t, rng)
        if swiss.is_finished(t):
            break
        t, _ = swiss.pair_round(t, actor="org", at=AT)
    doc = exports.bracket_json("swiss", t, {})
    copy = exports.rebuild(doc, actor="org", at=AT)

    def shape(x: Tournament) -> list[tuple]:
        return [(m.round, m.status, m.opponent1 and (m.opponent1.participant_id, m.opponent1.score),
                 m.opponent2 and (m.opponent2.participant_id, m.opponent2.score)) for m in x.matches]
    assert shape(copy) == shape(t) and swiss.is_finished(copy)

    # A round the stage cannot have is a bad document (400), not an error swallowed on the way.
    extra = {**doc["matches"][-1], "id": doc["matches"][-1]["id"] + 1, "round": 4}
    with pytest.raises(InvalidSettings, match="Swiss rounds do not replay"):
        exports.rebuild({**doc, "matches": [*doc["matches"], extra]}, actor="org", at=AT)
