"""Swiss stages: score-group pairing (``swiss``) and the CS Major rules (``valve_swiss``).

Settings
  * ``swiss``: ``rounds`` (default ceil(log2 n)), ``best_of``, ``points``, ``tiebreaks``.
  * ``valve_swiss``: ``wins_to_advance`` (3), ``losses_to_eliminate`` (3), ``best_of`` (1) and
    ``decider_best_of`` (default 3) for matches that can advance or eliminate a participant.

Score-group pairing (``swiss``). Players are ranked by points, Buchholz, seed. The pairing is a
search, not a greedy pass: the top unpaired player takes the first opponent from his preference
list (same score group, Dutch style top half against bottom half; then the nearest lower group)
*for which the players still unpaired can be completed with the fewest possible rematches*; that
number is known exactly from a maximum matching (``matching``) on the "not met yet" graph. So a
rematch happens only when no pairing avoids it, and then as few as possible. With an odd count the
bye goes to the lowest-ranked player without a previous bye whose absence still lets everybody
else be paired without rematch (if no choice allows that, the lowest-ranked without a bye). A bye
is a completed match with ``opponent2: null`` and counts as a win.

Valve mode (``valve_swiss``), after the Counter-Strike Major Supplemental Rulebook (Valve,
github.com/ValveSoftware/counter-strike_rules_and_regs, "Swiss Bracket" and "Mid-stage Seed
Calculation"): teams play teams of identical W-L record; seed within a record is Difficulty Score
(sum of current wins minus losses of every opponent faced), then initial seed; round 1 is 1v9,
2v10, ... (top half against bottom half in seed order); in rounds 2 and 3 the highest seed faces
the lowest seed available without a rematch, and if the last match-up is a rematch the last two
high seeds swap opponents; in later rounds a 6-team record group takes the top-most row of the
rulebook's priority table without a rematch. Choices where the rulebook (written for 16 teams)
says nothing: other group sizes in later rounds use the round-2/3 rule searched exhaustively; an
odd record group sends its lowest seed down to the next group; if a group cannot avoid a rematch
the whole round falls back to the score-group search above (ordered by record); an odd number of
teams gives a bye (a win) to the lowest-ranked team without one. A team stops being paired at
``wins_to_advance`` wins or ``losses_to_eliminate`` losses.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator

from .audit import diff
from .errors import RoundNotComplete, StageError
from .matching import matching_size
from .model import AuditEntry, Match, Opponent, Tournament, clone, effective_seeds, next_match_id
from .progress import fresh_games
from .standings import Record, records, tiebreak_values, valve_difficulty

# Rows of the Major rulebook's priority table for a 6-team group (1 = best seed in the group).
VALVE_TABLE_6 = [
    [(1, 6), (2, 5), (3, 4)], [(1, 6), (2, 4), (3, 5)], [(1, 5), (2, 6), (3, 4)],
    [(1, 5), (2, 4), (3, 6)], [(1, 4), (2, 6), (3, 5)], [(1, 4), (2, 5), (3, 6)],
    [(1, 6), (2, 3), (4, 5)], [(1, 5), (2, 3), (4, 6)], [(1, 3), (2, 6), (4, 5)],
    [(1, 3), (2, 5), (4, 6)], [(1, 4), (2, 3), (5, 6)], [(1, 3), (2, 4), (5, 6)],
    [(1, 2), (3, 6), (4, 5)], [(1, 2), (3, 5), (4, 6)], [(1, 2), (3, 4), (5, 6)],
]
SEARCH_BUDGET = 20000

Played = set[frozenset[int]]


def total_rounds(t: Tournament) -> int:
    """Rounds of a ``swiss`` stage: the ``rounds`` setting or ceil(log2 n)."""
    n = len(t.participants)
    return t.settings.rounds or max(1, math.ceil(math.log2(max(n, 2))))


def swiss_matches(t: Tournament) -> list[Match]:
    """Matches of the Swiss stage, byes included."""
    return [m for m in t.matches if m.bracket == "swiss"]


def current_round(t: Tournament) -> int:
    """Number of the last paired round (0 before the start)."""
    return max((m.round for m in swiss_matches(t)), default=0)


def played_pairs(matches: list[Match]) -> Played:
    """Pairs of participants that have already met (byes excluded)."""
    return {
        frozenset((m.opponent1.participant_id, m.opponent2.participant_id))  # type: ignore[arg-type]
        for m in matches
        if m.opponent1 is not None and m.opponent2 is not None
    }


def _fewest_rematches_left(players: list[int], played: Played) -> int:
    """Pairs among ``players`` that must be rematches, at the least (exact, via maximum matching)."""
    index = {p: i for i, p in enumerate(players)}
    adj: list[list[int]] = [[] for _ in players]
    for a in players:
        for b in players:
            if a != b and frozenset((a, b)) not in played:
                adj[index[a]].append(index[b])
    return len(players) // 2 - matching_size(len(players), adj)


def search_pairing(players: list[int], played: Played,
                   prefer: Callable[[int, list[int]], list[int]]) -> list[tuple[int, int]]:
    """Pair an even list of ranked ``players``: each top unpaired player takes the first preferred
    opponent that keeps the number of rematches at its minimum (see module docstring)."""
    remaining = list(players)
    need = _fewest_rematches_left(remaining, played)
    pairs: list[tuple[int, int]] = []
    while remaining:
        top, rest = remaining[0], remaining[1:]
        for cand in prefer(top, rest):
            left = [p for p in rest if p != cand]
            cost = 1 if frozenset((top, cand)) in played else 0
            if cost + _fewest_rematches_left(left, played) == need:
                pairs.append((top, cand))
                need -= cost
                remaining = left
                break
        else:  # pragma: no cover - the minimum is always reachable by construction
            raise AssertionError("pairing search lost its invariant")
    return pairs


def _dutch_prefer(score: dict[int, float], rank: dict[int, int]) -> Callable[[int, list[int]], list[int]]:
    def prefer(top: int, rest: list[int]) -> list[int]:
        group = [top] + [p for p in rest if score[p] == score[top]]
        ideal = len(group) // 2
        same = sorted(group[1:], key=lambda p: (abs(group.index(p) - ideal), -group.index(p)))
        others = sorted((p for p in rest if score[p] != score[top]), key=lambda p: (abs(score[p] - score[top]), rank[p]))
        return same + others
    return prefer


def _choose_bye(ranked: list[int], recs: dict[int, Record], played: Played) -> int:
    without = [p for p in reversed(ranked) if recs[p].byes == 0] or list(reversed(ranked))
    best = min(without, key=lambda p: (_fewest_rematches_left([q for q in ranked if q != p], played), without.index(p)))
    return best


def _swiss_pairs(t: Tournament, active: list[int], recs: dict[int, Record], played: Played) -> tuple[list[tuple[int, int]], int | None]:
    seeds = effective_seeds(t)
    tb = tiebreak_values(t, recs, ["buchholz"])
    ranked = sorted(active, key=lambda p: (-recs[p].points, -tb[p]["buchholz"], seeds[p]))
    bye = _choose_bye(ranked, recs, played) if len(ranked) % 2 else None
    ranked = [p for p in ranked if p != bye]
    rank = {p: i for i, p in enumerate(ranked)}
    score = {p: float(recs[p].points) for p in ranked}
    return search_pairing(ranked, played, _dutch_prefer(score, rank)), bye


def _high_low(players: list[int], played: Played, budget: list[int]) -> Iterator[list[tuple[int, int]]]:
    """Pairings of ``players`` (best first) in the order "highest faces the lowest available"."""
    if not players:
        yield []
        return
    top = players[0]
    for cand in reversed(players[1:]):
        budget[0] -= 1
        if budget[0] < 0:
            return
        if frozenset((top, cand)) in played:
            continue
        for rest in _high_low([p for p in players[1:] if p != cand], played, budget):
            yield [(top, cand), *rest]


def _greedy_with_swap(players: list[int], played: Played) -> list[tuple[int, int]] | None:
    """Rulebook rounds 2-3: highest vs lowest available; a final rematch swaps the last two."""
    left = list(players)
    pairs: list[tuple[int, int]] = []
    while left:
        top = left.pop(0)
        options = [p for p in reversed(left) if frozenset((top, p)) not in played]
        if not options:
            if left and len(left) == 1 and pairs:
                (h1, l1), last = pairs[-1], left[0]
                if frozenset((h1, last)) not in played and frozenset((top, l1)) not in played:
                    pairs[-1] = (h1, last)
                    pairs.append((top, l1))
                    return pairs
            return None
        pairs.append((top, options[0]))
        left.remove(options[0])
    return pairs


def _valve_group(members: list[int], played: Played, round_no: int) -> list[tuple[int, int]] | None:
    if round_no >= 4 and len(members) == 6:
        for row in VALVE_TABLE_6:
            pairs = [(members[a - 1], members[b - 1]) for a, b in row]
            if all(frozenset(p) not in played for p in pairs):
                return pairs
        return None
    if round_no <= 3:
        greedy = _greedy_with_swap(members, played)
        if greedy is not None:
            return greedy
    return next(_high_low(members, played, [SEARCH_BUDGET]), None)


def _valve_pairs(t: Tournament, active: list[int], recs: dict[int, Record], played: Played,
                 round_no: int) -> tuple[list[tuple[int, int]], int | None]:
    seeds = effective_seeds(t)
    difficulty = valve_difficulty(recs)
    key = {p: (-(recs[p].wins - recs[p].losses), -recs[p].wins, -difficulty[p], seeds[p]) for p in active}
    ranked = sorted(active, key=lambda p: key[p])
    bye = _choose_bye(ranked, recs, played) if len(ranked) % 2 else None
    ranked = [p for p in ranked if p != bye]
    if round_no == 1:
        half = len(ranked) // 2
        return [(ranked[i], ranked[i + half]) for i in range(half)], bye
    groups: dict[tuple[int, int], list[int]] = {}
    for p in ranked:
        groups.setdefault((recs[p].wins, recs[p].losses), []).append(p)
    pairs: list[tuple[int, int]] = []
    carry: list[int] = []
    for record in sorted(groups, key=lambda r: (-(r[0] - r[1]), -r[0])):
        members = carry + groups[record]
        carry = [members.pop()] if len(members) % 2 else []
        found = _valve_group(members, played, round_no)
        if found is None:
            break
        pairs += found
    else:
        if not carry:
            return pairs, bye
    rank = {p: i for i, p in enumerate(ranked)}
    score = {p: float(recs[p].wins - recs[p].losses) for p in ranked}
    return search_pairing(ranked, played, _dutch_prefer(score, rank)), bye


def active_players(t: Tournament, recs: dict[int, Record]) -> list[int]:
    """Participants still to be paired: not disqualified and, in Valve mode, neither through nor out."""
    out = []
    for p in t.participants:
        if p.disqualified:
            continue
        r = recs[p.id]
        if t.format == "valve_swiss" and (r.wins >= t.settings.wins_to_advance or r.losses >= t.settings.losses_to_eliminate):
            continue
        out.append(p.id)
    return out


def _side_count(matches: list[Match]) -> dict[int, int]:
    count: dict[int, int] = {}
    for m in matches:
        if m.opponent1 is not None and m.opponent2 is not None:
            count[m.opponent1.participant_id] = count.get(m.opponent1.participant_id, 0) + 1  # type: ignore[arg-type]
    return count


def _best_of(t: Tournament, recs: dict[int, Record], a: int, b: int) -> int:
    if t.format != "valve_swiss":
        return t.settings.best_of
    s = t.settings
    decider = s.decider_best_of if s.decider_best_of is not None else 3
    decisive = any(recs[p].wins == s.wins_to_advance - 1 or recs[p].losses == s.losses_to_eliminate - 1 for p in (a, b))
    return decider if decisive else s.best_of


def is_finished(t: Tournament) -> bool:
    """No further round can be paired: every round played (``swiss``) or nobody left (``valve_swiss``)."""
    ms = swiss_matches(t)
    if any(m.status not in ("completed", "not_needed") for m in ms):
        return False
    recs = records(t, ms)
    if t.format == "valve_swiss":
        return not active_players(t, recs)
    return current_round(t) >= total_rounds(t) or len(active_players(t, recs)) < 2


def add_round(t: Tournament) -> None:
    """Append the next round's matches to ``t`` (mutates). Raises ``RoundNotComplete`` while a
    match of the current round is undecided, ``StageError`` when the stage is over."""
    ms = swiss_matches(t)
    if any(m.status not in ("completed", "not_needed") for m in ms):
        raise RoundNotComplete(f"round {current_round(t)} still has matches without a result")
    if is_finished(t):
        raise StageError("the Swiss stage is over; no further round can be paired")
    recs = records(t, ms)
    active = active_players(t, recs)
    played = played_pairs(ms)
    round_no = current_round(t) + 1
    if t.format == "valve_swiss":
        pairs, bye = _valve_pairs(t, active, recs, played, round_no)
    else:
        pairs, bye = _swiss_pairs(t, active, recs, played)
    seeds = effective_seeds(t)
    sides = _side_count(ms)
    next_id = next_match_id(t)
    for number, (a, b) in enumerate(pairs, start=1):
        # Balance sides: whoever has been opponent1 less often takes slot 1; equal: the higher rank.
        if sides.get(b, 0) < sides.get(a, 0):
            a, b = b, a
        bo = _best_of(t, recs, a, b)
        t.matches.append(Match(
            id=next_id, bracket="swiss", group=None, round=round_no, number=number, status="ready",
            best_of=bo, opponent1=Opponent(participant_id=a, seed=seeds[a]),
            opponent2=Opponent(participant_id=b, seed=seeds[b]), games=fresh_games(bo),
        ))
        next_id += 1
    if bye is not None:
        t.matches.append(Match(
            id=next_id, bracket="swiss", group=None, round=round_no, number=len(pairs) + 1, status="completed",
            best_of=t.settings.best_of, opponent1=Opponent(participant_id=bye, seed=seeds[bye], result="win"),
            opponent2=None,
        ))


def pair_round(t: Tournament, *, actor: str, at: dt.datetime, round: int | None = None) -> tuple[Tournament, list[AuditEntry]]:
    """Pair the next Swiss round; returns the new state and one audit entry per created match.

    ``round`` makes the call idempotent: asking for a round that already exists returns the
    state unchanged and no entries; asking for any other round than the next raises
    ``StageError``. Without ``round``, a repeated call finds the new round unplayed and raises
    ``RoundNotComplete``, so it never creates a round twice either. Also raises ``RoundNotComplete`` (409) and ``StageError`` (409, not a Swiss
    tournament, not started, or stage over).
    """
    if t.format not in ("swiss", "valve_swiss"):
        raise StageError(f"rounds are paired only in Swiss formats, not {t.format}")
    if not t.matches:
        raise StageError("the tournament has not been started")
    now = current_round(t)
    if round is not None and round <= now:
        return clone(t), []
    if round is not None and round != now + 1:
        raise StageError(f"the next round is {now + 1}, not {round}")
    new = clone(t)
    add_round(new)
    return new, diff(t, new, actor=actor, at=at, action="pair_round")


def drop_rounds_after(t: Tournament, round_no: int) -> None:
    """Remove every Swiss round after ``round_no`` (a correction changed what they were paired on)."""
    t.matches = [m for m in t.matches if m.bracket != "swiss" or m.round <= round_no]
