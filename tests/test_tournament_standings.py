"""Standings of every format played to the end, placements with shared ranges, tie-break chains."""

from __future__ import annotations

import random

import msgspec
import pytest
from helpers import AT, make
from hypothesis import given, settings
from hypothesis import strategies as st

from tournaments import lifecycle, results, swiss
from tournaments.model import Tournament
from tournaments.standings import standings


def play(t: Tournament, pick=lambda m: 1) -> Tournament:
    """Play to the end; ``pick`` chooses the winning side (default: opponent1)."""
    while True:
        ready = [m for m in t.matches if m.status == "ready"]
        if not ready:
            if t.format in ("swiss", "valve_swiss") and not swiss.is_finished(t):
                t, _ = swiss.pair_round(t, actor="org", at=AT)
                continue
            return t
        m = ready[0]
        need = m.best_of // 2 + 1
        side = pick(m)
        t, _ = results.report_result(t, m.id, scores=[need, 0] if side == 1 else [0, need], actor="org", at=AT)


def favourite(m) -> int:
    """The better seed wins."""
    return 1 if m.opponent1.seed < m.opponent2.seed else 2


def table(t: Tournament) -> list[tuple[str, int]]:
    return [(s.place, s.participant_id) for s in standings(t)]


def test_single_elimination_standings() -> None:
    t = play(make("single_elimination", 8), favourite)
    assert lifecycle.status(t) == "completed"
    assert table(t) == [("1", 1), ("2", 2), ("3-4", 3), ("3-4", 4), ("5-8", 5), ("5-8", 6), ("5-8", 7), ("5-8", 8)]
    t = play(make("single_elimination", 6, third_place=True), favourite)
    assert table(t) == [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5-6", 5), ("5-6", 6)]


def test_double_elimination_standings() -> None:
    t = play(make("double_elimination", 8), favourite)
    assert lifecycle.status(t) == "completed"
    assert table(t) == [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5-6", 5), ("5-6", 6), ("7-8", 7), ("7-8", 8)]
    rows = standings(t)
    assert (rows[0].wins, rows[0].losses) == (4, 0)


def test_double_elimination_with_reset_gives_title_to_losers_champion() -> None:
    def pick(m):
        return 2 if m.bracket == "grand_final" else favourite(m)
    t = play(make("double_elimination", 4), pick)
    gf = [m for m in t.matches if m.bracket == "grand_final"]
    assert [m.status for m in gf] == ["completed", "completed"]
    assert table(t)[:2] == [("1", gf[1].opponent2.participant_id), ("2", gf[1].opponent1.participant_id)]


def test_round_robin_standings_and_tiebreak_values() -> None:
    t = make("round_robin", 4)
    # 1 beats 2 and 3, loses to 4; 2 beats 3 and 4; 3 beats 4.
    winners = {frozenset((1, 2)): 1, frozenset((1, 3)): 1, frozenset((1, 4)): 4,
               frozenset((2, 3)): 2, frozenset((2, 4)): 2, frozenset((3, 4)): 3}
    for m in list(t.matches):
        a, b = m.opponent1.participant_id, m.opponent2.participant_id
        w = winners[frozenset((a, b))]
        t, _ = results.report_result(t, m.id, scores=[16, 10] if w == a else [10, 16], actor="org", at=AT)
    rows = {s.participant_id: s for s in standings(t)}
    assert [s.participant_id for s in standings(t)] == [1, 2, 3, 4]  # head-to-head splits both ties
    assert (rows[1].points, rows[2].points, rows[3].points, rows[4].points) == (6, 6, 3, 3)
    assert rows[1].tiebreaks == {"head_to_head": 3, "game_difference": 6, "sonneborn_berger": 9}
    assert rows[4].tiebreaks["sonneborn_berger"] == 6
    t2 = msgspec.structs.replace(t, settings=msgspec.structs.replace(
        t.settings, tiebreaks=["buchholz", "buchholz_cut1", "median_buchholz", "sonneborn_berger"]))
    rows2 = standings(t2)
    by_id = {s.participant_id: s for s in rows2}
    assert by_id[3].tiebreaks == {"buchholz": 15, "buchholz_cut1": 12, "median_buchholz": 6, "sonneborn_berger": 3}
    assert by_id[1].tiebreaks["buchholz"] == 12 and by_id[1].tiebreaks["median_buchholz"] == 3
    # 3 and 4 tie on points, Buchholz (15), cut-1 (12) and median (6): Sonneborn-Berger (6 v 3) decides.
    assert [s.participant_id for s in rows2][2:] == [4, 3]


def test_swiss_standings_after_all_rounds() -> None:
    t = play(make("swiss", 8, rounds=3), favourite)
    rows = standings(t)
    assert lifecycle.status(t) == "completed"
    assert rows[0].participant_id == 1 and (rows[0].wins, rows[0].points) == (3, 9)
    assert [r.place for r in rows] == [str(i) for i in range(1, 9)]
    assert set(rows[0].tiebreaks) == {"buchholz_cut1", "buchholz", "sonneborn_berger", "head_to_head"}


@given(seed=st.integers(0, 10**6))
@settings(max_examples=15, deadline=None)
def test_valve_standings_share_ranges_by_record(seed: int) -> None:
    rng = random.Random(seed)
    t = play(make("valve_swiss", 16), lambda m: rng.choice([1, 2]))
    rows = standings(t)
    places = [r.place for r in rows]
    assert places == ["1-2"] * 2 + ["3-5"] * 3 + ["6-8"] * 3 + ["9-11"] * 3 + ["12-14"] * 3 + ["15-16"] * 2
    assert [(r.wins, r.losses) for r in rows[:2]] == [(3, 0), (3, 0)]
    assert all(r.losses == 3 for r in rows[8:])


def test_groups_feed_a_playoff() -> None:
    t = make("round_robin", 8, groups=2, advance_per_group=2, group_distribution="snake")
    groups = {}
    for m in t.matches:
        for o in (m.opponent1, m.opponent2):
            groups.setdefault(m.group, set()).add(o.participant_id)
    assert groups == {1: {1, 4, 5, 8}, 2: {2, 3, 6, 7}}
    t = play(t, favourite)
    playoff = [m for m in t.matches if m.bracket == "winners"]
    first = sorted((m.opponent1.participant_id, m.opponent2.participant_id) for m in playoff if m.round == 1)
    assert first == [(1, 3), (2, 4)]  # A1 v B2, B1 v A2
    assert lifecycle.status(t) == "completed"
    assert table(t) == [("1", 1), ("2", 2), ("3-4", 3), ("3-4", 4), ("5-6", 5), ("5-6", 6), ("7-8", 7), ("7-8", 8)]


@pytest.mark.parametrize("fmt,n,s", [
    ("single_elimination", 13, {"third_place": True, "best_of": 3}),
    ("double_elimination", 11, {"grand_final": "simple"}),
    ("round_robin", 7, {"cycles": 2}),
    ("swiss", 9, {}),
    ("valve_swiss", 10, {"decider_best_of": 1}),
    ("round_robin", 9, {"groups": 3, "advance_per_group": 1, "group_distribution": "stride"}),
])
def test_every_format_plays_to_completion(fmt: str, n: int, s: dict) -> None:
    rng = random.Random(n)
    t = play(make(fmt, n, **s), lambda m: rng.choice([1, 2]))
    assert lifecycle.status(t) == "completed"
    rows = standings(t)
    assert sorted(r.participant_id for r in rows) == list(range(1, n + 1))
    assert rows[0].place == "1" or rows[0].place.startswith("1-")
    total_w = sum(r.wins for r in rows)
    total_l = sum(r.losses for r in rows)
    byes = sum(1 for m in t.matches if m.bracket == "swiss" and m.opponent2 is None)
    assert total_w == total_l + byes
    doc = msgspec.to_builtins(rows[0])
    assert set(doc) == {"participant_id", "name", "place", "wins", "losses", "draws", "points", "tiebreaks", "disqualified"}
    match_doc = msgspec.to_builtins(t.matches[0])
    assert {"id", "bracket", "group", "round", "number", "status", "best_of", "opponent1", "opponent2"} <= set(match_doc)


def test_disqualified_ranked_last_in_round_robin() -> None:
    t = make("round_robin", 4)
    t, _ = results.disqualify(t, 1, actor="admin", at=AT)
    t = play(t, favourite)
    rows = standings(t)
    assert rows[-1].participant_id == 1 and rows[-1].disqualified and rows[-1].place == "4"
    assert rows[0].participant_id == 2


def test_double_elimination_without_grand_final() -> None:
    t = play(make("double_elimination", 8, grand_final="none"), favourite)
    assert not [m for m in t.matches if m.bracket == "grand_final"]
    assert lifecycle.status(t) == "completed"
    assert table(t)[:4] == [("1", 1), ("2", 2), ("3", 3), ("4", 4)]


def test_standings_while_running_share_the_top_range() -> None:
    t = make("single_elimination", 8)
    first = next(m for m in t.matches if m.status == "ready")
    t, _ = results.report_result(t, first.id, scores=[1, 0], actor="org", at=AT)
    places = dict((pid, place) for place, pid in table(t))
    assert places[first.opponent2.participant_id] == "8"
    assert places[first.opponent1.participant_id] == "1-7"
