"""Round robin by the circle (Berger) method.

Settings used: ``cycles`` (1 or 2), ``best_of``; with ``groups``/``advance_per_group`` the same
schedule is built per group (see ``groups``). Ranking settings (``points``, ``tiebreaks``) are read
by ``standings``.

Rules: participant 1 stays fixed while the others rotate one place per round, so with n entrants
(n even) there are n-1 rounds, nobody plays twice in a round and each pair meets exactly once per
cycle. With an odd count a phantom entrant is added; whoever meets it rests that round, recorded
as a ``not_needed`` match with ``opponent2: null``. The fixed participant alternates sides every
round (as in Berger tables); the second cycle repeats the first with sides swapped.
"""

from __future__ import annotations

from .model import Match, Opponent
from .progress import fresh_games


def circle_rounds(players: list[int]) -> list[list[tuple[int | None, int | None]]]:
    """Pairs per round for one cycle; ``None`` is the phantom (rest). Pairs with a rest come last."""
    arr: list[int | None] = list(players)
    if len(arr) % 2:
        arr.append(None)
    n = len(arr)
    rounds = []
    for r in range(n - 1):
        pairs = []
        for i in range(n // 2):
            a, b = arr[i], arr[n - 1 - i]
            if i == 0 and r % 2:
                a, b = b, a
            pairs.append((a, b))
        pairs.sort(key=lambda p: p[0] is None or p[1] is None)
        rounds.append(pairs)
        arr = [arr[0], arr[-1], *arr[1:-1]]
    return rounds


def build(players: list[int], seeds: dict[int, int], best_of: int, cycles: int, first_id: int,
          bracket: str = "round_robin", group: int | None = None) -> list[Match]:
    """All matches of a round robin among ``players`` (ids, best seed first), rounds numbered
    across cycles. Real matches start ``ready``; rests are ``not_needed`` with the resting
    participant as opponent1."""
    matches: list[Match] = []
    one_cycle = circle_rounds(players)
    next_id = first_id
    for c in range(cycles):
        for r, pairs in enumerate(one_cycle):
            for i, (a, b) in enumerate(pairs):
                if c % 2:
                    a, b = b, a
                if a is None:
                    a, b = b, a
                opp1 = Opponent(participant_id=a, seed=seeds[a]) if a is not None else None
                opp2 = Opponent(participant_id=b, seed=seeds[b]) if b is not None else None
                rest = opp2 is None
                matches.append(Match(
                    id=next_id, bracket=bracket, group=group, round=c * len(one_cycle) + r + 1,  # type: ignore[arg-type]
                    number=i + 1, status="not_needed" if rest else "ready", best_of=best_of,
                    opponent1=opp1, opponent2=opp2, games=[] if rest else fresh_games(best_of),
                ))
                next_id += 1
    return matches
