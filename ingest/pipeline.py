"""From admission into ClickHouse: the queue, the write-ahead log, batch writers, spool, dead letters.

Data flow: admission fills in map and game type, encodes the request's events once as raw_events
rows (RowBinary, ingest/rows.py), reserves room for them in the bounded queue (events and bytes),
appends them to the write-ahead log and waits for its group fsync (`durability=wal`), and only then
queues them: the route answers 202 after that. A writer takes up to `batch_size` events /
`batch_bytes` bytes (or what came within `flush_interval_ms`), joins their bytes and hands them to
ClickHouse in a worker thread (ingest/inserter.py), under one deduplication token for every repeat.

Where an acknowledged event can be, and so where it is never lost:
queued -> in flight -> stored in ClickHouse | spooled (engine unwell: replayed until it takes them)
| dead-lettered (ClickHouse refused those rows: isolated, kept with the error for a redrive). With
`durability=wal` every one of them is also in the log until it is stored, spooled or dead-lettered,
and a crash replays the log on the next start. Accounting (GET /api/v1/ingest/status):
accepted = stored + queued + in flight + spooled + dead-lettered.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from fragstats.bodies import ByteBudget
from fragstats.metrics import Metrics
from fragstats.settings import Settings
from fragstats.wiring import BatchHook
from ingest import rows
from ingest.context import MatchContexts
from ingest.deadletter import DeadLetters
from ingest.decode import BODY_REASONS, EVENT_REASONS
from ingest.diskguard import DiskGuard, is_disk_full
from ingest.events import NOTABLE
from ingest.inserter import Inserter, out_of_disk, refused_for_content, short_reason
from ingest.queue import Chunk, EventQueue
from ingest.spool import Spool, SpoolEntry
from ingest.wal import WriteAheadLog

log = logging.getLogger("fragstats.ingest")


# A spooled batch that fails for the engine's reasons this many rounds while other inserts go in
# is isolated as if refused for its content (ingest/inserter.py, `force`).
_SUSPECT_ROUNDS = 3
_MAX_BACKOFF_S = 30.0


class Admission(enum.Enum):
    """What became of a request's valid events; the route maps it to an HTTP status."""

    ACCEPTED = "accepted"  # 202: queued (and, with the WAL, on disk)
    SHED = "shed"  # 429: the queue has no room for all of them; none kept
    DRAINING = "draining"  # 503: shutting down
    DISK_FULL = "disk_full"  # 507: no space to make them durable; none kept
    STORAGE_ERROR = "storage_error"  # 507: the write-ahead log could not be written (EIO, ...); none kept


class Stored(enum.Enum):
    """Where one batch ended up."""

    COMMITTED = "committed"  # in ClickHouse (refused rows, if any, in the dead-letter store)
    SPOOLED = "spooled"
    HELD = "held"  # neither, at shutdown: still in the write-ahead log, replayed at the next start


def hook_name(hook: BatchHook) -> str:
    return getattr(hook, "__name__", type(hook).__name__)


class HookRunner:
    """One after-commit hook on its own task, fed through its own bounded queue: the batch writer
    hands a committed batch's notable events over and never waits for the hook, so a slow hook
    (a tournament transaction, a Redis round trip) never delays the next insert. What the hook
    does is derived from stored events and best effort: when its queue is full (`capacity`
    batches, or `capacity_events` notable events held) the oldest item is dropped, logged and
    counted (`fragstats_after_commit_dropped_total{hook}`).

    A hook that has fallen behind gets everything queued in one call: the batches' notable events
    concatenated in commit order, their touched matches merged (latest receipt time). One fold and
    one round trip instead of one per batch is how it catches up; the events held stay bounded."""

    def __init__(self, hook: BatchHook, capacity: int, on_drop: Callable[[str], None],
                 capacity_events: int | None = None):
        self.hook = hook
        self.name = hook_name(hook)
        self.capacity = capacity
        self.capacity_events = capacity_events
        self.on_drop = on_drop
        self._held = 0  # notable events queued
        self._items: collections.deque = collections.deque()
        self._wake = asyncio.Event()
        self._busy = False
        self._task = asyncio.create_task(self._run(), name=f"after-commit-{self.name}")

    def offer(self, notable: list, touched: dict) -> None:
        self._items.append((notable, touched))
        self._held += len(notable)
        while len(self._items) > 1 and (len(self._items) > self.capacity or
                                        (self.capacity_events is not None and self._held > self.capacity_events)):
            oldest, _ = self._items.popleft()
            self._held -= len(oldest)
            self.on_drop(self.name)
            log.error("after-commit hook %s is %d batches (%d events) behind: its oldest batch was dropped",
                      self.name, len(self._items), self._held)
        self._wake.set()

    @property
    def pending(self) -> int:
        """Batches handed over and not yet done."""
        return len(self._items) + self._busy

    async def _run(self) -> None:
        while True:
            while not self._items:
                self._wake.clear()
                await self._wake.wait()
            if len(self._items) == 1:
                notable, touched = self._items.popleft()
            else:  # behind: all of it at once, in commit order
                notable, touched = [], {}
                for part, seen in self._items:
                    notable += part
                    for key, at in seen.items():
                        touched[key] = max(at, touched.get(key, at))
                self._items.clear()
            self._held = 0
            self._busy = True
            try:
                await self.hook(notable, touched)
            except Exception:  # best effort; the events are stored
                log.warning("after-commit hook %s failed", self.name, exc_info=True)
            finally:
                self._busy = False

    async def close(self, timeout_s: float) -> None:
        """Let it finish what it holds (at most `timeout_s` seconds), then stop it."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Pipeline:
    """Queue + write-ahead log + batch writers + spool replayer + disk guard for one app process."""

    def __init__(self, settings: Settings, ch_clients: list, metrics: Metrics, data_dir: Path,
                 contexts: MatchContexts | None = None):
        """`ch_clients`: one ClickHouse client per batch writer (a chDB client serialises its calls,
        so writers that shared one could not overlap an insert with the next batch's encoding).
        `data_dir` holds `spool/`, `dead_letter/` and `wal/`."""
        self.settings = settings
        self.clients = list(ch_clients)
        self.client = self.clients[0]
        self.metrics = metrics
        self.spool = Spool(data_dir / "spool")
        self.dead_letters = DeadLetters(data_dir / "dead_letter")
        self.wal = (WriteAheadLog(data_dir / "wal", settings.wal_segment_bytes, metrics.wal_fsync_seconds.observe)
                    if settings.durability == "wal" else None)
        self.disk = DiskGuard(data_dir, settings.min_free_disk_bytes, on_change=lambda full: metrics.disk_full.set(int(full)))
        self.inserter = Inserter(metrics, settings.insert_retries, settings.retry_backoff_ms,
                                 settings.isolation_max_inserts)
        self.contexts = contexts or MatchContexts(None)
        self.queue = EventQueue(settings.queue_capacity, settings.batch_size, settings.queue_capacity_bytes,
                                settings.batch_bytes)
        self.reading = ByteBudget(settings.max_reading_bytes)
        self.in_flight = 0
        self.accepted = 0  # events admitted since start (also a metric; kept here for reconciliation)
        self.recovered = 0  # events found in the write-ahead log at start
        self.after_commit: list[BatchHook] = []
        self.stopping = False
        self._recovered_batches: list[tuple[str, list[Chunk]]] = []
        self._tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()
        self._suspects: dict[Path, int] = {}
        self._runners: dict[int, HookRunner] = {}
        metrics.queue_capacity.set(settings.queue_capacity)
        metrics.queue_capacity_bytes.set(settings.queue_capacity_bytes)
        for reason in {*BODY_REASONS, *EVENT_REASONS}:  # every series a panel reads exists from the start, at 0
            metrics.events_rejected.labels(reason)
        metrics.spool_events.set(self.spool.pending_events())
        metrics.dead_letter_events.set(self.dead_letters.events)

    @property
    def committed(self) -> int:
        """Events inserted since start (spool replays, isolations and redrives included)."""
        return self.inserter.committed

    # ---- start-up ----------------------------------------------------------

    async def open(self) -> None:
        """Check the disk and read the write-ahead log (before serving; the file work runs in a
        worker thread). What the log holds that is not stored is re-inserted first by `start()`.
        Raises OSError when the data dir cannot be written."""
        await asyncio.to_thread(self.disk.check)
        if self.wal is None:
            return
        recovered = await asyncio.to_thread(self.wal.open)
        chunks = await asyncio.to_thread(
            lambda: {lsn: Chunk.from_record(events, record, lsn) for lsn, (events, record) in recovered.chunks.items()})
        for token, lsns in recovered.batches:  # begun before the crash: the same batch, the same token
            self._recovered_batches.append((token, [chunks.pop(lsn) for lsn in lsns]))
        for chunk in chunks.values():
            self.queue.requeue(chunk)
        self.recovered = recovered.events
        if self.recovered:
            log.warning("write-ahead log: %d acknowledged events not yet stored at the last stop are being "
                        "stored now (%d begun batches, %d queued chunks)", self.recovered,
                        len(self._recovered_batches), len(chunks))
        self.metrics.wal_bytes.set(self.wal.bytes_on_disk)

    def start(self) -> None:
        """Start the writers (after the recovered batches), the spool replayer and the disk guard."""
        for i, client in enumerate(self.clients):
            self._tasks.append(asyncio.create_task(self._writer(client, first=(i == 0)), name=f"batch-writer-{i}"))
        self._tasks.append(asyncio.create_task(self._replayer(), name="spool-replayer"))
        self._tasks.append(asyncio.create_task(
            self.disk.run(self.settings.disk_check_interval_ms / 1000, self._stop), name="disk-guard"))

    async def drain(self) -> None:
        """Stop admitting, flush everything queued (to ClickHouse, else the spool), stop the tasks.
        With the WAL, a batch that can go nowhere (disk full, engine down) stays in the log."""
        self.queue.close()
        self.stopping = True
        writers = [t for t in self._tasks if t.get_name().startswith("batch-writer")]
        await asyncio.gather(*writers, return_exceptions=True)
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(r.close(self.settings.after_commit_drain_s) for r in self._runners.values()))
        if self.wal is not None:
            await self.wal.flush_pending()
            self.wal.close()

    # ---- admission -----------------------------------------------------------

    def prepare(self, events: list) -> Chunk:
        """Encode validated (and enriched) events into a queue chunk (raw_events rows, ingest/rows.py)."""
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
        return Chunk(len(events), rows.encode(events), picked, touched)

    def nearly_full(self) -> bool:
        """True when less than 1% of the queue is free: requests are shed without being decoded."""
        return self.queue.nearly_full()

    def _queue_gauges(self) -> None:
        self.metrics.queue_events.set(self.queue.queued)
        self.metrics.queue_bytes.set(self.queue.bytes)

    async def admit(self, events: list) -> Admission:
        """All of `events` into the queue (and the log), or none of them."""
        if self.queue.closed:
            return Admission.DRAINING
        if self.disk.full:
            return Admission.DISK_FULL
        if not self.queue.room_for(len(events)):
            return Admission.SHED
        try:
            await self.contexts.enrich(events)
        except Exception:  # Redis down must not stop ingest: rows just lack the map
            log.warning("match context lookup failed; admitting without it", exc_info=True)
        chunk = self.prepare(events)
        size = len(chunk.payload)
        if not self.queue.reserve(chunk.events, size):
            return Admission.DRAINING if self.queue.closed else Admission.SHED
        if self.wal is not None:
            try:
                chunk.lsn = await self.wal.append(chunk.record(), chunk.events)
            except OSError as exc:
                self.queue.release(chunk.events, size)
                if is_disk_full(exc):
                    self.disk.trip(exc, "write-ahead log")
                    return Admission.DISK_FULL
                log.error("write-ahead log write failed: %s", exc)
                return Admission.STORAGE_ERROR
            self.metrics.wal_bytes.set(self.wal.bytes_on_disk)
        self.queue.offer(chunk, reserved=True)
        self.accepted += chunk.events
        self._queue_gauges()
        return Admission.ACCEPTED

    # ---- writing -------------------------------------------------------------

    async def _writer(self, client: Any, first: bool) -> None:
        if first:
            for token, chunks in self._recovered_batches:
                await self._write_batch(chunks, client, token)
            self._recovered_batches.clear()
        max_wait = self.settings.flush_interval_ms / 1000
        while True:
            chunks = await self.queue.take(max_wait)
            if not chunks:
                return  # closed and empty
            self._queue_gauges()
            await self._write_batch(chunks, client)

    async def _write_batch(self, chunks: list[Chunk], client: Any, token: str | None = None) -> None:
        n = sum(c.events for c in chunks)
        self.in_flight += n
        try:
            await self.flush(chunks, client, token)
        except Exception:  # never let a writer die; flush() keeps its batch (spool or log) itself
            log.exception("batch writer error")
        finally:
            self.in_flight -= n

    async def flush(self, chunks: list[Chunk], client: Any = None, token: str | None = None) -> Stored:
        """Store one batch of chunks: in ClickHouse, else the spool; refused rows to the dead-letter
        store. `token`: the deduplication token of a batch begun before a crash."""
        client = client or self.client
        n = sum(c.events for c in chunks)
        lsns = [c.lsn for c in chunks if c.lsn]
        # Begun by the release before clickhouse/0008 (only a begun batch can have been inserted).
        begun_before_upgrade = token is not None and any(c.legacy for c in chunks)
        # ~50 MB for a full batch: joined in a worker thread so the event loop keeps answering.
        payload = await asyncio.to_thread(b"".join, [c.payload for c in chunks])
        for c in chunks:  # the joined copy is the only one needed now: halves the batch's memory
            c.payload = b""
        if token is None:
            token = self.wal.batch_token(lsns) if lsns and self.wal is not None else uuid.uuid4().hex
            if lsns and self.wal is not None:
                await self._log_batch(token, lsns)
        self.metrics.batch_size.observe(n)
        if begun_before_upgrade and await self._stored_before_upgrade(client, payload):
            log.warning("batch %s, begun before the upgrade to clickhouse/0008, was stored then: not inserted again",
                        token)
            stored = Stored.COMMITTED
        else:
            stored = await self._store(client, payload, token, n)
        if stored is Stored.HELD:
            return stored
        if self.wal is not None and lsns:
            self.wal.done(lsns)
            self.metrics.wal_bytes.set(self.wal.bytes_on_disk)
        if stored is Stored.COMMITTED:
            self._after_commit(chunks)
        return stored

    async def _stored_before_upgrade(self, client: Any, payload: bytes) -> bool:
        """Whether the rows of a batch that the release before clickhouse/0008 had begun (found in
        the write-ahead log or the spool as JSONEachRow) are in raw_events already. Its insert may
        have committed before the crash, and raw_events was rebuilt since, so its deduplication
        token is no longer known to it. Stored means: for every (server, receipt time, match) of
        the batch, raw_events holds as many rows as the batch (a receipt time is per request, in ms).
        A count that differs means not stored: an insert then, at worst a duplicate, never a loss."""
        keys = await asyncio.to_thread(rows.receipt_keys, payload)
        if not keys:
            return False
        result = await asyncio.to_thread(
            client.query,
            "SELECT server_id, toUnixTimestamp64Milli(received_at), match_id, count() FROM raw_events "
            "WHERE match_id IN {m:Array(String)} GROUP BY ALL",
            parameters={"m": sorted({match for _, _, match in keys})})
        stored = {(sid, ms, match): count for sid, ms, match, count in result.result_rows}
        return all(stored.get(key) == count for key, count in keys.items())

    async def _log_batch(self, token: str, lsns: list[int]) -> None:
        """Record the batch in the log before inserting it; a full disk waits (no insert can go
        in then anyway), so a crash can always replay it under the same token."""
        delay = self.settings.retry_backoff_ms / 1000
        while True:
            try:
                await self.wal.log_batch(token, lsns)
                return
            except OSError as exc:
                if is_disk_full(exc):
                    self.disk.trip(exc, "write-ahead log")
                log.error("could not log batch %s (retrying in %.1f s): %s", token, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)

    def _after_commit(self, chunks: list[Chunk]) -> None:
        """Hand a committed batch's notable events to every hook's own task; never waits for them."""
        notable = [ev for c in chunks for ev in c.notable]
        touched: dict[tuple[int, str], float] = {}
        for c in chunks:
            touched.update(c.touched)
        for hook in self.after_commit:
            runner = self._runners.get(id(hook))
            if runner is None or runner.hook is not hook:
                runner = self._runners[id(hook)] = HookRunner(hook, self.settings.after_commit_queue_batches,
                                                              self._hook_dropped,
                                                              self.settings.after_commit_queue_events)
            runner.offer(notable, touched)

    def _hook_dropped(self, name: str) -> None:
        self.metrics.after_commit_dropped.labels(name).inc()

    @property
    def hooks_pending(self) -> int:
        """Committed batches still waiting for (or in) an after-commit hook."""
        return sum(r.pending for r in self._runners.values())

    async def _store(self, client: Any, payload: bytes, token: str, n: int) -> Stored:
        error = await self.inserter.insert_with_retries(client, payload, token, n)
        if error is None:
            return Stored.COMMITTED
        if refused_for_content(error):
            if await self._isolate(client, payload, token, error, force=False) is not None:
                return Stored.COMMITTED
        if out_of_disk(error):
            self.disk.trip(OSError(28, "No space left on device (ClickHouse)"), "ClickHouse insert")
        return await self._spool(client, payload, token, n)

    async def _isolate(self, client: Any, payload: bytes, token: str, error: BaseException, force: bool) -> int | None:
        """Store what ClickHouse takes of a refused batch and dead-letter the rest; returns the events
        stored. None when the engine turned unwell meanwhile (the caller keeps the whole batch:
        the pieces already stored are deduplicated when it is inserted again)."""
        try:
            isolation = await self.inserter.isolate(client, payload, token, error, force=force)
        except Exception as exc:
            log.warning("isolating refused events of batch %s stopped: %s", token, short_reason(exc))
            return None
        if isolation.refused:
            while True:
                try:
                    await asyncio.to_thread(self.dead_letters.write, token, isolation.refused)
                    break
                except OSError as exc:
                    if is_disk_full(exc):
                        self.disk.trip(exc, "dead-letter store")
                    if self.stopping:
                        return None
                    log.error("could not write %d dead letters (retrying): %s", len(isolation.refused), exc)
                    await asyncio.sleep(1.0)
            self.metrics.events_dead_lettered.inc(len(isolation.refused))
            self.metrics.dead_letter_events.set(self.dead_letters.events)
            log.error("ClickHouse refused %d of the events of batch %s: dead-lettered (%s); %d stored",
                      len(isolation.refused), token, isolation.refused[0][1], isolation.committed)
        return isolation.committed

    async def _spool(self, client: Any, payload: bytes, token: str, n: int) -> Stored:
        """Put a batch ClickHouse would not take into the spool; while the disk refuses that too,
        keep trying both, with backoff. At shutdown with the WAL on, leave it in the log instead."""
        delay = self.settings.retry_backoff_ms / 1000
        while True:
            try:
                await asyncio.to_thread(self.spool.write, payload, token, n)
            except OSError as exc:
                if is_disk_full(exc):
                    self.disk.trip(exc, "spool")
                if self.stopping and self.wal is not None:
                    log.error("batch %s (%d events) stays in the write-ahead log: %s", token, n, exc)
                    return Stored.HELD
                log.error("could not spool %d events (retrying in %.1f s): %s", n, delay, exc)
            else:
                self.metrics.events_spooled.inc(n)
                self.metrics.spool_events.inc(n)
                log.error("insert failed after retries; spooled %d events (token %s)", n, token)
                return Stored.SPOOLED
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)
            try:
                await self.inserter.insert_once(client, payload, token, n)
                return Stored.COMMITTED
            except Exception as exc:
                if refused_for_content(exc) and await self._isolate(client, payload, token, exc, force=False) is not None:
                    return Stored.COMMITTED

    # ---- spool replay ----------------------------------------------------------

    async def replay_spool(self) -> int:
        """Re-insert spooled batches, oldest first; returns events stored. A batch ClickHouse
        refuses for its content is isolated (the rest stored, the refused dead-lettered); one that
        fails for other reasons is skipped this round, and the round stops only when the next one
        fails too (the engine is unwell). A batch that keeps failing while others go in is
        isolated after `_SUSPECT_ROUNDS` rounds."""
        replayed = 0
        round_start = time.monotonic()
        skipped: list[SpoolEntry] = []
        for entry in self.spool.entries():
            payload = await asyncio.to_thread(self.spool.read, entry)
            if rows.is_json_lines(payload):  # spooled by the release before clickhouse/0008
                try:
                    payload = await asyncio.to_thread(rows.from_json_lines, payload)
                except msgspec.DecodeError as exc:
                    log.error("spool: %s holds no events this release reads (%s); left alone", entry.path.name, exc)
                    continue
                if await self._stored_before_upgrade(self.client, payload):
                    self._done_with(entry)
                    replayed += entry.events
                    continue
            try:
                await self.inserter.insert_once(self.client, payload, entry.token, entry.events)
            except Exception as exc:
                force = self._suspects.get(entry.path, 0) >= _SUSPECT_ROUNDS
                if refused_for_content(exc) or force:
                    stored = await self._isolate(self.client, payload, entry.token, exc, force=force)
                    if stored is None:
                        break
                    self._done_with(entry)
                    replayed += stored
                    continue
                log.info("spool replay of %s failed: %s", entry.path.name, short_reason(exc))
                skipped.append(entry)
                if len(skipped) >= 2 and self.inserter.last_commit < round_start:
                    break  # two in a row and nothing went in: the engine is unwell, not the batches
                continue
            self._done_with(entry)
            replayed += entry.events
        if self.inserter.last_commit >= round_start:  # the engine took something: the skipped are suspect
            for entry in skipped:
                self._suspects[entry.path] = self._suspects.get(entry.path, 0) + 1
        self.metrics.spool_events.set(self.spool.pending_events())
        return replayed

    def _done_with(self, entry: SpoolEntry) -> None:
        self.spool.remove(entry)
        self._suspects.pop(entry.path, None)

    async def _replayer(self) -> None:
        interval = self.settings.spool_replay_interval_ms / 1000
        while not self._stop.is_set():
            if self.spool.entries():
                try:
                    await self.replay_spool()
                except Exception:  # keep replaying on the next round whatever happened
                    log.exception("spool replay round failed")
            try:
                await asyncio.wait_for(self._stop.wait(), interval)
            except asyncio.TimeoutError:
                pass

    # ---- dead letters --------------------------------------------------------

    async def redrive(self) -> dict:
        """Insert the dead-lettered events again (after a fix); rows still refused stay with their
        new error. Returns `{"redriven": events stored, "still_refused": events left}`. Raises the
        engine's error when it is unwell (nothing is lost: the files stay)."""
        redriven = 0
        for letter_file in self.dead_letters.files():
            letters = self.dead_letters.read(letter_file)
            lines = b"".join(letter.row.encode() + b"\n" for letter in letters)
            # Content-addressed: the same rows always carry the same token, so a repeated redrive
            # (e.g. interrupted after its insert) stores them once.
            token = "redrive-" + hashlib.blake2b(lines, digest_size=16).hexdigest()
            # A letter keeps its event as JSON (ingest/rows.py `readable`); one that is not an event
            # stays, with that reason.
            readable, still = [], []
            for letter in letters:
                try:
                    readable += rows.events_of_json_lines(letter.row.encode())
                except msgspec.DecodeError as exc:
                    still.append((letter.row.encode(), f"not an event this release reads: {exc}"))
            payload = rows.encode(readable)
            try:
                if readable:
                    await self.inserter.insert_once(self.client, payload, token, len(readable))
                redriven += len(readable)
            except Exception as exc:
                if not refused_for_content(exc):
                    raise
                isolation = await self.inserter.isolate(self.client, payload, token, exc)
                still += isolation.refused
                redriven += isolation.committed
            self.dead_letters.replace(letter_file, still)
        self.metrics.dead_letter_events.set(self.dead_letters.events)
        return {"redriven": redriven, "still_refused": self.dead_letters.events}
