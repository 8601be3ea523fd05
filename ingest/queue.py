"""The bounded in-process ingest queue, measured in events.

Each admitted request becomes one `Chunk`: its events already encoded as `JSONEachRow` bytes (so
the batch writer only joins bytes — no per-event Python work and no long GIL hold per batch), the
few events that carry live state (`notable`), and the matches it touched.

Admission is all or nothing per request: `offer()` takes the whole chunk or nothing (the caller
answers 429). Batch writers `take()` whole chunks until they hold `batch_size` events, waiting at
most T seconds after the first one arrives, so inserts stay few and large (what ClickHouse wants)
without holding a lone event for long. A waiting writer is woken only when the queue goes from
empty to non-empty or reaches a full batch — not on every request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class Chunk:
    """One request's worth of validated events, ready to insert."""

    events: int
    payload: bytes  # JSONEachRow lines
    notable: list = field(default_factory=list)  # events that carry live state (kills, match start/end, ...)
    touched: dict = field(default_factory=dict)  # (server_id, match_id) -> latest receipt time (epoch s)


class EventQueue:
    """FIFO of chunks with a hard capacity in events. Not thread-safe: used from the event loop only."""

    def __init__(self, capacity: int, batch_size: int):
        self.capacity = capacity
        self.batch_size = batch_size
        self.size = 0
        self._chunks: deque[Chunk] = deque()
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self.closed = False

    def room_for(self, events: int) -> bool:
        return not self.closed and self.size + events <= self.capacity

    def offer(self, chunk: Chunk) -> bool:
        """Queue the whole chunk and return True, or nothing and return False (full or closed)."""
        n = chunk.events
        if n == 0:
            return True
        if not self.room_for(n):
            return False
        self._chunks.append(chunk)
        self.size += n
        if n == self.size:
            self._nonempty.set()
        if self.size >= self.batch_size:
            self._full.set()
        return True

    def close(self) -> None:
        """Refuse new chunks; `take()` keeps returning what is left, then empty lists."""
        self.closed = True
        self._nonempty.set()
        self._full.set()

    def _pop(self) -> list[Chunk]:
        out: list[Chunk] = []
        taken = 0
        # Whole chunks only (a request is never split); a batch may pass batch_size by one chunk.
        while self._chunks and (taken == 0 or taken + self._chunks[0].events <= self.batch_size):
            chunk = self._chunks.popleft()
            out.append(chunk)
            taken += chunk.events
        self.size -= taken
        if self.size < self.batch_size and not self.closed:
            self._full.clear()
        if not self._chunks and not self.closed:
            self._nonempty.clear()
        return out

    async def take(self, max_wait_s: float) -> list[Chunk]:
        """Chunks holding up to `batch_size` events: at once when a full batch is queued, else
        `max_wait_s` seconds after the writer saw the first one. Returns [] only once closed and empty."""
        while not self._chunks:
            if self.closed:
                return []
            await self._nonempty.wait()
        if self.size < self.batch_size and not self.closed:
            try:
                await asyncio.wait_for(self._full.wait(), max_wait_s)
            except asyncio.TimeoutError:
                pass
        return self._pop()
