"""Long pure-Python work on the event loop, done in slices so that requests are answered between them.

A committed batch hands its after-commit hooks tens of thousands of events (live state, achievements).
Folded in one go, each hook held the loop for 20-270 ms a batch (measured with
`fragstats_event_loop_lag_seconds` and timers at 50k events/s offered), and every request that was
ready meanwhile waited: that, not the disk, was the p99 time to 202. In slices of `SLICE_ITEMS` the loop
gets a turn every ~1 ms of such work. (A thread would not help: the work is Python, it holds the GIL.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

SLICE_ITEMS = 512  # ~0.5-2 ms of per-event Python work on this machine


async def slices(items: Sequence[T], size: int = SLICE_ITEMS) -> AsyncIterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`, the loop given a turn before each but the first."""
    for start in range(0, len(items), size):
        if start:
            await asyncio.sleep(0)
        yield items[start:start + size]


async def mapped(func: Callable[[T], R | None], items: Sequence[T], size: int = SLICE_ITEMS) -> list[R]:
    """`[func(x) for x in items]` without the Nones, computed in slices (see `slices`)."""
    out: list[R] = []
    async for part in slices(items, size):
        out.extend(r for r in map(func, part) if r is not None)
    return out
