"""Tournaments II's pure rules: times and DST, iCal, registration and waitlist, seeds, ratings,
odds, scores_csv and the participants CSV, provenance of claims, webhook signatures."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tournaments import (catalogue, exports, lifecycle, odds, outcomes, ratings, registration, schedule, seeds,
                         webhooks)
from tournaments.errors import InvalidResult, InvalidSettings
from tournaments.registration import EventConfig, Member, Registration

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


# --- schedule ----------------------------------------------------------------------------------

def test_local_times_across_dst():
    # spring gap (Europe/Berlin, 2025-03-30 02:00 -> 03:00) and autumn fold (2025-10-26 03:00 -> 02:00)
    with pytest.raises(schedule.InvalidTime):
        schedule.parse_time("2025-03-30T02:30:00", "Europe/Berlin")
    assert schedule.parse_time("2025-03-30T03:30:00", "Europe/Berlin") == dt.datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert schedule.parse_time("2025-10-26T02:30:00", "Europe/Berlin") == dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert schedule.parse_time("2025-10-26T02:30:00Z", "Europe/Berlin") == dt.datetime(2025, 10, 26, 2, 30, tzinfo=UTC)
    # US zones change on other dates
    assert schedule.show(dt.datetime(2025, 3, 20, 12, tzinfo=UTC), "America/New_York") == "2025-03-20T08:00:00-04:00"
    assert schedule.show(dt.datetime(2025, 3, 20, 12, tzinfo=UTC), "Europe/London") == "2025-03-20T12:00:00+00:00"
    for bad in ("tomorrow", "2025-13-01T00:00:00"):
        with pytest.raises(schedule.InvalidTime):
            schedule.parse_time(bad, "UTC")
    with pytest.raises(schedule.InvalidTime):
        schedule.zone("../etc/passwd")


def test_checkin_window_and_ical_folding():
    start = dt.datetime(2025, 6, 1, 18, tzinfo=UTC)
    assert schedule.checkin_window(start, 30, 10) == (start - dt.timedelta(minutes=30), start + dt.timedelta(minutes=10))
    assert schedule.checkin_window(start, 0, 0) is None and schedule.checkin_window(None, 30, 0) is None
    text = schedule.ical("t-1", "Ünïcode " * 20 + "; cup, final", "Europe/Berlin",
                         [("round 1: " + "é" * 80, start, start + dt.timedelta(hours=1))], start)
    lines = text.split("\r\n")
    assert all(len(x.encode()) <= 75 for x in lines)
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:round 1: " + "é" * 80 in unfolded and "\\; cup\\, final" in unfolded
    assert "DTSTART:20250601T180000Z" in unfolded and unfolded.count("BEGIN:VEVENT") == 1


# --- registration ------------------------------------------------------------------------------

def reg(i: int, status: str, checked: bool = False) -> Registration:
    return Registration(id=i, name=f"p{i}", tag=None, seed=None, members=[], status=status,
                        queued_at=T0 + dt.timedelta(seconds=i), checked_in_at=T0 if checked else None)


def test_waitlist_promotes_in_order_and_checkin_close():
    cfg = EventConfig(capacity=3, checkin_minutes=30, starts_at=T0)
    regs = [reg(1, "registered", True), reg(2, "withdrawn"), reg(3, "registered"), reg(4, "waitlisted"),
            reg(5, "waitlisted", True), reg(6, "waitlisted", True)]
    assert registration.place_for_new(cfg, regs) == "registered"
    assert registration.promotions(cfg, regs) == [4]            # one free place, first in line
    no_shows, promoted = registration.close_checkin(cfg, regs)
    assert no_shows == [3] and promoted == [5, 6]               # 4 did not check in: skipped
    assert registration.close_checkin(EventConfig(capacity=3), regs) == ([], [])
    assert registration.promotions(EventConfig(capacity=None), regs) == [4, 5, 6]


def test_roster_and_config_rules():
    team = EventConfig(kind="team", roster_min=2, roster_max=3, substitutes=1)
    registration.check_roster(team, [Member("a"), Member("b"), Member("c", substitute=True)])
    for bad in ([Member("a")], [Member("a"), Member("b"), Member("c"), Member("d")],
                [Member("a"), Member("b"), Member("c", substitute=True), Member("d", substitute=True)],
                [Member("a"), Member(" A ")]):
        with pytest.raises(InvalidSettings):
            registration.check_roster(team, bad)
    with pytest.raises(InvalidSettings):
        registration.check_roster(EventConfig(), [Member("a"), Member("b")])
    for bad in (EventConfig(capacity=1), EventConfig(roster_max=2), EventConfig(checkin_minutes=10),
                EventConfig(kind="team", roster_min=3, roster_max=2)):
        with pytest.raises(InvalidSettings):
            registration.check_config(bad)


# --- seeds and ratings -------------------------------------------------------------------------

def test_seeds():
    regs = [reg(i, "registered") for i in range(1, 9)]
    regs[2].seed, regs[5].seed = 1, 5
    manual = seeds.assign(regs, "manual")
    assert manual[3] == 1 and manual[6] == 2 and sorted(manual.values()) == list(range(1, 9))
    assert seeds.assign(regs, "random", random_seed=99) == seeds.assign(regs, "random", random_seed=99)
    assert seeds.assign(regs, "random", random_seed=99) != seeds.assign(regs, "random", random_seed=98)
    rates = {r.id: (20.0 + r.id, 1.0) for r in regs}
    assert [k for k, _ in sorted(seeds.assign(regs, "rating", ratings=rates).items(), key=lambda kv: kv[1])] == \
        list(range(8, 0, -1))
    with pytest.raises(InvalidSettings):
        seeds.assign(regs, "random")
    with pytest.raises(InvalidSettings):
        seeds.assign(regs, "alphabetical")


def test_ratings_move_with_results():
    new = ratings.rate({}, {"a": 10, "b": 0, "c": -5})
    assert new["a"][0] > ratings.DEFAULT_MU > new["c"][0] and all(s < ratings.DEFAULT_SIGMA for _, s in new.values())
    tie = ratings.rate({}, {"a": 3, "b": 3})
    assert tie["a"] == pytest.approx(tie["b"])
    assert ratings.conservative((25.0, 25 / 3)) == pytest.approx(0.0)
    mu, sigma = ratings.team_rating([(30.0, 2.0), (20.0, 2.0)])
    assert mu == 25.0 and sigma == pytest.approx(2 ** 0.5)
    assert ratings.team_rating([]) == (ratings.DEFAULT_MU, ratings.DEFAULT_SIGMA)
    p = ratings.win_probability([(35.0, 1.0)], [(20.0, 1.0)])
    assert 0.5 < p < 1 and ratings.win_probability([(20.0, 1.0)], [(35.0, 1.0)]) == pytest.approx(1 - p)


# --- odds --------------------------------------------------------------------------------------

def started(fmt: str, n: int, settings: dict | None = None):
    t = lifecycle.new_tournament(fmt, settings or {})
    for i in range(1, n + 1):
        t, _, _ = lifecycle.add_participant(t, f"p{i}", i, actor="t", at=T0)
    t, _ = lifecycle.start(t, actor="t", at=T0)
    return t


def test_series_probability():
    assert odds.series_probability(0.5, 3) == pytest.approx(0.5)
    assert odds.series_probability(0.6, 3) == pytest.approx(0.6 ** 2 * (3 - 2 * 0.6))
    assert odds.series_probability(0.7, 5) > odds.series_probability(0.7, 3) > 0.7


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 12), fmt=st.sampled_from(["single_elimination", "double_elimination", "round_robin"]),
       seed=st.integers(0, 1000))
def test_odds_are_probabilities(n, fmt, seed):
    t = started(fmt, n)
    out = odds.simulate(t, lambda a, b: 0.5 + 0.04 * (b - a) / max(a, b), runs=200, seed=seed)
    assert sum(v["win"] for v in out.values()) == pytest.approx(1.0)
    assert all(0 <= p <= 1 for v in out.values() for p in v["reach"].values())
    assert out == odds.simulate(t, lambda a, b: 0.5 + 0.04 * (b - a) / max(a, b), runs=200, seed=seed)


def test_odds_favour_the_stronger_and_respect_results():
    t = started("double_elimination", 8, {"grand_final": "double"})
    sure = odds.simulate(t, lambda a, b: 1.0 if a < b else 0.0, runs=50)
    assert sure[1]["win"] == 1.0 and sure[1]["reach"]["grand_final:1"] == 1.0
    assert "grand_final:2" not in sure[1]["reach"]            # the reset is never needed
    from tournaments import results
    m = next(x for x in t.matches if x.round == 1 and x.bracket == "winners" and x.opponent1.participant_id == 1)
    t, _ = results.report_result(t, m.id, scores=[0, 1], actor="t", at=T0)   # the favourite drops
    after = odds.simulate(t, lambda a, b: 1.0 if a < b else 0.0, runs=50)
    assert after[1]["win"] == 1.0 and after[1]["reach"]["grand_final:2"] == 1.0  # wins through losers, reset
    # Swiss (issue 13): the pairing rules played run by run; a sure favourite always finishes first
    sure = odds.simulate(started("swiss", 8), lambda a, b: 1.0 if a < b else 0.0, runs=30)
    assert sure[1]["win"] == 1.0 and sum(v["win"] for v in sure.values()) == pytest.approx(1.0)
    with pytest.raises(InvalidSettings):
        odds.simulate(lifecycle.new_tournament("single_elimination"), lambda a, b: 0.5)


# --- import / export ---------------------------------------------------------------------------

def test_scores_csv():
    assert exports.parse_scores_csv("3-1,1-3, 3-2", 3) == {"games": [[3, 1], [1, 3], [3, 2]]}
    assert exports.parse_scores_csv("16-14", 1) == {"scores": [16, 14]}
    for bad, bo in (("3-1,3-2", 1), ("-1-3", 1), ("3:1", 1), ("", 1), ("1-0,1-0,1-0,1-0", 3)):
        with pytest.raises(InvalidResult):
            exports.parse_scores_csv(bad, bo)
    from tournaments import results
    t = started("single_elimination", 2, {"best_of": 3})
    t, _ = results.report_result(t, t.matches[0].id, games=[[3, 1], [1, 3], [3, 2]], actor="t", at=T0)
    assert exports.format_scores_csv(t.matches[0]) == "3-1,1-3,3-2"


def test_participants_csv():
    rows = exports.parse_participants_csv("\ufeffName,Tag,Seed,members,substitutes\n"
                                          'Red,RED,2,"a=g1; b",c\n'
                                          "Blue,,,,\n")
    assert rows[0] == {"name": "Red", "tag": "RED", "seed": 2, "player_id": None,
                       "members": [{"name": "a", "player_id": "g1", "substitute": False},
                                   {"name": "b", "player_id": None, "substitute": False},
                                   {"name": "c", "player_id": None, "substitute": True}]}
    assert rows[1]["members"] is None and rows[1]["seed"] is None
    for bad in ("tag\nRED\n", "name,seed\nRed,zero\n", "name\n\n,\n"):
        with pytest.raises(InvalidSettings):
            exports.parse_participants_csv(bad)


# --- provenance --------------------------------------------------------------------------------

def C(**kw) -> outcomes.Claim:
    return outcomes.Claim(by="x", at="t", **kw)


def test_reconcile():
    r = outcomes.reconcile
    assert r({}, 1) == (None, False)
    assert r({"captain1": C(scores=[2, 1])}, 1) == ("reported", False)
    assert r({"telemetry": C(games=[[2, 1]])}, 1) == ("telemetry", False)
    assert r({"captain1": C(scores=[2, 1]), "captain2": C(scores=[2, 1])}, 1) == ("confirmed", False)
    assert r({"captain1": C(scores=[2, 1]), "telemetry": C(games=[[2, 1]])}, 1) == ("confirmed", False)
    assert r({"captain1": C(scores=[2, 1]), "captain2": C(scores=[1, 2])}, 1) == (None, True)
    assert r({"captain1": C(scores=[2, 1]), "captain2": C(forfeit=2)}, 1) == (None, True)
    # best of 3: one map of telemetry decides nothing yet, so it does not contradict the captain
    assert r({"captain1": C(scores=[2, 0]), "telemetry": C(games=[[5, 3]])}, 3) == ("reported", False)
    assert r({"captain1": C(scores=[2, 0]), "telemetry": C(games=[[5, 3], [4, 1]])}, 3) == ("confirmed", False)
    assert r({"captain1": C(scores=[2, 1]), "telemetry": C(games=[[5, 3], [4, 1]])}, 3) == (None, True)
    assert r({"captain1": C(scores=[2, 1]), "captain2": C(scores=[1, 2]), "organiser": C(scores=[2, 0])}, 3) == \
        ("organiser", False)


def test_webhook_signature_and_ids():
    body = b'{"a":1}'
    mac = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.sign("s3cret", 1700000000, body) == "sha256=" + mac
    assert webhooks.delivery_id(1, 5) == webhooks.delivery_id(1, 5) != webhooks.delivery_id(1, 6)
    # the catalogue names what happened, from the action and the match's status before and after
    ready, running, done = ({"status": s, "opponent1": None} for s in ("ready", "running", "completed"))
    assert catalogue.event_type("report_result", 3, None, ready, done) == "match.completed"
    assert catalogue.event_type("report_result", 3, None, done, {**done, "opponent1": {}}) == "match.corrected"
    assert catalogue.event_type("report_result", 4, None, {"status": "pending"}, ready) == "match.ready"
    assert catalogue.event_type("start_match", 3, None, ready, running) == "match.underway"
    assert catalogue.event_type("reset_match", 3, None, done, ready) == "match.reset"
    assert catalogue.event_type("start", 3, None, None, ready) == "match.ready"
    assert catalogue.event_type("start", 4, None, None, {"status": "pending"}) == "match.created"
    assert catalogue.event_type("checkin", None, 9, {}, {}) == "participant.checked_in"
    assert catalogue.event_type("add_participant", None, 9, None, {"id": 9}) == "participant.entered"
    assert catalogue.event_type("disqualify", None, 9, {"disqualified": False}, {"disqualified": True}) == \
        "participant.disqualified"
    assert catalogue.event_type("launch", None, None, None, {}) == "tournament.started"
    assert set(catalogue.ACTIONS.values()) <= set(catalogue.EVENTS)
