"""Write-ahead log: what backs a 202 when `FRAGSTATS_DURABILITY=wal` (the default).

A request is acknowledged only once its events (the queue chunk's record, ingest/queue.py) are
appended here and fsynced. Appends are group-committed: while one write + `fdatasync` runs on the
log's own writer thread, the requests that arrive meanwhile wait together and are written and
synced by the next one, so one fsync serves every request of that window (the PostgreSQL / InnoDB
technique).

Files: `<data>/wal/<first lsn, 20 digits>.wal` segments, plus `generation` (a random id written
once, part of every batch token, so a deleted log can never reuse an old token). Segments are
allocated whole before use (`segment_bytes`, written with zeros ahead of need, or recycled from a
segment whose events are all stored, as PostgreSQL does; up to two wait as `spare-N.seg`): records are then written in place with `pwrite`, so an
fsync flushes data only — no file-size or block-allocation metadata, no journal commit — which
keeps it short while ClickHouse writes its parts on the same disk. A segment is a sequence of
records:

    header  <u32 payload length> <u32 crc32> <u8 kind> <u64 lsn> <u32 events>   (21 bytes, little endian)
    payload <length bytes>

the CRC covering kind, lsn, events and payload. Every record takes the next log sequence number
(lsn); a segment's records have lsns from its name upwards, strictly increasing, so the reader
stops at the first record that is not valid for its place: zeros (never written), a CRC that does
not match (cut by a crash) or an lsn that is not the next one's (left from the segment's previous
use). Kinds:
- `chunk`: one admitted request's events (`events` of them): the queue chunk's record (ingest/queue.py
  `Chunk.record`: raw_events rows and the notable events; JSONEachRow lines before clickhouse/0008);
- `batch`: before a batch is inserted, its token and the lsns of its chunks (payload: token,
  newline, lsns as u64s) — fsynced, so that after a crash the same chunks are re-inserted as the
  same batch under the same `insert_deduplication_token`, and a batch that had in fact committed
  is dropped by ClickHouse as a duplicate instead of being counted twice;
- `done`: lsns of chunks now stored (in ClickHouse, the spool or the dead-letter store). Not
  fsynced: losing one only means a replay that ClickHouse deduplicates.

A segment is recycled (or deleted) once every chunk in it and before it is done. On start,
`open()` reads every segment and returns what is not done; the pipeline re-inserts it before taking
new batches.

Failure: a write or fsync that fails (ENOSPC when a new segment cannot be allocated, EIO) raises
OSError to every request of that group: none of them is acknowledged, and the next group writes
over what it may have left.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import queue
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fragstats.durable import fsync_dir

log = logging.getLogger("fragstats.wal")

HEADER = struct.Struct("<IIBQI")
KIND_CHUNK = 1
KIND_BATCH = 2
KIND_DONE = 3
_KINDS = (KIND_CHUNK, KIND_BATCH, KIND_DONE)
_IOV_MAX = 512  # buffers per pwritev call (Linux allows 1024)
_ZEROS = bytes(1 << 20)
SPARES = ("spare-1.seg", "spare-2.seg")  # allocated segments waiting to become the next ones


@dataclass
class Recovered:
    """What the log holds that is not yet stored, in log order."""

    chunks: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # lsn -> (events, chunk record)
    batches: list[tuple[str, list[int]]] = field(default_factory=list)  # (token, chunk lsns) begun before the crash
    torn_bytes: int = 0  # bytes of records cut by a crash (a CRC that does not match), dropped

    @property
    def events(self) -> int:
        return sum(n for n, _ in self.chunks.values())


_CRC_PIECE = 4096  # bytes: below the 5 KiB from which zlib.crc32 lets go of the GIL


def _crc(kind: int, lsn: int, events: int, payload: bytes) -> int:
    """CRC-32 of a record, taken 4 KiB at a time. The same value as one call over the payload, but
    zlib.crc32 releases the GIL for a buffer over 5 KiB, and with the event loop busy the writer
    thread then waited up to a switch interval to get it back, once per record: a group of 16
    records took 50-175 ms (so did every request in it: the p99 time to 202), on tmpfs as on disk."""
    crc = zlib.crc32(struct.pack("<BQI", kind, lsn, events))
    view = memoryview(payload)
    for start in range(0, len(view), _CRC_PIECE):
        crc = zlib.crc32(view[start:start + _CRC_PIECE], crc)
    return crc


def _segment_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}.wal"


def _allocate(path: Path, size: int) -> None:
    """A file of `size` bytes of zeros, written and fsynced (so later writes need no allocation)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        left = size
        while left > 0:
            left -= os.write(fd, _ZEROS[:min(left, len(_ZEROS))])
        os.fsync(fd)
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


class WriteAheadLog:
    """One process's log. Call it from the event loop; its file I/O runs on its own writer thread."""

    def __init__(self, folder: Path, segment_bytes: int = 64 * 1024 * 1024, fsync_seconds=None):
        """`fsync_seconds`: optional callable observing each group's write + fsync duration (s),
        measured on the writer thread."""
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.fsync_seconds = fsync_seconds
        self.generation = ""
        self._segments: list[tuple[int, Path]] = []  # (first lsn, path), oldest first; the last is active
        self._fd = -1
        self._size = 0  # bytes of whole records in the active segment
        self._next_lsn = 1
        self._open_chunks: dict[int, None] = {}  # chunk lsns not yet done, in lsn order
        self._pending: list[tuple[tuple, asyncio.Future | None]] = []
        self._writing = False
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._spare_lock = threading.Lock()
        self._allocating = threading.Lock()  # one segment allocation at a time (spare or inline)
        self._spares = 0  # spare files ready (under _spare_lock): read per group without a syscall
        self._preparing: asyncio.Future | None = None
        self._kick_scheduled = False
        self.bytes_on_disk = 0

    # ---- start-up ----------------------------------------------------------

    def open(self) -> Recovered:
        """Read every segment and return what is not yet done. Blocking (run it in a worker thread
        at start-up). Raises OSError when the folder cannot be written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink(missing_ok=True)  # a spare or generation file cut before its rename
        gen_path = self.folder / "generation"
        if gen_path.exists():
            self.generation = gen_path.read_text().strip()
        else:
            self.generation = secrets.token_hex(8)
            tmp = gen_path.with_suffix(".tmp")
            tmp.write_text(self.generation + "\n")
            os.replace(tmp, gen_path)
        recovered = Recovered()
        done: set[int] = set()
        batches: list[tuple[str, list[int]]] = []
        for path in sorted(self.folder.glob("*.wal")):
            first = int(path.stem)
            self._next_lsn = max(self._next_lsn, first)
            for kind, lsn, events, payload in self._read_segment(path, first, recovered):
                self._next_lsn = max(self._next_lsn, lsn + 1)
                if kind == KIND_CHUNK:
                    recovered.chunks[lsn] = (events, payload)
                elif kind == KIND_BATCH:
                    token, _, packed = payload.partition(b"\n")
                    batches.append((token.decode(), list(struct.unpack(f"<{len(packed) // 8}Q", packed))))
                else:
                    done.update(struct.unpack(f"<{len(payload) // 8}Q", payload))
            self._segments.append((first, path))
        for lsn in done:
            recovered.chunks.pop(lsn, None)
        claimed: set[int] = set()
        for token, lsns in batches:
            live = [lsn for lsn in lsns if lsn in recovered.chunks and lsn not in claimed]
            if len(live) == len(lsns):  # not done: re-insert exactly as it was begun
                recovered.batches.append((token, lsns))
                claimed.update(lsns)
        self._open_chunks = dict.fromkeys(recovered.chunks)
        # The next segment is allocated by the first write, not here: a start on a full disk must
        # still recover what the log holds.
        self.bytes_on_disk = sum(p.stat().st_size for p in [*self.folder.glob("*.wal"), *self.folder.glob("*.seg")])
        self._spares = sum((self.folder / name).exists() for name in SPARES)
        return recovered

    def _read_segment(self, path: Path, first: int, recovered: Recovered) -> Iterable[tuple[int, int, int, bytes]]:
        data = path.read_bytes()
        pos = 0
        last = first - 1
        while pos + HEADER.size <= len(data):
            length, crc, kind, lsn, events = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if kind not in _KINDS or lsn <= last or end > len(data):
                return  # zeros, or a record left from the segment's previous use: the end
            payload = data[pos + HEADER.size:end]
            if _crc(kind, lsn, events, payload) != crc:
                recovered.torn_bytes += HEADER.size + length
                log.warning("write-ahead log %s: a record cut by a crash at byte %d dropped", path.name, pos)
                return
            yield kind, lsn, events, payload
            last = lsn
            pos = end

    def close(self) -> None:
        """Stop the writer thread and close the active segment (after `flush_pending`)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(10)
            self._thread = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # ---- appending -----------------------------------------------------------

    def batch_token(self, lsns: list[int]) -> str:
        """The insert_deduplication_token of a batch of these chunks: the same after a restart."""
        digest = hashlib.blake2b(struct.pack(f"<{len(lsns)}Q", *lsns), digest_size=8).hexdigest()
        return f"wal-{self.generation}-{lsns[0]}-{lsns[-1]}-{digest}"

    async def append(self, payload: bytes, events: int) -> int:
        """Append one chunk and wait until it is on disk; returns its lsn. Raises OSError."""
        lsn = self._next_lsn
        self._next_lsn += 1
        self._open_chunks[lsn] = None
        try:
            await self._submit((KIND_CHUNK, lsn, events, payload))
        except BaseException:
            self._open_chunks.pop(lsn, None)
            raise
        return lsn

    async def log_batch(self, token: str, lsns: list[int]) -> None:
        """Record that these chunks are being inserted as one batch under `token`; waits for fsync."""
        lsn = self._next_lsn
        self._next_lsn += 1
        await self._submit((KIND_BATCH, lsn, 0, token.encode() + b"\n" + struct.pack(f"<{len(lsns)}Q", *lsns)))

    def done(self, lsns: list[int]) -> None:
        """These chunks are stored: note it (no fsync) and recycle segments that hold nothing open."""
        lsns = [lsn for lsn in lsns if lsn]
        if not lsns:
            return
        for lsn in lsns:
            self._open_chunks.pop(lsn, None)
        self._pending.append(((KIND_DONE, self._next_lsn, 0, struct.pack(f"<{len(lsns)}Q", *lsns)), None))
        self._next_lsn += 1
        self._kick()

    async def flush_pending(self) -> None:
        """Wait until every record handed over so far is written (at shutdown)."""
        if self._idle is None:
            self._kick()
        while self._writing or self._pending:
            if not self._writing:
                self._kick()
            await self._idle.wait()

    async def _submit(self, record: tuple) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((record, future))
        # Kick at the end of this turn of the loop, not now: the requests read in the same turn
        # (one wake-up of the selector often hands over several) then share one group and one fsync.
        if not self._kick_scheduled:
            self._kick_scheduled = True
            loop.call_soon(self._deferred_kick)
        await future

    def _deferred_kick(self) -> None:
        self._kick_scheduled = False
        self._kick()

    def _kick(self) -> None:
        """Hand everything pending to the writer thread, unless it is busy (then the next group
        takes it when this one is done: that wait is the group commit)."""
        if self._writing or not self._pending:
            return
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._idle = asyncio.Event()
            self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
            self._thread.start()
        group, self._pending = self._pending, []
        self._writing = True
        self._idle.clear()
        self._jobs.put(group)

    def _run(self) -> None:
        """The writer thread: one group at a time, completions handed back to the loop."""
        while True:
            group = self._jobs.get()
            if group is None:
                return
            records = [record for record, _ in group]
            sync = any(record[0] != KIND_DONE for record in records)
            error: OSError | None = None
            start = time.perf_counter()
            try:
                self._write(records, sync)
            except OSError as exc:
                error = exc
            elapsed = time.perf_counter() - start
            try:
                self._loop.call_soon_threadsafe(self._group_done, group, error, elapsed if sync else None)
            except RuntimeError:  # the loop is closed: the process is ending
                return

    def _group_done(self, group: list, error: OSError | None, elapsed: float | None) -> None:
        self._writing = False
        for _, future in group:
            if future is None or future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(OSError(error.errno, error.strerror, str(self.folder)))
        if elapsed is not None and error is None and self.fsync_seconds is not None:
            self.fsync_seconds(elapsed)
        self._drop_segments()
        if self._pending:
            self._kick()
        else:
            self._idle.set()

    def _write(self, records: list[tuple], sync: bool) -> None:
        """Writer thread: the group's records with pwritev at the end of the active segment (a new
        one first when they do not fit), then fdatasync."""
        buffers: list[bytes] = []
        total = 0
        for kind, lsn, events, payload in records:
            buffers.append(HEADER.pack(len(payload), _crc(kind, lsn, events, payload), kind, lsn, events))
            buffers.append(payload)
            total += HEADER.size + len(payload)
        if self._fd < 0 or self._size and self._size + total > self.segment_bytes:
            self._rotate(records[0][1])
        offset = self._size
        for i in range(0, len(buffers), _IOV_MAX):
            part = buffers[i:i + _IOV_MAX]
            want = sum(len(b) for b in part)
            if os.pwritev(self._fd, part, offset) != want:  # a short write: the disk is full
                raise OSError(28, os.strerror(28))
            offset += want
        if sync:
            os.fdatasync(self._fd)
        self._size += total

    def _rotate(self, first_lsn: int) -> None:
        """Writer thread: seal the active segment (if any), open the next one starting at
        `first_lsn` (the spare, else a new allocation). When that fails (ENOSPC) the active segment
        stays active and the group is refused; the next group tries again."""
        path = self.folder / _segment_name(first_lsn)
        if not path.exists():  # (one that exists holds no record yet: a previous run's last, unused)
            spare = self._take_spare()
            if spare is None:
                # A spare being allocated right now: wait for it rather than race it for the disk
                # (two allocations at once can both fail where one fits).
                with self._allocating:
                    spare = self._take_spare()
                    if spare is None:  # none ready: allocate here (this group's acknowledgements wait)
                        _allocate(path, self.segment_bytes)
                        self.bytes_on_disk += self.segment_bytes
            if spare is not None:
                os.replace(spare, path)
            fsync_dir(self.folder)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(path, os.O_RDWR)
        self._size = 0
        if not self._segments or self._segments[-1][1] != path:
            self._segments.append((first_lsn, path))

    def _take_spare(self) -> Path | None:
        """Writer thread: a ready spare to rename into the next segment (counted as taken), or None."""
        with self._spare_lock:
            if self._spares == 0:
                return None
            for name in SPARES:
                spare = self.folder / name
                if spare.exists():
                    self._spares -= 1
                    return spare
            self._spares = 0
        return None

    def _free_slot(self) -> Path | None:
        """The first spare name no file holds (call it under `_spare_lock`), or None."""
        return next((self.folder / name for name in SPARES if not (self.folder / name).exists()), None)

    def _prepare_spare(self) -> None:
        """Worker thread: allocate a spare segment ahead of need, so no rotation waits for one."""
        try:
            tmp = self.folder / "spare.tmp"
            with self._allocating:
                _allocate(tmp, self.segment_bytes)
            with self._spare_lock:
                free = self._free_slot()
                if free is not None:
                    os.replace(tmp, free)
                    self.bytes_on_disk += self.segment_bytes
                    self._spares += 1
                else:
                    tmp.unlink(missing_ok=True)
                    self._spares = len(SPARES)
        except OSError as exc:  # a full disk: the next rotation tries itself, and says so
            log.warning("write-ahead log: could not allocate a spare segment: %s", exc)

    def _drop_segments(self) -> None:
        """Recycle (into a free spare slot) or delete sealed segments whose every chunk, and every
        one before them, is done; start allocating a spare when none is left."""
        low = next(iter(self._open_chunks), self._next_lsn)
        while len(self._segments) > 1 and self._segments[1][0] <= low:
            _, path = self._segments.pop(0)
            try:
                size = path.stat().st_size
                with self._spare_lock:
                    free = self._free_slot()
                    if free is not None and size == self.segment_bytes:
                        os.replace(path, free)  # its old records are told apart by their lsns
                        self._spares += 1
                        continue
                self.bytes_on_disk -= size
                path.unlink()
            except FileNotFoundError:
                pass
        # The spare count, not a stat of the spare files: this runs on the loop after every group.
        if (self._preparing is None or self._preparing.done()) and self._fd >= 0 and self._spares == 0:
            self._preparing = asyncio.get_running_loop().run_in_executor(None, self._prepare_spare)

    @property
    def spares(self) -> int:
        """Allocated segments ready to become the next ones (as counted, without a syscall)."""
        return self._spares

    @property
    def open_chunks(self) -> int:
        """Chunks appended and not yet stored."""
        return len(self._open_chunks)
