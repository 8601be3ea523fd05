"""Reporting results, corrections, forfeits and disqualifications.

Result input (the API's ``{"scores": [a, b]}`` or ``{"games": [[a, b], ...]}``):
  * best_of 1: ``scores`` are the game's score (e.g. rounds 16-14) and decide the match at once;
  * best_of 3/5: ``scores`` count games won; a side reaching 2 (Bo3) or 3 (Bo5) decides the
    match, fewer mark it ``running``;
  * ``games`` give every game's score; the games after the decision are ``not_needed`` and a game
    reported after the decision is an error. Opponent scores then hold games won (best_of 1: the
    game's score).
  * ``forfeit``: 1 or 2, the side that forfeits; the other side wins, no scores.
  * ``winner`` (1 or 2) alone decides the match with no score (the score is unknown: a game server
    that only says who won, an organiser told the result); given with scores or games it is checked
    against them (the winner must be the side with the higher score), with a forfeit it must be
    the other side.
Draws are allowed only in ``round_robin`` (also groups) and ``swiss``; never in elimination
brackets nor in ``valve_swiss``.

Corrections: reporting again on a completed match replaces its result. If the winner does not
change only this match changes. If it does, everything the match fed is taken back and fed
again (elimination: the following matches; Swiss: the later rounds, which are removed to be paired
again; groups: the playoff, rebuilt when the groups are complete) -- refused with
``DownstreamStarted`` when one of those matches is running or completed, unless ``force=True``,
which resets them; the audit entries of such a correction say ``forced``.

``reset_match`` takes a result back altogether (Challonge's "reopen"): the match is ``ready`` again,
with the same rule for what it fed.

Every operation returns ``(new_state, audit_entries)``: one entry per changed record with actor,
time, before and after.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import groups, swiss
from .audit import diff
from .errors import DownstreamStarted, InvalidResult, MatchNotReady, NotFound, StageError
from .model import AuditEntry, Match, Tournament, clone
from .progress import (STARTED, advance, clear_result, downstream, forfeit, is_real, refresh, settle, undo_outputs,
                       winner_loser)


def find(t: Tournament, match_id: int) -> Match:
    """The match ``match_id`` of ``t``; raises ``NotFound`` (404)."""
    for m in t.matches:
        if m.id == match_id:
            return m
    raise NotFound(f"match {match_id} does not exist in this tournament")


def draws_allowed(t: Tournament, m: Match) -> bool:
    """Draws exist in round robin (groups too) and score-group Swiss only."""
    return m.bracket in ("round_robin", "group", "swiss") and t.format != "valve_swiss"


def _pair(value: Any, what: str) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value)):
        raise InvalidResult(f"{what} must be two non-negative integers, got {value!r}")
    return value[0], value[1]


class _Outcome:
    def __init__(self, score1: int | None, score2: int | None, winner: int | None, decided: bool,
                 games: list[tuple[int, int]] | None = None, forfeit_side: int | None = None) -> None:
        self.score1, self.score2, self.winner, self.decided = score1, score2, winner, decided
        self.games, self.forfeit_side = games, forfeit_side


def _side_with_more(a: int, b: int, draws: bool, what: str) -> int | None:
    if a == b and not draws:
        raise InvalidResult(f"{what} {a}-{b} is a draw, which this format does not allow")
    return 1 if a > b else 2 if b > a else None


def _outcome(t: Tournament, m: Match, scores: Any, games: Any, forfeit_side: int | None,
             winner: int | None = None) -> _Outcome:
    given = sum(x is not None for x in (scores, games, forfeit_side))
    if given > 1:
        raise InvalidResult("give at most one of scores, games or forfeit")
    if winner is not None and winner not in (1, 2):
        raise InvalidResult("winner must be 1 or 2 (the side that won)")
    if given == 0:
        if winner is None:
            raise InvalidResult("give the winner, the scores, the games or the forfeiting side")
        return _Outcome(None, None, winner, True)
    draws = draws_allowed(t, m)
    need = m.best_of // 2 + 1
    if forfeit_side is not None:
        if forfeit_side not in (1, 2):
            raise InvalidResult("forfeit must be 1 or 2 (the side that forfeits)")
        return _Outcome(None, None, 3 - forfeit_side, True, forfeit_side=forfeit_side)
    if scores is not None:
        a, b = _pair(scores, "scores")
        if m.best_of == 1:
            return _Outcome(a, b, _side_with_more(a, b, draws, "score"), True)
        if max(a, b) > need or a + b > m.best_of:
            raise InvalidResult(f"{a}-{b} is impossible in a best of {m.best_of}")
        decided = max(a, b) == need
        return _Outcome(a, b, (1 if a > b else 2) if decided else None, decided)
    if not isinstance(games, (list, tuple)) or not games:
        raise InvalidResult("games must be a non-empty list of [a, b] scores")
    if len(games) > m.best_of:
        raise InvalidResult(f"{len(games)} games reported for a best of {m.best_of}")
    won = [0, 0]
    played: list[tuple[int, int]] = []
    for i, g in enumerate(games, start=1):
        if max(won) >= need:
            raise InvalidResult(f"game {i} was reported after the best of {m.best_of} was decided")
        a, b = _pair(g, f"game {i}")
        side = _side_with_more(a, b, draws, f"game {i}")
        if side is not None:
            won[side - 1] += 1
        played.append((a, b))
    if m.best_of == 1:
        a, b = played[0]
        return _Outcome(a, b, _side_with_more(a, b, draws, "score"), True, games=played)
    decided = max(won) >= need or len(played) == m.best_of
    winner = _side_with_more(won[0], won[1], draws, "games won") if decided else None
    return _Outcome(won[0], won[1], winner, decided, games=played)


def _apply(m: Match, out: _Outcome) -> None:
    if out.forfeit_side is not None:
        forfeit(m, out.forfeit_side)
        return
    clear_result(m)
    o1, o2 = m.opponent1, m.opponent2
    assert o1 is not None and o2 is not None
    o1.score, o2.score = out.score1, out.score2
    if out.games is not None and m.games:
        for g, scores in zip(m.games, out.games):
            g.status, g.scores = "completed", list(scores)
    elif m.games and out.score1 is not None and out.score2 is not None:
        # Series score only: that many games were played, their scores are unknown.
        for g in m.games[: out.score1 + out.score2]:
            g.status = "completed"
    if out.decided:
        o1.result = "draw" if out.winner is None else "win" if out.winner == 1 else "loss"
        o2.result = "draw" if out.winner is None else "win" if out.winner == 2 else "loss"
        for g in m.games:
            if g.status == "pending":
                g.status = "not_needed"
    m.status = "completed" if out.decided else "running"


def _flow(m: Match) -> tuple[int | None, ...] | None:
    """What a decided match passes on (winner, loser, or a draw); None while undecided."""
    if m.status != "completed":
        return None
    o1 = m.opponent1
    if o1 is not None and o1.result == "draw":
        return (None, None)
    return winner_loser(m)


def _planned_flow(m: Match, out: _Outcome) -> tuple[int | None, ...] | None:
    if not out.decided:
        return None
    if out.winner is None:
        return (None, None)
    sides = (m.opponent1, m.opponent2)
    return (sides[out.winner - 1].participant_id, sides[2 - out.winner].participant_id)  # type: ignore[union-attr]


def _take_back(t: Tournament, m: Match, force: bool) -> bool:
    """Undo what ``m`` fed, refusing if something that started would change (see module docstring);
    True when ``force`` reset started matches."""
    if m.bracket == "swiss":
        later = [x for x in swiss.swiss_matches(t) if x.round > m.round]
        affected = [x for x in later if is_real(x) and x.status in STARTED]
    elif m.bracket == "group":
        affected = [x for x in groups.playoff_matches(t) if is_real(x) and x.status in STARTED]
    else:
        affected = [x for x in downstream(t, m) if is_real(x) and x.status in STARTED]
    if affected and not force:
        ids = ", ".join(str(x.id) for x in affected)
        raise DownstreamStarted(f"changing match {m.id} would change matches already played or running ({ids}); "
                                "use force to reset them")
    if m.bracket == "swiss":
        swiss.drop_rounds_after(t, m.round)
    elif m.bracket == "group":
        groups.drop_playoff(t)
    else:
        undo_outputs(t, m)
    return bool(affected)


def _marked(entries: list[AuditEntry], forced: bool) -> list[AuditEntry]:
    if forced:
        for e in entries:
            e.forced = True
    return entries


def check_result(t: Tournament, match_id: int, *, scores: Any = None, games: Any = None,
                 forfeit: int | None = None, winner: int | None = None) -> None:
    """Raises what ``report_result`` would for this result on this match's best-of and bracket
    (``NotFound``, ``InvalidResult``), without applying it: a claim that is only recorded (it
    disputes another) must be as valid as one that is applied."""
    m = find(t, match_id)
    out = _outcome(t, m, scores, games, forfeit, winner)
    if winner is not None and (not out.decided or winner != out.winner):
        raise InvalidResult(f"winner {winner} contradicts the scores: the winner must have the higher score")


def report_result(t: Tournament, match_id: int, *, scores: Any = None, games: Any = None,
                  forfeit: int | None = None, winner: int | None = None, force: bool = False,
                  actor: str, at: dt.datetime) -> tuple[Tournament, list[AuditEntry]]:
    """Record (or correct) the result of match ``match_id`` and propagate it.

    ``winner`` alone decides the match without a score. Raises ``NotFound`` (404); ``MatchNotReady``
    (409) when the match is pending, not needed or has a bye; ``InvalidResult`` (422) for impossible
    or contradictory scores or a forbidden draw; ``DownstreamStarted`` (409) for a correction that
    would change started matches without ``force`` (with it, the entries are marked ``forced``).
    """
    new = clone(t)
    m = find(new, match_id)
    if m.status not in ("ready", "running", "completed") or not is_real(m):
        raise MatchNotReady(f"match {match_id} is {m.status}; a result needs both opponents known")
    out = _outcome(new, m, scores, games, forfeit, winner)
    if winner is not None and (not out.decided or winner != out.winner):
        raise InvalidResult(f"winner {winner} contradicts the scores: the winner must have the higher score")
    before = _flow(m)
    forced = False
    if m.status == "completed" and _planned_flow(m, out) != before:
        forced = _take_back(new, m, force)
    _apply(m, out)
    if m.status == "completed" and _flow(m) != before:
        advance(new, m)
    if m.bracket == "group":
        groups.maybe_build_playoff(new)
    return new, _marked(diff(t, new, actor=actor, at=at, action="report_result"), forced)


def reset_match(t: Tournament, match_id: int, *, force: bool = False, actor: str,
                at: dt.datetime) -> tuple[Tournament, list[AuditEntry]]:
    """Take the result of match ``match_id`` back: a completed or running match is ``ready`` again
    with no score, and what it fed is taken back as for a correction (``DownstreamStarted`` 409 when
    that would change started matches, unless ``force``; then the entries say ``forced``).

    Raises ``NotFound`` (404); ``StageError`` (409) for a match with no result to take back.
    """
    new = clone(t)
    m = find(new, match_id)
    if m.status not in ("running", "completed") or not is_real(m):
        raise StageError(f"match {match_id} is {m.status}; only a running or completed match can be reset")
    forced = _take_back(new, m, force) if m.status == "completed" else False
    clear_result(m)
    m.status = "ready"
    if m.bracket == "group":
        groups.maybe_build_playoff(new)
    return new, _marked(diff(t, new, actor=actor, at=at, action="reset_match"), forced)


def start_match(t: Tournament, match_id: int, *, actor: str, at: dt.datetime) -> tuple[Tournament, list[AuditEntry]]:
    """Mark a ``ready`` match ``running`` (it has begun). Raises ``NotFound``, ``MatchNotReady``."""
    new = clone(t)
    m = find(new, match_id)
    if m.status != "ready":
        raise MatchNotReady(f"match {match_id} is {m.status}, not ready")
    m.status = "running"
    return new, diff(t, new, actor=actor, at=at, action="start_match")


def disqualify(t: Tournament, participant_id: int, *, actor: str, at: dt.datetime) -> tuple[Tournament, list[AuditEntry]]:
    """Disqualify a participant: every match of theirs not yet completed (ready or running now,
    and every later one as soon as it is ready, losers' bracket included) becomes a forfeit win
    for the opponent; Swiss stops pairing them. Completed results stay (rule chosen here).

    Idempotent. Raises ``NotFound`` (404) for an unknown participant.
    """
    new = clone(t)
    p = next((x for x in new.participants if x.id == participant_id), None)
    if p is None:
        raise NotFound(f"participant {participant_id} does not exist in this tournament")
    if p.disqualified:
        return new, []
    p.disqualified = True
    for m in new.matches:
        if m.status not in ("ready", "running") or not is_real(m):
            continue
        ids = (m.opponent1.participant_id, m.opponent2.participant_id)  # type: ignore[union-attr]
        if participant_id in ids:
            # refresh() decides a match holding a disqualified participant as a forfeit.
            m.status = "pending"
            refresh(new, m)
    settle(new)
    if groups.uses_groups(new):
        groups.maybe_build_playoff(new)
    return new, diff(t, new, actor=actor, at=at, action="disqualify")
