"""Seeds for the entrants of an event: ``manual``, ``random`` (reproducible from a recorded seed) or
``rating`` (conservative OpenSkill rating, best first). Pure functions; seed 1 is the best.

* manual: the organiser's seeds in ascending order, then the unseeded in order of registration;
  renumbered 1..n so places freed by no-shows leave no gaps.
* random: ``random.Random(random_seed).shuffle`` of the entrants in order of registration; the same
  entrants and seed give the same seeds (Python's Mersenne Twister is stable across versions for
  ``shuffle`` of a list).
* rating: by ``mu - 3 sigma`` of the entrant's (team) rating, ties by order of registration.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .errors import InvalidSettings
from .ratings import Rating, conservative
from .registration import Registration

METHODS = ("manual", "random", "rating")


def assign(entrants: Sequence[Registration], method: str, *, random_seed: int | None = None,
           ratings: dict[int, Rating] | None = None) -> dict[int, int]:
    """registration id -> seed 1..n. ``entrants`` in order of registration; ``ratings`` by
    registration id (needed for ``rating``). Raises ``InvalidSettings`` for an unknown method."""
    order = list(entrants)
    if method == "manual":
        order.sort(key=lambda r: (r.seed is None, r.seed or 0))
    elif method == "random":
        if random_seed is None:
            raise InvalidSettings("random seeding needs a random_seed")
        random.Random(random_seed).shuffle(order)
    elif method == "rating":
        ratings = ratings or {}
        index = {r.id: i for i, r in enumerate(entrants)}
        order.sort(key=lambda r: (-conservative(ratings[r.id]) if r.id in ratings else float("inf"), index[r.id]))
    else:
        raise InvalidSettings(f"seeding must be one of {list(METHODS)}")
    return {r.id: i + 1 for i, r in enumerate(order)}
