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

Drops into the losers' bracket (``drop_ordering``). A losers' round that takes players from the
winners' bracket takes them in an order: one of the named orderings of ``seeding`` applied to that
winners' round's losers, as brackets-manager.js does (its ``seedOrdering[1:]``): the first for the
losers of winners' round 1 (paired in that order in losers' round 1), then one per later winners'
round (its losers meet the losers'-bracket survivors in that order). The setting is a list of names
(missing ones: ``natural``) or a preset:

  * ``fragstats`` (default): for each entrant count up to 64 (byes included), the orderings with the
    fewest *early rematches* -- two players meeting again in the losers' bracket before its final --
    that drop orderings allow, counted as the expected number when every match is a coin toss (a
    pair that can meet again counts with the chance that it does); with favourites winning there
    are none at all. Found by search: exhaustive over every permutation of every drop round up to
    32 entrants, the best named orderings or hill climbing above (``tests/test_tournament_drops.py``
    checks it against the search). Larger brackets use ``block_overlap``.
  * ``brackets_manager``: brackets-manager.js's ``defaultMinorOrdering`` by size (4 to 64).
  * ``block_overlap``: the rule of Tournaments I and II: for each drop round the named ordering
    whose droppers share the fewest first-round blocks with the side they meet (kept so that older
    exports replay as they were built).
"""

from __future__ import annotations

from .model import Link, Match, Opponent, Settings
from .progress import fresh_games
from .seeding import ORDERINGS, first_round, next_power_of_two

BLOCK_OVERLAP_CANDIDATES = ("reverse", "half_shift", "reverse_half_shift", "pair_flip", "natural")

# The orderings of the losers of winners' round 1, 2, ... (see the module docstring), by entrant count
# for `fragstats` (found by search: expected early rematches under coin tosses; one count, 20, needs
# orderings no named one gives, so they are written as permutations) and by bracket size for
# `brackets_manager` (`defaultMinorOrdering` of brackets-manager.js, src/ordering.ts, whose first entry
# orders the losers of winners' round 1).
Orderings = list[str] | list[list[int]]
DEFAULT_DROP_ORDERINGS: list[tuple[range, Orderings]] = [
    (range(3, 5), ["natural", "natural"]),
    (range(5, 9), ["natural", "half_shift", "natural"]),
    (range(9, 17), ["natural", "half_shift", "natural", "natural"]),
    (range(17, 20), ["natural", "half_shift", "pair_flip", "half_shift", "natural"]),
    (range(20, 21), [list(range(16)), [2, 1, 0, 3, 6, 5, 4, 7], [2, 3, 0, 1], [0, 1], [0]]),
    (range(21, 23), ["natural", "half_shift", "pair_flip", "half_shift", "natural"]),
    (range(23, 33), ["natural", "reverse_half_shift", "half_shift", "natural", "natural"]),
    (range(33, 65), ["natural", "half_shift", "reverse", "pair_flip", "half_shift", "natural"]),
]
BRACKETS_MANAGER_DROPS: dict[int, list[str]] = {
    4: ["natural", "reverse"],
    8: ["natural", "reverse", "natural"],
    16: ["natural", "reverse_half_shift", "reverse", "natural"],
    32: ["natural", "reverse", "half_shift", "natural", "natural"],
    64: ["natural", "reverse", "half_shift", "reverse", "natural", "natural"],
}
DROP_PRESET_NAMES = ("fragstats", "brackets_manager", "block_overlap")


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


def drop_orders(setting: str | list[str], entrants: int) -> list[list[int]] | None:
    """For each winners' round, the order its losers drop in: ``order[i]`` is the index of the
    winners' match whose loser takes drop slot ``i`` (see the module docstring). None for
    ``block_overlap``, chosen round by round as the bracket is built (also beyond 64 entrants for
    ``fragstats``, beyond brackets-manager's table for ``brackets_manager``)."""
    size = next_power_of_two(entrants)
    k = size.bit_length() - 1
    found: Orderings | None
    if isinstance(setting, list):
        found = setting
    elif setting == "fragstats":
        found = next((orders for counts, orders in DEFAULT_DROP_ORDERINGS if entrants in counts), None)
    else:
        found = BRACKETS_MANAGER_DROPS.get(size) if setting == "brackets_manager" else None
    if found is None:
        return None
    out = []
    for j in range(k):
        order = found[j] if j < len(found) else "natural"
        out.append(list(order) if isinstance(order, list) else ORDERINGS[order](list(range(size >> (j + 1)))))
    return out


def _block_overlap(lb_origins: list[set[int]], wb_blocks: list[set[int]]) -> list[int]:
    """Indices of the winners' matches dropping into each losers' match (``block_overlap``)."""
    best: tuple[int, list[int]] | None = None
    for name in BLOCK_OVERLAP_CANDIDATES:
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
    orders = drop_orders(settings.drop_ordering, len(entrants))
    if k >= 2:
        prev = [b.new("losers", 1, i + 1) for i in range(len(wb[0]) // 2)]
        first = orders[0] if orders else list(range(len(wb[0])))
        origins = [blocks[0][first[2 * i]] | blocks[0][first[2 * i + 1]] for i in range(len(prev))]
        for pos, w in enumerate(first):
            wb[0][w].loser_to = Link(prev[pos // 2].id, 1 + pos % 2)
        lb_round = 1
        for j in range(1, k):
            lb_round += 1
            major = [b.new("losers", lb_round, i + 1) for i in range(len(prev))]
            order = orders[j] if orders else _block_overlap(origins, blocks[j])
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
