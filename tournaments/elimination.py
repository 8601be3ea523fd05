"""Single and double elimination brackets.

Settings used (see ``model.Settings``):
  * ``seed_ordering`` -- first-round ordering, see ``seeding`` (default ``inner_outer``);
  * ``best_of``       -- 1, 3 or 5 for every match;
  * ``third_place``   -- single elimination: semi-final losers play for 3rd (needs >= 3 entrants);
  * ``grand_final``   -- double elimination: ``none`` (no final between the bracket winners:
    winners'-bracket champion 1st, losers'-bracket champion 2nd), ``simple`` (one final) or
    ``double`` (default; a reset match, played only if the losers'-bracket champion wins the first
    final, otherwise ``not_needed``).

Layout for a padded size ``s = 2**k``: winners' rounds 1..k; losers' rounds 1..2(k-1) where odd
rounds pair losers'-bracket survivors and even rounds take the losers dropping from winners'
round j+1; grand final rounds 1 (and 2 for the reset). With n real entrants a single elimination
plays n-1 real matches; a double elimination 2n-2 (simple, or double without reset), 2n-1 (with
reset) or 2n-3 (``grand_final: none``).

Drops into the losers' bracket are crossed: for every drop round the ordering (``reverse``,
``half_shift``, ``reverse_half_shift``, ``pair_flip``, ``natural``, first best wins) is chosen that
minimises how many first-round blocks the dropping player shares with the losers'-bracket side it
meets, which is how rematches of the winners' bracket are pushed as late as the bracket allows.
"""

from __future__ import annotations

from .model import Link, Match, Opponent, Settings
from .progress import fresh_games
from .seeding import ORDERINGS, first_round, next_power_of_two

DROP_ORDERINGS = ("reverse", "half_shift", "reverse_half_shift", "pair_flip", "natural")


class _Builder:
    def __init__(self, first_id: int, best_of: int, group: int | None = None) -> None:
        self.next_id = first_id
        self.best_of = best_of
        self.group = group
        self.matches: list[Match] = []

    def new(self, bracket: str, round_: int, number: int) -> Match:
        m = Match(
            id=self.next_id, bracket=bracket, group=self.group, round=round_, number=number,  # type: ignore[arg-type]
            status="pending", best_of=self.best_of, opponent1=Opponent(), opponent2=Opponent(),
            games=fresh_games(self.best_of),
        )
        self.next_id += 1
        self.matches.append(m)
        return m


def _winners_bracket(b: _Builder, entrants: list[int], ordering: str) -> list[list[Match]]:
    pairs = first_round(len(entrants), ordering)
    size = next_power_of_two(len(entrants))
    rounds: list[list[Match]] = []
    count, r = size // 2, 1
    while count >= 1:
        rounds.append([b.new("winners", r, i + 1) for i in range(count)])
        count //= 2
        r += 1
    for m, (s1, s2) in zip(rounds[0], pairs):
        m.opponent1 = None if s1 is None else Opponent(participant_id=entrants[s1 - 1], seed=s1)
        m.opponent2 = None if s2 is None else Opponent(participant_id=entrants[s2 - 1], seed=s2)
    for r_matches, next_matches in zip(rounds, rounds[1:]):
        for i, m in enumerate(r_matches):
            m.winner_to = Link(next_matches[i // 2].id, 1 + i % 2)
    return rounds


def build_single(entrants: list[int], settings: Settings, first_id: int = 0,
                 group: int | None = None) -> list[Match]:
    """Matches of a single elimination bracket for ``entrants`` (participant ids, best seed first).

    Returned matches are unresolved (byes not yet advanced): run ``progress.settle`` on the
    tournament that holds them. Raises ``InvalidSettings`` for fewer than 2 entrants or an unknown
    ordering.
    """
    b = _Builder(first_id, settings.best_of, group)
    rounds = _winners_bracket(b, entrants, settings.seed_ordering)
    if settings.third_place and len(rounds) >= 2 and len(entrants) >= 3:
        third = b.new("third_place", 1, 1)
        for i, m in enumerate(rounds[-2]):
            m.loser_to = Link(third.id, 1 + i)
    return b.matches


def _drop_ordering(lb_origins: list[set[int]], wb_blocks: list[set[int]]) -> list[int]:
    """Indices of the winners' matches dropping into each losers' match (see module docstring)."""
    best: tuple[int, list[int]] | None = None
    for name in DROP_ORDERINGS:
        order = ORDERINGS[name](list(range(len(wb_blocks))))
        overlap = sum(len(lb_origins[i] & wb_blocks[w]) for i, w in enumerate(order))
        if best is None or overlap < best[0]:
            best = (overlap, order)
    assert best is not None
    return best[1]


def build_double(entrants: list[int], settings: Settings, first_id: int = 0) -> list[Match]:
    """Matches of a double elimination bracket (see module docstring); unresolved like ``build_single``."""
    b = _Builder(first_id, settings.best_of)
    wb = _winners_bracket(b, entrants, settings.seed_ordering)
    k = len(wb)
    # First-round blocks: which round-1 matches a winners' match draws its players from.
    blocks = [[set(range(i * 2**r, (i + 1) * 2**r)) for i in range(len(wb[r]))] for r in range(k)]
    lb_final: Match | None = None
    if k >= 2:
        prev = [b.new("losers", 1, i + 1) for i in range(len(wb[0]) // 2)]
        origins = [blocks[0][2 * i] | blocks[0][2 * i + 1] for i in range(len(prev))]
        for i, m in enumerate(wb[0]):
            m.loser_to = Link(prev[i // 2].id, 1 + i % 2)
        lb_round = 1
        for j in range(1, k):
            lb_round += 1
            major = [b.new("losers", lb_round, i + 1) for i in range(len(prev))]
            order = _drop_ordering(origins, blocks[j])
            for i, m in enumerate(prev):
                m.winner_to = Link(major[i].id, 1)
                wb[j][order[i]].loser_to = Link(major[i].id, 2)
            origins = [origins[i] | blocks[j][order[i]] for i in range(len(major))]
            prev = major
            if len(prev) > 1:
                lb_round += 1
                minor = [b.new("losers", lb_round, i + 1) for i in range(len(prev) // 2)]
                for i, m in enumerate(prev):
                    m.winner_to = Link(minor[i // 2].id, 1 + i % 2)
                origins = [origins[2 * i] | origins[2 * i + 1] for i in range(len(minor))]
                prev = minor
        lb_final = prev[0]
    wb_final = wb[-1][0]
    if settings.grand_final == "none":
        return b.matches
    gf = b.new("grand_final", 1, 1)
    wb_final.winner_to = Link(gf.id, 1)
    if lb_final is not None:
        lb_final.winner_to = Link(gf.id, 2)
    else:
        wb_final.loser_to = Link(gf.id, 2)
    if settings.grand_final == "double":
        b.new("grand_final", 2, 1)
    return b.matches
