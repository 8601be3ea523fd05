"""Moving participants through linked matches: byes, winners/losers, the grand-final reset,
disqualified participants, and undoing all of that for a correction.

Every function here mutates the ``Tournament`` it is given; public operations (``results``,
``lifecycle``, ``swiss``) call them on their own clone only.
"""

from __future__ import annotations

from .model import Game, Link, Match, Opponent, Tournament, match_by_id

STARTED = ("running", "completed")


def slot(m: Match, n: int) -> Opponent | None:
    """Side ``n`` (1 or 2) of ``m``."""
    return m.opponent1 if n == 1 else m.opponent2


def set_slot(m: Match, n: int, value: Opponent | None) -> None:
    """Replace side ``n`` (1 or 2) of ``m``."""
    if n == 1:
        m.opponent1 = value
    else:
        m.opponent2 = value


def is_real(m: Match) -> bool:
    """Both sides are participants (not a bye, not undecided)."""
    return all(o is not None and o.participant_id is not None for o in (m.opponent1, m.opponent2))


def fresh_games(best_of: int) -> list[Game]:
    """Unplayed games of a best-of series; a best of 1 keeps no game list."""
    return [Game(number=i + 1) for i in range(best_of)] if best_of > 1 else []


def clear_result(m: Match) -> None:
    """Forget scores, results, forfeits and games of ``m`` (participants stay)."""
    for o in (m.opponent1, m.opponent2):
        if o is not None:
            o.score, o.result, o.forfeit = None, None, False
    m.games = fresh_games(m.best_of)


def winner_loser(m: Match) -> tuple[int | None, int | None]:
    """Participant ids leaving a decided match; None stands for a bye travelling on."""
    if m.status == "not_needed":
        real = [o.participant_id for o in (m.opponent1, m.opponent2) if o is not None]
        return (real[0] if real else None), None
    o1, o2 = m.opponent1, m.opponent2
    assert o1 is not None and o2 is not None
    if o1.result == "win":
        return o1.participant_id, o2.participant_id
    return o2.participant_id, o1.participant_id


def forfeit(m: Match, side: int) -> None:
    """Decide ``m`` as a forfeit by ``side`` (1 or 2): the other side wins, no scores."""
    clear_result(m)
    for g in m.games:
        g.status = "not_needed"
    loser, winner = slot(m, side), slot(m, 3 - side)
    assert loser is not None and winner is not None
    loser.forfeit, loser.result = True, "loss"
    winner.result = "win"
    m.status = "completed"


def _seed_of(pid: int, feeder: Match) -> int | None:
    for o in (feeder.opponent1, feeder.opponent2):
        if o is not None and o.participant_id == pid:
            return o.seed
    return None


def _place(t: Tournament, link: Link, pid: int | None, feeder: Match) -> None:
    target = match_by_id(t)[link.match_id]
    set_slot(target, link.slot, None if pid is None else Opponent(participant_id=pid, seed=_seed_of(pid, feeder)))
    refresh(t, target)


def _grand_final_reset(t: Tournament, m: Match) -> Match | None:
    if m.bracket != "grand_final" or m.round != 1:
        return None
    return next((x for x in t.matches if x.bracket == "grand_final" and x.round == 2), None)


def advance(t: Tournament, m: Match) -> None:
    """Send the winner and loser of the decided match ``m`` on, resolving byes as they appear.

    The grand-final reset (brackets with ``grand_final: double``) is only played when the losers'
    bracket champion (opponent2) wins the first final; otherwise it becomes ``not_needed``.
    """
    winner, loser = winner_loser(m)
    if m.winner_to is not None:
        _place(t, m.winner_to, winner, m)
    if m.loser_to is not None:
        _place(t, m.loser_to, loser, m)
    reset = _grand_final_reset(t, m)
    if reset is not None:
        o2 = m.opponent2
        if m.status == "completed" and o2 is not None and o2.result == "win" and m.opponent1 is not None:
            reset.opponent1 = Opponent(participant_id=m.opponent1.participant_id, seed=m.opponent1.seed)
            reset.opponent2 = Opponent(participant_id=o2.participant_id, seed=o2.seed)
            reset.status = "pending"
            refresh(t, reset)
        else:
            reset.status = "not_needed"


def refresh(t: Tournament, m: Match) -> None:
    """Recompute the status of an undecided match from its slots and act on it.

    A bye beside anything decided makes the match ``not_needed`` and passes the participant on at
    once; two participants make it ``ready``, unless one is disqualified, in which case it is
    decided as a forfeit straight away (both disqualified: opponent1 goes on, both marked forfeit).
    """
    if m.status not in ("pending", "ready"):
        return
    sides = (m.opponent1, m.opponent2)
    if any(o is not None and o.participant_id is None for o in sides):
        m.status = "pending"
        return
    if any(o is None for o in sides):
        m.status = "not_needed"
        advance(t, m)
        return
    m.status = "ready"
    dq = {p.id for p in t.participants if p.disqualified}
    o1, o2 = m.opponent1, m.opponent2
    assert o1 is not None and o2 is not None
    if o1.participant_id in dq or o2.participant_id in dq:
        forfeit(m, 1 if o1.participant_id in dq else 2)
        if o1.participant_id in dq and o2.participant_id in dq:
            forfeit(m, 2)
            o1.forfeit = True
        advance(t, m)


def settle(t: Tournament) -> None:
    """Refresh every undecided match (after building a bracket or disqualifying someone)."""
    for m in list(t.matches):
        refresh(t, m)


def downstream(t: Tournament, m: Match) -> list[Match]:
    """Every match that receives, directly or further on, a participant leaving ``m``."""
    by_id = match_by_id(t)
    seen: dict[int, Match] = {}
    todo = [m]
    while todo:
        cur = todo.pop()
        nxt = [by_id[link.match_id] for link in (cur.winner_to, cur.loser_to) if link is not None]
        reset = _grand_final_reset(t, cur)
        if reset is not None:
            nxt.append(reset)
        for x in nxt:
            if x.id not in seen:
                seen[x.id] = x
                todo.append(x)
    return sorted(seen.values(), key=lambda x: x.id)


def undo_outputs(t: Tournament, m: Match) -> None:
    """Take back everything ``m`` sent on: the slots it fed become undecided again and the matches
    behind them lose their results, recursively (used by corrections and ``force``)."""
    by_id = match_by_id(t)
    targets: list[tuple[Match, int | None]] = [
        (by_id[link.match_id], link.slot) for link in (m.winner_to, m.loser_to) if link is not None
    ]
    reset = _grand_final_reset(t, m)
    if reset is not None:
        targets.append((reset, None))
    for target, n in targets:
        was_decided = target.status in ("completed", "not_needed")
        if n is None:
            target.opponent1, target.opponent2 = Opponent(), Opponent()
        else:
            set_slot(target, n, Opponent())
        clear_result(target)
        target.status = "pending"
        if was_decided:
            undo_outputs(t, target)
