"""Results, corrections, forfeits, disqualifications and the audit log of the bracket engine."""

from __future__ import annotations

import random

import msgspec
import pytest
from helpers import AT, make
from hypothesis import given, settings
from hypothesis import strategies as st

from tournaments import lifecycle, results, standings, swiss
from tournaments.errors import DownstreamStarted, InvalidResult, MatchNotReady, NotFound
from tournaments.model import Tournament


def match(t: Tournament, bracket: str, rnd: int, number: int = 1):
    return next(m for m in t.matches if m.bracket == bracket and m.round == rnd and m.number == number)


def report(t: Tournament, m, **kw):
    return results.report_result(t, m.id, actor="org", at=AT, **kw)


def pids(m) -> tuple:
    return tuple(o.participant_id if o else None for o in (m.opponent1, m.opponent2))


# --- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    {"scores": [3, 0]}, {"scores": [2, 2]}, {"scores": [-1, 2]}, {"scores": [2]}, {"scores": [True, 0]},
    {"scores": [2, 1], "winner": 2}, {"scores": [1, 0], "winner": 1},
    {"games": [[1, 0], [1, 0], [1, 0]]}, {"games": [[1, 1]]}, {"games": [[1, 0]] * 4},
    {"scores": [2, 0], "games": [[1, 0], [1, 0]]}, {}, {"forfeit": 3},
])
def test_impossible_results_are_rejected(kw: dict) -> None:
    t = make("single_elimination", 4, best_of=3)
    m = match(t, "winners", 1)
    with pytest.raises(InvalidResult) as err:
        report(t, m, **kw)
    assert err.value.http_status == 422


def test_bo1_winner_must_have_higher_score() -> None:
    t = make("single_elimination", 4)
    m = match(t, "winners", 1)
    with pytest.raises(InvalidResult, match="higher score"):
        report(t, m, scores=[10, 16], winner=1)
    with pytest.raises(InvalidResult, match="draw"):
        report(t, m, scores=[15, 15])
    t2, _ = report(t, m, scores=[10, 16], winner=2)
    done = match(t2, "winners", 1)
    assert (done.opponent1.result, done.opponent2.result) == ("loss", "win")


def test_draws_only_where_allowed() -> None:
    rr = make("round_robin", 4)
    m = next(m for m in rr.matches if m.status == "ready")
    rr, _ = report(rr, m, scores=[1, 1])
    done = next(x for x in rr.matches if x.id == m.id)
    assert (done.status, done.opponent1.result, done.opponent2.result) == ("completed", "draw", "draw")
    valve = make("valve_swiss", 4, decider_best_of=1)
    with pytest.raises(InvalidResult):
        report(valve, next(m for m in valve.matches if m.status == "ready"), scores=[1, 1])


def test_best_of_games_decided_marks_rest_not_needed() -> None:
    t = make("single_elimination", 4, best_of=5)
    m = match(t, "winners", 1)
    t, _ = report(t, m, games=[[16, 3], [2, 16]])
    partial = match(t, "winners", 1)
    assert partial.status == "running"
    assert [g.status for g in partial.games] == ["completed", "completed", "pending", "pending", "pending"]
    t, _ = report(t, m, games=[[16, 3], [2, 16], [16, 9], [16, 14]])
    done = match(t, "winners", 1)
    assert done.status == "completed"
    assert [g.status for g in done.games] == ["completed"] * 4 + ["not_needed"]
    assert (done.opponent1.score, done.opponent2.score) == (3, 1)
    assert match(t, "winners", 2).opponent1.participant_id == done.opponent1.participant_id
    with pytest.raises(InvalidResult, match="after"):
        report(t, m, games=[[16, 3], [16, 2], [16, 9], [1, 16]])


def test_partial_scores_mark_running() -> None:
    t = make("single_elimination", 4, best_of=3)
    t, _ = report(t, match(t, "winners", 1), scores=[1, 0])
    assert match(t, "winners", 1).status == "running"
    assert match(t, "winners", 2).opponent1.participant_id is None
    t, _ = report(t, match(t, "winners", 1), scores=[2, 0])
    assert [g.status for g in match(t, "winners", 1).games] == ["completed", "completed", "not_needed"]


def test_result_on_pending_match_is_not_ready() -> None:
    t = make("single_elimination", 4)
    with pytest.raises(MatchNotReady) as err:
        report(t, match(t, "winners", 2), scores=[1, 0])
    assert err.value.http_status == 409
    with pytest.raises(NotFound):
        results.report_result(t, 999, scores=[1, 0], actor="org", at=AT)


# --- corrections -------------------------------------------------------------------------------

def test_correction_repropagates_and_is_audited() -> None:
    t = make("single_elimination", 4)
    semi = match(t, "winners", 1)
    t, _ = report(t, semi, scores=[1, 0])
    assert match(t, "winners", 2).opponent1.participant_id == semi.opponent1.participant_id
    before = msgspec.to_builtins(t)
    t2, audit = report(t, semi, scores=[0, 1])
    assert msgspec.to_builtins(t) == before  # the input state is left alone
    assert match(t2, "winners", 2).opponent1.participant_id == semi.opponent2.participant_id
    changed = {e.match_id for e in audit}
    assert changed == {semi.id, match(t, "winners", 2).id}
    e = next(e for e in audit if e.match_id == semi.id)
    assert (e.actor, e.at, e.action) == ("org", AT, "report_result")
    assert e.before["opponent1"]["result"] == "win" and e.after["opponent1"]["result"] == "loss"


def test_score_only_correction_touches_one_match() -> None:
    t = make("single_elimination", 4)
    t, _ = report(t, match(t, "winners", 1), scores=[16, 3])
    t, _ = report(t, match(t, "winners", 1, 2), scores=[16, 3])
    t, _ = report(t, match(t, "winners", 2), scores=[16, 3])
    t, audit = report(t, match(t, "winners", 1), scores=[16, 10])
    assert [e.match_id for e in audit] == [match(t, "winners", 1).id]


def test_correction_refused_when_downstream_started_unless_force() -> None:
    t = make("single_elimination", 4)
    for n in (1, 2):
        t, _ = report(t, match(t, "winners", 1, n), scores=[1, 0])
    final = match(t, "winners", 2)
    t, _ = results.start_match(t, final.id, actor="org", at=AT)
    semi = match(t, "winners", 1)
    with pytest.raises(DownstreamStarted) as err:
        report(t, semi, scores=[0, 1])
    assert err.value.http_status == 409
    t, _ = report(t, final, scores=[1, 0])
    with pytest.raises(DownstreamStarted):
        report(t, semi, scores=[0, 1])
    t, audit = report(t, semi, scores=[0, 1], force=True)
    final = match(t, "winners", 2)
    assert final.status == "ready"
    assert final.opponent1.participant_id == semi.opponent2.participant_id
    assert final.opponent1.result is None and final.opponent2.result is None
    assert any(e.match_id == final.id and e.before["status"] == "completed" for e in audit)


def test_correction_in_double_elimination_moves_the_loser_too() -> None:
    t = make("double_elimination", 8)
    wb1 = match(t, "winners", 1)
    t, _ = report(t, wb1, scores=[1, 0])
    lb_slot = next(m for m in t.matches if m.id == wb1.loser_to.match_id)
    assert wb1.opponent2.participant_id in pids(lb_slot)
    t, _ = report(t, wb1, scores=[0, 1])
    lb_slot = next(m for m in t.matches if m.id == wb1.loser_to.match_id)
    assert wb1.opponent1.participant_id in pids(lb_slot)
    assert wb1.opponent2.participant_id not in pids(lb_slot)


def test_swiss_correction_repairs_later_rounds() -> None:
    t = make("swiss", 8, rounds=3)
    for m in [m for m in t.matches if m.status == "ready"]:
        t, _ = report(t, m, scores=[1, 0])
    t, _ = swiss.pair_round(t, actor="org", at=AT)
    first = match(t, "swiss", 1)
    t2, audit = report(t, first, scores=[0, 1])
    assert swiss.current_round(t2) == 1
    assert any(e.after is None for e in audit)  # round 2 removed, to be paired again
    r2 = match(t, "swiss", 2)
    t, _ = report(t, r2, scores=[1, 0])
    with pytest.raises(DownstreamStarted):
        report(t, first, scores=[0, 1])
    t, _ = report(t, first, scores=[0, 1], force=True)
    t, _ = swiss.pair_round(t, actor="org", at=AT)
    assert swiss.current_round(t) == 2


def test_group_correction_rebuilds_unstarted_playoff_and_guards_started_one() -> None:
    t = make("round_robin", 8, groups=2, advance_per_group=2)
    for m in [m for m in t.matches if m.status == "ready"]:
        t, _ = report(t, m, scores=[1, 0])
    playoff = [m for m in t.matches if m.bracket == "winners"]
    assert len(playoff) == 3
    g = next(m for m in t.matches if m.bracket == "group")
    t2, _ = report(t, g, scores=[0, 1])
    assert len([m for m in t2.matches if m.bracket == "winners"]) == 3
    t3, _ = report(t, playoff[0], scores=[1, 0])
    with pytest.raises(DownstreamStarted):
        report(t3, g, scores=[0, 1])


# --- forfeits and disqualification -------------------------------------------------------------

def test_forfeit_one_match() -> None:
    t = make("single_elimination", 4, best_of=3)
    m = match(t, "winners", 1)
    t, _ = report(t, m, forfeit=1)
    done = match(t, "winners", 1)
    assert (done.opponent1.forfeit, done.opponent1.result, done.opponent2.result) == (True, "loss", "win")
    assert [g.status for g in done.games] == ["not_needed"] * 3
    assert match(t, "winners", 2).opponent1.participant_id == m.opponent2.participant_id


def test_disqualification_in_double_elimination() -> None:
    t = make("double_elimination", 8)
    for m in [m for m in t.matches if m.bracket == "winners" and m.round == 1]:
        t, _ = report(t, m, scores=[1, 0])
    dq = 1  # seed 1, now in winners' round 2
    t, audit = results.disqualify(t, dq, actor="admin", at=AT)
    assert any(e.participant_id == dq and e.after["disqualified"] for e in audit)
    wb2 = next(m for m in t.matches if m.bracket == "winners" and m.round == 2 and dq in pids(m))
    me = wb2.opponent1 if wb2.opponent1.participant_id == dq else wb2.opponent2
    assert (wb2.status, me.forfeit, me.result) == ("completed", True, "loss")
    rng = random.Random(5)
    while True:
        ready = [m for m in t.matches if m.status == "ready"]
        if not ready:
            break
        m = rng.choice(ready)
        assert dq not in pids(m)  # a disqualified player's matches never wait for a result
        t, _ = report(t, m, scores=rng.choice([[1, 0], [0, 1]]))
    mine = [m for m in t.matches if dq in pids(m) and m.status == "completed"]
    assert any(m.bracket == "losers" for m in mine)  # dropped and forfeited in the losers' bracket too
    for m in mine:
        if m.bracket != "winners" or m.round > 1:
            side = m.opponent1 if m.opponent1.participant_id == dq else m.opponent2
            assert side.forfeit and side.result == "loss"
    assert lifecycle.status(t) == "completed"
    rows = standings.standings(t)
    assert rows[-1].participant_id == dq and rows[-1].disqualified


def test_disqualification_in_round_robin_keeps_played_results() -> None:
    t = make("round_robin", 4)
    played = next(m for m in t.matches if 1 in pids(m))
    t, _ = report(t, played, scores=[3, 0] if played.opponent1.participant_id == 1 else [0, 3])
    t, _ = results.disqualify(t, 1, actor="admin", at=AT)
    mine = [m for m in t.matches if 1 in pids(m)]
    assert sum(1 for m in mine if not (m.opponent1.forfeit or m.opponent2.forfeit)) == 1
    assert all(m.status == "completed" for m in mine)
    again, audit = results.disqualify(t, 1, actor="admin", at=AT)
    assert audit == [] and again == t
    with pytest.raises(NotFound):
        results.disqualify(t, 42, actor="admin", at=AT)


# --- random operations keep the model consistent ------------------------------------------------

def _consistent(t: Tournament) -> None:
    seen = set()
    for m in t.matches:
        sides = (m.opponent1, m.opponent2)
        for o in sides:
            if o is not None and o.participant_id is not None:
                key = (m.bracket, m.group, m.round, o.participant_id)
                assert key not in seen  # nobody twice in a round
                seen.add(key)
        if m.status in ("ready", "running"):
            assert all(o is not None and o.participant_id is not None for o in sides)
        if m.status == "completed" and None not in sides:
            assert {m.opponent1.result, m.opponent2.result} in ({"win", "loss"}, {"draw"})


@given(seed=st.integers(0, 10**6), fmt=st.sampled_from(
    ["single_elimination", "double_elimination", "round_robin", "swiss", "valve_swiss"]))
@settings(max_examples=40, deadline=None)
def test_random_results_corrections_and_disqualifications(seed: int, fmt: str) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 12)
    t = make(fmt, n, **({"decider_best_of": 1} if fmt == "valve_swiss" else {}))
    for _ in range(600):
        if lifecycle.status(t) == "completed":
            break
        _consistent(t)
        open_ = [m for m in t.matches if m.status in ("ready", "running")]
        done = [m for m in t.matches if m.status == "completed" and m.opponent1 and m.opponent2]
        r = rng.random()
        try:
            if r < 0.03:
                t, _ = results.disqualify(t, rng.choice(t.participants).id, actor="org", at=AT)
            elif r < 0.15 and done:
                m = rng.choice(done)
                t, _ = report(t, m, scores=rng.choice([[1, 0], [0, 1]]), force=rng.random() < 0.5)
            elif open_:
                t, _ = report(t, rng.choice(open_), scores=rng.choice([[1, 0], [0, 1]]))
            else:
                t, _ = swiss.pair_round(t, actor="org", at=AT)
        except DownstreamStarted:
            pass
    assert lifecycle.status(t) == "completed"
    _consistent(t)
    assert sorted(s.participant_id for s in standings.standings(t)) == list(range(1, n + 1))
