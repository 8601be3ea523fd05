"""What one feature package offers another, declared here and filled in by the assembly.

The feature packages (`ingest`, `query`, `tournaments`, ...) never import one another (an
import-linter contract checks it). Where one needs something of another — a leaderboard of
tournament ratings on the query side, tournament results from committed telemetry — the kernel
declares the shape here, the assembly (`fragstats/app.py`) fills it in from the packages it
imports, and the consumer reads it from `request.app.state.wiring`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

# After a batch is committed: (notable events of the batch, {(server_id, match_id): last receipt
# time in epoch s}). Each hook runs on its own task, off the batch writer's path (ingest/pipeline.py).
BatchHook = Callable[[list, dict], Awaitable[None]]

# `await rating_leaderboard(engines, limit=, offset=)` -> `{"total", "players": [...]}`.
RatingLeaderboard = Callable[..., Awaitable[dict]]


@dataclass
class Wiring:
    """The cross-feature hooks of one app (see the module docstring)."""

    rating_leaderboard: RatingLeaderboard | None = None
    # Hook factories: each is called once at start-up with the app and returns its BatchHook.
    after_commit: list[Callable[[Any], BatchHook]] = field(default_factory=list)
