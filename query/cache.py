"""A stale-while-revalidate cache for read queries.

The aggregate tables change once per committed batch (every `FRAGSTATS_FLUSH_INTERVAL_MS`), so a
leaderboard a second old is as good as a fresh one — but a fresh one has to wait for ClickHouse,
which under heavy ingest shares its CPU with the inserts. An entry younger than `ttl_s` is served
as is; an older one is still served while one background task recomputes it; an entry older than
`max_stale_s` (or a missing one) is computed while the caller waits. Errors are never cached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

log = logging.getLogger("fragstats.query")


class StaleWhileRevalidate:
    """key -> (computed at, value); `ttl_s` <= 0 disables caching (every call computes)."""

    def __init__(self, ttl_s: float, max_stale_s: float | None = None, max_entries: int = 2048):
        self.ttl_s = ttl_s
        self.max_stale_s = max_stale_s if max_stale_s is not None else max(10 * ttl_s, 10.0)
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._refreshing: dict[Hashable, asyncio.Task] = {}

    async def _compute(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        value = await compute()
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def _refresh(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> None:
        if key in self._refreshing:
            return

        async def run() -> None:
            try:
                await self._compute(key, compute)
            except Exception:  # the stale value stays; the next caller past max_stale sees the error
                log.warning("background refresh of %r failed", key, exc_info=True)
            finally:
                self._refreshing.pop(key, None)

        self._refreshing[key] = asyncio.create_task(run())

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The value for `key`, at most `ttl_s` old (or up to `max_stale_s` while a refresh runs)."""
        if self.ttl_s <= 0:
            return await compute()
        entry = self._entries.get(key)
        if entry is None:
            return await self._compute(key, compute)
        age = time.monotonic() - entry[0]
        if age > self.max_stale_s:
            return await self._compute(key, compute)
        if age > self.ttl_s:
            self._refresh(key, compute)
        return entry[1]
