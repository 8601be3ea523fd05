"""The bounded in-process ingest queue, measured in events.

Admission is all or nothing per request: `offer()` takes the whole request's valid events or none
(the caller answers 429). Batch writers `take()` up to `batch_size` events, waiting at most T
seconds after the first one arrives, so inserts stay few and large (what ClickHouse wants) without
holding a lone event for long. A waiting writer is woken only when the queue goes from empty to
non-empty or reaches a full batch — not on every request, which at thousands of requests a second
would cost a task switch each.
"""

from __future__ import annotations

import asyncio
from collections import deque


class EventQueue:
    """FIFO of events with a hard capacity. Not thread-safe: used from the event loop only."""

    def __init__(self, capacity: int, batch_size: int):
        self.capacity = capacity
        self.batch_size = batch_size
        self.size = 0
        self._chunks: deque[list] = deque()
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self.closed = False

    def offer(self, events: list) -> bool:
        """Queue all of `events` and return True, or queue nothing and return False (full or closed)."""
        n = len(events)
        if n == 0:
            return True
        if self.closed or self.size + n > self.capacity:
            return False
        self._chunks.append(events)
        self.size += n
        if n == self.size:
            self._nonempty.set()
        if self.size >= self.batch_size:
            self._full.set()
        return True

    def close(self) -> None:
        """Refuse new events; `take()` keeps returning what is left, then empty lists."""
        self.closed = True
        self._nonempty.set()
        self._full.set()

    def _pop(self, max_events: int) -> list:
        out: list = []
        while self._chunks and len(out) < max_events:
            chunk = self._chunks[0]
            room = max_events - len(out)
            if len(chunk) <= room:
                out.extend(self._chunks.popleft())
            else:
                out.extend(chunk[:room])
                self._chunks[0] = chunk[room:]
        self.size -= len(out)
        if self.size < self.batch_size and not self.closed:
            self._full.clear()
        if not self._chunks and not self.closed:
            self._nonempty.clear()
        return out

    async def take(self, max_wait_s: float) -> list:
        """Up to `batch_size` events: at once when a full batch is queued, else `max_wait_s`
        seconds after the writer saw the first event. Returns [] only once closed and empty."""
        while not self._chunks:
            if self.closed:
                return []
            await self._nonempty.wait()
        if self.size < self.batch_size and not self.closed:
            try:
                await asyncio.wait_for(self._full.wait(), max_wait_s)
            except asyncio.TimeoutError:
                pass
        return self._pop(self.batch_size)
