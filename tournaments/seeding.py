"""Seed orderings for first rounds and losers'-bracket drops, and distribution of seeds into groups.

Orderings are permutations of a list, named as in brackets-manager.js (``helpers.ts``,
``ordering``): the permuted list is read in consecutive pairs (positions 1v2, 3v4, ...).

* ``inner_outer`` -- the standard bracket: 1 and 2 in opposite halves, 1v8, 4v5, 2v7, 3v6 for 8;
* ``natural``     -- 1v2, 3v4, ...;
* ``reverse``     -- the list backwards: 8v7, 6v5, ...;
* ``half_shift``  -- second half first: 5v6, 7v8, 1v2, 3v4;
* ``reverse_half_shift`` -- each half backwards: 4v3, 2v1, 8v7, 6v5;
* ``pair_flip``   -- each pair swapped: 2v1, 4v3, ...

Byes (rule chosen here, brackets-manager leaves byes to the caller): the bracket is padded to the
next power of two and the byes always take the places of the missing seeds in the *standard*
bracket, so they face the top seeds and a bye never meets a bye while more than half the slots are
filled. A non-standard ordering then only arranges the participants that actually play round 1,
over the round-1 slots without a bye, in bracket order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import InvalidSettings

T = TypeVar("T")


def next_power_of_two(n: int) -> int:
    """Smallest power of two >= ``n`` (the padded bracket size)."""
    size = 1
    while size < n:
        size *= 2
    return size


def standard_positions(size: int) -> list[int]:
    """Seeds in bracket-position order for a power-of-two ``size``: 8 -> [1, 8, 4, 5, 2, 7, 3, 6].

    Each doubling replaces seed s by the pair (s, size + 1 - s), which is what keeps 1 and 2 apart
    until the final.
    """
    if size < 1 or size & (size - 1):
        raise InvalidSettings(f"bracket size {size} is not a power of two")
    order = [1]
    while len(order) < size:
        width = len(order) * 2
        order = [x for s in order for x in (s, width + 1 - s)]
    return order


def inner_outer(items: Sequence[T]) -> list[T]:
    """Standard bracket order of a power-of-two list (items[0] is seed 1)."""
    return [items[s - 1] for s in standard_positions(len(items))]


def natural(items: Sequence[T]) -> list[T]:
    """1v2, 3v4, ..."""
    return list(items)


def reverse(items: Sequence[T]) -> list[T]:
    """The list backwards."""
    return list(reversed(items))


def half_shift(items: Sequence[T]) -> list[T]:
    """Second half first."""
    half = len(items) // 2
    return list(items[half:]) + list(items[:half])


def reverse_half_shift(items: Sequence[T]) -> list[T]:
    """Each half backwards."""
    half = len(items) // 2
    return list(reversed(items[:half])) + list(reversed(items[half:]))


def pair_flip(items: Sequence[T]) -> list[T]:
    """Each consecutive pair swapped."""
    out: list[T] = []
    for i in range(0, len(items) - 1, 2):
        out += [items[i + 1], items[i]]
    if len(items) % 2:
        out.append(items[-1])
    return out


ORDERINGS: dict[str, Callable[[Sequence], list]] = {
    "inner_outer": inner_outer,
    "natural": natural,
    "reverse": reverse,
    "half_shift": half_shift,
    "reverse_half_shift": reverse_half_shift,
    "pair_flip": pair_flip,
}


def first_round(n: int, ordering: str = "inner_outer") -> list[tuple[int | None, int | None]]:
    """Round-1 pairs of seeds (1-based) for ``n`` entrants, ``None`` for a bye, in bracket order.

    Raises ``InvalidSettings`` for an unknown ordering or fewer than two entrants.
    """
    if ordering not in ORDERINGS:
        raise InvalidSettings(f"unknown seed_ordering {ordering!r}; expected one of {sorted(ORDERINGS)}")
    if n < 2:
        raise InvalidSettings("an elimination bracket needs at least 2 participants")
    size = next_power_of_two(n)
    std = standard_positions(size)
    slots = [(std[i], std[i + 1]) for i in range(0, size, 2)]
    if ordering == "inner_outer":
        return [(a if a <= n else None, b if b <= n else None) for a, b in slots]
    byes = size - n
    players = ORDERINGS[ordering](list(range(byes + 1, n + 1)))
    pairs = iter([(players[i], players[i + 1]) for i in range(0, len(players), 2)])
    out: list[tuple[int | None, int | None]] = []
    for a, b in slots:
        out.append((a, None) if b > n else next(pairs))
    return out


def distribute(items: Sequence[T], groups: int, method: str = "snake") -> list[list[T]]:
    """Deal seed-ordered ``items`` into ``groups`` groups.

    ``snake``: 1-2-3-4 then 8-7-6-5 (group A gets 1, 8, 9, ...), which balances group strength;
    ``stride``: seed i goes to group i mod groups (A gets 1, 5, 9, ...).
    Raises ``InvalidSettings`` for an unknown method or a group count outside 1..len(items).
    """
    if method not in ("snake", "stride"):
        raise InvalidSettings(f"unknown group_distribution {method!r}; expected 'snake' or 'stride'")
    if not 1 <= groups <= max(1, len(items)):
        raise InvalidSettings(f"cannot split {len(items)} participants into {groups} groups")
    out: list[list[T]] = [[] for _ in range(groups)]
    for i, item in enumerate(items):
        row, col = divmod(i, groups)
        if method == "snake" and row % 2:
            col = groups - 1 - col
        out[col].append(item)
    return out
