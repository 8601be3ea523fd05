"""Seeding, elimination brackets and round robin schedules of the pure bracket engine."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from helpers import AT, make
from hypothesis import given, settings
from hypothesis import strategies as st

from tournaments import lifecycle, results, seeding
from tournaments.errors import InvalidSettings
from tournaments.model import Tournament
from tournaments.round_robin import circle_rounds


def play(t: Tournament, rng: random.Random, upset: float = 0.5) -> Tournament:
    """Report a result for every ready match until none is left (random winners)."""
    while True:
        ready = [m for m in t.matches if m.status == "ready"]
        if not ready:
            return t
        m = rng.choice(ready)
        first = rng.random() >= upset
        need = m.best_of // 2 + 1
        scores = [need, rng.randint(0, need - 1)] if first else [rng.randint(0, need - 1), need]
        if m.best_of == 1:
            scores = [16, rng.randint(0, 14)] if first else [rng.randint(0, 14), 16]
        t, _ = results.report_result(t, m.id, scores=scores, actor="org", at=AT)


def real(t: Tournament) -> list:
    return [m for m in t.matches if m.status == "completed" and m.opponent1 and m.opponent2]


def assert_once_per_round(t: Tournament) -> None:
    seen = Counter()
    for m in t.matches:
        for o in (m.opponent1, m.opponent2):
            if o is not None and o.participant_id is not None:
                seen[(m.bracket, m.group, m.round, o.participant_id)] += 1
    assert max(seen.values(), default=1) == 1


# --- seeding -----------------------------------------------------------------------------------

def test_standard_seeding_of_eight() -> None:
    assert seeding.first_round(8) == [(1, 8), (4, 5), (2, 7), (3, 6)]


@pytest.mark.parametrize("size", [2, 4, 8, 16, 32, 64])
def test_standard_positions_keep_one_and_two_apart(size: int) -> None:
    pos = seeding.standard_positions(size)
    assert sorted(pos) == list(range(1, size + 1))
    assert all(pos[i] + pos[i + 1] == size + 1 for i in range(0, size, 2))
    if size >= 2:
        assert pos.index(1) < size // 2 <= pos.index(2)


@given(n=st.integers(2, 70), ordering=st.sampled_from(sorted(seeding.ORDERINGS)))
@settings(max_examples=150, deadline=None)
def test_byes_go_to_top_seeds_and_never_meet(n: int, ordering: str) -> None:
    pairs = seeding.first_round(n, ordering)
    size = seeding.next_power_of_two(n)
    byes = size - n
    assert len(pairs) == size // 2
    seeds = [s for p in pairs for s in p if s is not None]
    assert sorted(seeds) == list(range(1, n + 1))
    assert (None, None) not in pairs
    with_bye = sorted(a if b is None else b for a, b in pairs if None in (a, b))
    assert with_bye == list(range(1, byes + 1))


def test_named_orderings_on_eight() -> None:
    assert seeding.first_round(8, "natural") == [(1, 2), (3, 4), (5, 6), (7, 8)]
    assert seeding.first_round(8, "reverse") == [(8, 7), (6, 5), (4, 3), (2, 1)]
    assert seeding.first_round(8, "half_shift") == [(5, 6), (7, 8), (1, 2), (3, 4)]
    assert seeding.first_round(8, "reverse_half_shift") == [(4, 3), (2, 1), (8, 7), (6, 5)]
    assert seeding.first_round(8, "pair_flip") == [(2, 1), (4, 3), (6, 5), (8, 7)]
    with pytest.raises(InvalidSettings):
        seeding.first_round(8, "random")


def test_group_distribution() -> None:
    assert seeding.distribute(list(range(1, 9)), 4, "snake") == [[1, 8], [2, 7], [3, 6], [4, 5]]
    assert seeding.distribute(list(range(1, 9)), 4, "stride") == [[1, 5], [2, 6], [3, 7], [4, 8]]
    with pytest.raises(InvalidSettings):
        seeding.distribute([1, 2], 3)


# --- single elimination ------------------------------------------------------------------------

@given(n=st.integers(2, 40), seed=st.integers(0, 10**6), third=st.booleans())
@settings(max_examples=60, deadline=None)
def test_single_elimination_plays_n_minus_one(n: int, seed: int, third: bool) -> None:
    t = play(make("single_elimination", n, third_place=third), random.Random(seed))
    # With 3 entrants the third-place match would face a bye: not needed.
    extra = 1 if third and n >= 4 else 0
    assert len(real(t)) == n - 1 + extra
    assert lifecycle.status(t) == "completed"
    assert_once_per_round(t)


def test_bye_advances_at_once() -> None:
    t = make("single_elimination", 5)
    r1 = [m for m in t.matches if m.bracket == "winners" and m.round == 1]
    byes = [m for m in r1 if m.opponent2 is None]
    assert [m.opponent1.seed for m in byes] == [1, 2, 3]
    assert all(m.status == "not_needed" for m in byes)
    r2 = [m for m in t.matches if m.round == 2]
    placed = {o.seed for m in r2 for o in (m.opponent1, m.opponent2) if o and o.participant_id}
    assert placed == {1, 2, 3}
    assert [m.status for m in r2] == ["pending", "ready"]


# --- double elimination ------------------------------------------------------------------------

@given(n=st.integers(2, 33), seed=st.integers(0, 10**6), gf=st.sampled_from(["none", "simple", "double"]))
@settings(max_examples=60, deadline=None)
def test_double_elimination_match_count(n: int, seed: int, gf: str) -> None:
    t = play(make("double_elimination", n, grand_final=gf), random.Random(seed))
    count = len(real(t))
    expected = {"none": {2 * n - 3} if n > 2 else {1}, "simple": {2 * n - 2}, "double": {2 * n - 2, 2 * n - 1}}[gf]
    assert count in expected
    assert lifecycle.status(t) == "completed"
    assert_once_per_round(t)
    losses = Counter(o.participant_id for m in real(t) for o in (m.opponent1, m.opponent2) if o.result == "loss")
    assert all(v <= 2 for v in losses.values())


def _gf(t: Tournament, rnd: int):
    return next(m for m in t.matches if m.bracket == "grand_final" and m.round == rnd)


def _play_until_gf(t: Tournament) -> Tournament:
    while _gf(t, 1).status != "ready":
        m = next(m for m in t.matches if m.status == "ready")
        t, _ = results.report_result(t, m.id, scores=[1, 0], actor="org", at=AT)
    return t


def test_grand_final_reset_not_needed_when_winners_champion_wins() -> None:
    t = _play_until_gf(make("double_elimination", 8))
    assert _gf(t, 2).status == "pending"
    t, _ = results.report_result(t, _gf(t, 1).id, scores=[2, 1], actor="org", at=AT)
    assert _gf(t, 2).status == "not_needed"
    assert lifecycle.status(t) == "completed"
    with pytest.raises(results.MatchNotReady):
        results.report_result(t, _gf(t, 2).id, scores=[1, 0], actor="org", at=AT)


def test_grand_final_reset_played_when_losers_champion_wins() -> None:
    t = _play_until_gf(make("double_elimination", 8))
    gf1 = _gf(t, 1)
    t, _ = results.report_result(t, gf1.id, scores=[0, 1], actor="org", at=AT)
    reset = _gf(t, 2)
    assert reset.status == "ready"
    assert (reset.opponent1.participant_id, reset.opponent2.participant_id) == (
        gf1.opponent1.participant_id, gf1.opponent2.participant_id)
    assert lifecycle.status(t) == "running"


@given(k=st.integers(3, 6), seed=st.integers(0, 10**6))
@settings(max_examples=30, deadline=None)
def test_losers_drop_avoids_first_round_rematch(k: int, seed: int) -> None:
    """A player dropping from winners' round 2 never meets his round-1 opponent in his first
    losers' match (the drop is crossed into the other half)."""
    t = play(make("double_elimination", 2**k), random.Random(seed))
    first_met = {}
    for m in sorted(t.matches, key=lambda m: m.id):
        if m.bracket == "winners" and m.round == 1:
            a, b = m.opponent1.participant_id, m.opponent2.participant_id
            first_met[a], first_met[b] = b, a
    for m in t.matches:
        if m.bracket == "losers" and m.round == 2:
            a, b = m.opponent1.participant_id, m.opponent2.participant_id
            assert first_met[b] != a


def test_double_elimination_byes_reach_losers_bracket() -> None:
    t = make("double_elimination", 5)
    lb1 = [m for m in t.matches if m.bracket == "losers" and m.round == 1]
    # Round-1 byes produce no loser: those losers' matches need no game.
    assert any(m.status == "not_needed" for m in lb1)
    t = play(t, random.Random(3))
    assert len(real(t)) in (8, 9)


# --- round robin -------------------------------------------------------------------------------

@given(n=st.integers(2, 14), cycles=st.sampled_from([1, 2]))
@settings(max_examples=40, deadline=None)
def test_round_robin_each_pair_once_per_cycle(n: int, cycles: int) -> None:
    t = make("round_robin", n, cycles=cycles)
    rounds_per_cycle = n - 1 if n % 2 == 0 else n
    matches = [m for m in t.matches if m.opponent2 is not None]
    assert len(matches) == cycles * n * (n - 1) // 2
    assert_once_per_round(t)
    for c in range(cycles):
        cyc = [m for m in matches if c * rounds_per_cycle < m.round <= (c + 1) * rounds_per_cycle]
        pairs = Counter(frozenset((m.opponent1.participant_id, m.opponent2.participant_id)) for m in cyc)
        assert len(pairs) == n * (n - 1) // 2 and set(pairs.values()) == {1}
    if cycles == 2:
        first = {(m.opponent1.participant_id, m.opponent2.participant_id) for m in matches if m.round <= rounds_per_cycle}
        second = {(m.opponent1.participant_id, m.opponent2.participant_id) for m in matches if m.round > rounds_per_cycle}
        assert second == {(b, a) for a, b in first}


def test_round_robin_odd_count_rests_once() -> None:
    t = make("round_robin", 5)
    rests = [m for m in t.matches if m.opponent2 is None]
    assert len(rests) == 5 and all(m.status == "not_needed" for m in rests)
    assert sorted(m.opponent1.participant_id for m in rests) == [1, 2, 3, 4, 5]


def test_circle_rounds_fixed_player_alternates_sides() -> None:
    rounds = circle_rounds([1, 2, 3, 4, 5, 6])
    sides = [1 if r[0][0] == 1 else 2 for r in rounds]
    assert sides == [1, 2, 1, 2, 1]


# --- settings ----------------------------------------------------------------------------------

def test_settings_are_validated() -> None:
    with pytest.raises(InvalidSettings, match="do not apply"):
        lifecycle.new_tournament("single_elimination", {"grand_final": "double"})
    with pytest.raises(InvalidSettings, match="best_of"):
        lifecycle.new_tournament("swiss", {"best_of": 2})
    with pytest.raises(InvalidSettings, match="unknown format"):
        lifecycle.new_tournament("ladder", {})
    with pytest.raises(InvalidSettings, match="tiebreak"):
        lifecycle.new_tournament("round_robin", {"tiebreaks": ["coin_flip"]})
    with pytest.raises(InvalidSettings):
        make("single_elimination", 1)
