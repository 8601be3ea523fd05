"""From the queue into ClickHouse: batch writers, retries with a deduplication token, the spool.

Data flow (DESIGN.md): admission fills in map and game type and encodes the request's events once
as `JSONEachRow` bytes (msgspec, in C; ~1 µs an event, spread evenly over requests); a writer takes
up to `batch_size` events (or what came within `flush_interval_ms`), joins their bytes and hands
them to ClickHouse with `raw_insert` in a worker thread, so the event loop never blocks on an insert
and never holds the GIL for a whole batch. The query settings keep chDB to one thread (DESIGN.md, "where the time
goes"). A failed insert is retried with exponential backoff using the *same*
`insert_deduplication_token`, so a retry never double counts (the tables and their MVs' targets set
`non_replicated_deduplication_window`); a batch that still fails goes to the spool and is replayed
until ClickHouse takes it. Nothing acknowledged is dropped: at shutdown the queue is drained into
ClickHouse or, failing that, into the spool.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from fragstats.metrics import Metrics
from fragstats.settings import Settings
from ingest.context import MatchContexts
from ingest.events import NOTABLE
from ingest.queue import Chunk, EventQueue
from ingest.spool import Spool

log = logging.getLogger("fragstats.ingest")

INSERT_SETTINGS = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "max_threads": 1,
    "max_insert_threads": 1,
    "input_format_parallel_parsing": 0,
    "input_format_json_read_numbers_as_strings": 1,
}

# after_commit hooks get (notable events of the batch, {(server_id, match_id): last receipt time}).
BatchHook = Callable[[list, dict], Awaitable[None]]


class Pipeline:
    """Queue + batch writers + spool replayer for one app process."""

    def __init__(self, settings: Settings, ch_clients: list, metrics: Metrics, spool: Spool,
                 contexts: MatchContexts | None = None):
        """`ch_clients`: one ClickHouse client per batch writer (a chDB client serialises its calls,
        so writers that shared one could not overlap an insert with the next batch's encoding)."""
        self.settings = settings
        self.clients = list(ch_clients)
        self.client = self.clients[0]
        self.metrics = metrics
        self.spool = spool
        self.contexts = contexts or MatchContexts(None)
        self.queue = EventQueue(settings.queue_capacity, settings.batch_size)
        self.in_flight = 0
        self.accepted = 0  # events admitted since start (also a metric; kept here for reconciliation)
        self.committed = 0  # events inserted since start, spool replays included
        self.after_commit: list[BatchHook] = []
        self._encoder = msgspec.json.Encoder()
        self._tasks: list[asyncio.Task] = []
        self._stop_replay = asyncio.Event()
        metrics.queue_capacity.set(settings.queue_capacity)
        metrics.spool_events.set(spool.pending_events())

    # ---- admission -------------------------------------------------------

    def prepare(self, events: list) -> Chunk:
        """Encode validated (and enriched) events into a queue chunk."""
        notable = NOTABLE
        touched: dict[tuple[int, str], float] = {}
        picked = []
        last = None
        for ev in events:
            if ev.match_id is not last:  # runs of one match: one dict write per run
                last = ev.match_id
                if last:
                    touched[(ev.server_id, last)] = ev.received_at
            if type(ev) in notable:
                picked.append(ev)
        return Chunk(len(events), self._encoder.encode_lines(events), picked, touched)

    async def admit(self, events: list) -> bool:
        """All of `events` into the queue (True), or none of them (False: shed)."""
        if not self.queue.room_for(len(events)):
            return False
        try:
            await self.contexts.enrich(events)
        except Exception:  # Redis down must not stop ingest: rows just lack the map
            log.warning("match context lookup failed; admitting without it", exc_info=True)
        ok = self.queue.offer(self.prepare(events))
        if ok:
            self.accepted += len(events)
        self.metrics.queue_events.set(self.queue.size)
        return ok

    def nearly_full(self) -> bool:
        """True when less than 1% of the queue is free: requests are shed without being decoded."""
        return self.queue.size >= self.queue.capacity * 0.99

    # ---- lifecycle -------------------------------------------------------

    def start(self) -> None:
        for i, client in enumerate(self.clients):
            self._tasks.append(asyncio.create_task(self._writer(client), name=f"batch-writer-{i}"))
        self._tasks.append(asyncio.create_task(self._replayer(), name="spool-replayer"))

    async def drain(self) -> None:
        """Stop admitting, flush everything queued (to ClickHouse, else the spool), stop the tasks."""
        self.queue.close()
        writers = [t for t in self._tasks if t.get_name().startswith("batch-writer")]
        await asyncio.gather(*writers, return_exceptions=True)
        self._stop_replay.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # ---- writing ---------------------------------------------------------

    async def _writer(self, client: Any) -> None:
        max_wait = self.settings.flush_interval_ms / 1000
        while True:
            chunks = await self.queue.take(max_wait)
            if not chunks:
                return  # closed and empty
            self.metrics.queue_events.set(self.queue.size)
            n = sum(c.events for c in chunks)
            self.in_flight += n
            try:
                await self.flush(chunks, client)
            except Exception:  # never let a writer die: its events are spooled inside flush()
                log.exception("batch writer error")
            finally:
                self.in_flight -= n

    async def flush(self, chunks: list[Chunk], client: Any = None) -> bool:
        """Insert one batch of chunks; True when committed, False when it went to the spool instead."""
        client = client or self.client
        n = sum(c.events for c in chunks)
        # ~50 MB for a full batch: joined in a worker thread so the event loop keeps answering.
        payload = await asyncio.to_thread(b"".join, [c.payload for c in chunks])
        for c in chunks:  # the joined copy is the only one needed now: halves the batch's memory
            c.payload = b""
        token = uuid.uuid4().hex
        self.metrics.batch_size.observe(n)
        committed = await self._insert_with_retries(payload, token, n, client)
        if not committed:
            try:
                self.spool.write(payload, token, n)
            except OSError:
                # The last place the batch can go: say so loudly, it is the only loss path left.
                log.critical("could not spool %d events (token %s): disk refused", n, token, exc_info=True)
                raise
            self.metrics.events_spooled.inc(n)
            self.metrics.spool_events.inc(n)
            log.error("insert failed after retries; spooled %d events (token %s)", n, token)
            return False
        notable = [ev for c in chunks for ev in c.notable]
        touched: dict[tuple[int, str], float] = {}
        for c in chunks:
            touched.update(c.touched)
        for hook in self.after_commit:
            try:
                await hook(notable, touched)
            except Exception:  # live state is best effort; the events are already stored
                log.warning("after-commit hook %s failed", getattr(hook, "__name__", hook), exc_info=True)
        return True

    @staticmethod
    def _insert_blocking(client: Any, payload: bytes, token: str) -> None:
        settings = dict(INSERT_SETTINGS, insert_deduplication_token=token)
        client.raw_insert("raw_events", None, payload, settings=settings, fmt="JSONEachRow")

    async def insert_once(self, payload: bytes, token: str, events: int, client: Any = None) -> None:
        """One insert attempt in a worker thread; raises the client's error on failure."""
        start = time.perf_counter()
        try:
            await asyncio.to_thread(self._insert_blocking, client or self.client, payload, token)
        except Exception:
            self.metrics.insert_failures.inc()
            raise
        self.metrics.insert_seconds.observe(time.perf_counter() - start)
        self.metrics.events_committed.inc(events)
        self.committed += events

    async def _insert_with_retries(self, payload: bytes, token: str, events: int, client: Any) -> bool:
        first = self.settings.retry_backoff_ms / 1000
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(1 + self.settings.insert_retries),
                wait=wait_exponential(multiplier=first, min=first, max=30),
                reraise=True,
            ):
                with attempt:
                    await self.insert_once(payload, token, events, client)
        except Exception as exc:
            log.warning("insert of %d events failed: %s", events, exc)
            return False
        return True

    # ---- spool replay ----------------------------------------------------

    async def replay_spool(self) -> int:
        """Re-insert spooled batches, oldest first, stopping at the first failure; returns events replayed."""
        replayed = 0
        for entry in self.spool.entries():
            payload = await asyncio.to_thread(self.spool.read, entry)
            try:
                await self.insert_once(payload, entry.token, entry.events)
            except Exception as exc:
                log.info("spool replay still failing: %s", exc)
                break
            self.spool.remove(entry)
            replayed += entry.events
        self.metrics.spool_events.set(self.spool.pending_events())
        return replayed

    async def _replayer(self) -> None:
        interval = self.settings.spool_replay_interval_ms / 1000
        while not self._stop_replay.is_set():
            if self.spool.entries():
                await self.replay_spool()
            try:
                await asyncio.wait_for(self._stop_replay.wait(), interval)
            except asyncio.TimeoutError:
                pass
