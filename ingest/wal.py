"""Write-ahead log: what backs a 202 when `FRAGSTATS_DURABILITY=wal` (the default).

A request is acknowledged only once its events (the queue chunk's `JSONEachRow` bytes) are
appended here and fsynced. Appends are group-committed: while one write + `fdatasync` runs in a
worker thread, the requests that arrive meanwhile wait together and are written and synced by the
next one, so one fsync serves every request of that window (the PostgreSQL / InnoDB technique).

Files: `<data>/wal/<first lsn, 20 digits>.wal` segments, plus `generation` (a random id written
once, part of every batch token, so a deleted log can never reuse an old token). A segment is a
sequence of records:

    header  <u32 payload length> <u32 crc32> <u8 kind> <u64 lsn> <u32 events>   (21 bytes, little endian)
    payload <length bytes>

the CRC covering kind, lsn, events and payload. Every record takes the next log sequence number
(lsn). Kinds:
- `chunk`: one admitted request's events (`events` of them) as JSONEachRow lines;
- `batch`: before a batch is inserted, its token and the lsns of its chunks (payload: token,
  newline, lsns as u64s) — fsynced, so that after a crash the same chunks are re-inserted as the
  same batch under the same `insert_deduplication_token`, and a batch that had in fact committed
  is dropped by ClickHouse as a duplicate instead of being counted twice;
- `done`: lsns of chunks now stored (in ClickHouse, the spool or the dead-letter store). Not
  fsynced: losing one only means a replay that ClickHouse deduplicates.

A segment is deleted once every chunk in it and before it is done. On start, `open()` reads
every segment (a torn record at a segment's end, from a crash mid-write, ends that segment) and
returns what is not done; the pipeline re-inserts it before taking new batches.

Failure: a write or fsync that fails (ENOSPC, EIO) truncates the segment back to its last whole
record and raises OSError to every request of that group: none of them is acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import struct
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
_IOV_MAX = 512  # buffers per writev call (Linux allows 1024)


@dataclass
class Recovered:
    """What the log holds that is not yet stored, in log order."""

    chunks: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # lsn -> (events, JSONEachRow payload)
    batches: list[tuple[str, list[int]]] = field(default_factory=list)  # (token, chunk lsns) begun before the crash
    torn_bytes: int = 0  # bytes dropped from segment ends (records cut by a crash)

    @property
    def events(self) -> int:
        return sum(n for n, _ in self.chunks.values())


def _crc(kind: int, lsn: int, events: int, payload: bytes) -> int:
    # zlib.crc32 releases the GIL for large buffers; this runs in the writer thread anyway.
    return zlib.crc32(payload, zlib.crc32(struct.pack("<BQI", kind, lsn, events)))


def _segment_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}.wal"


class WriteAheadLog:
    """One process's log. Not thread-safe: call from the event loop; I/O runs in worker threads."""

    def __init__(self, folder: Path, segment_bytes: int = 64 * 1024 * 1024, fsync_seconds=None):
        """`fsync_seconds`: optional callable observing each group write + fsync duration (s)."""
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.fsync_seconds = fsync_seconds
        self.generation = ""
        self._segments: list[tuple[int, Path]] = []  # (first lsn, path), oldest first; the last is active
        self._fd = -1
        self._size = 0  # bytes of whole records in the active segment
        self._next_lsn = 1
        self._open_chunks: dict[int, None] = {}  # chunk lsns not yet done, in lsn order
        self._pending: list[tuple[tuple, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self.bytes_on_disk = 0

    # ---- start-up ----------------------------------------------------------

    def open(self) -> Recovered:
        """Read every segment, start a fresh active segment, return what is not yet done.

        Raises OSError when the folder cannot be created or written."""
        self.folder.mkdir(parents=True, exist_ok=True)
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
        paths = sorted(self.folder.glob("*.wal"))
        for path in paths:
            first = int(path.stem)
            self._next_lsn = max(self._next_lsn, first)
            for kind, lsn, events, payload in self._read_segment(path, recovered):
                self._next_lsn = max(self._next_lsn, lsn + 1)
                if kind == KIND_CHUNK:
                    recovered.chunks[lsn] = (events, payload)
                elif kind == KIND_BATCH:
                    token, _, packed = payload.partition(b"\n")
                    batches.append((token.decode(), list(struct.unpack(f"<{len(packed) // 8}Q", packed))))
                elif kind == KIND_DONE:
                    done.update(struct.unpack(f"<{len(payload) // 8}Q", payload))
            self._segments.append((first, path))
            self.bytes_on_disk += path.stat().st_size
        for lsn in done:
            recovered.chunks.pop(lsn, None)
        claimed: set[int] = set()
        for token, lsns in batches:
            live = [lsn for lsn in lsns if lsn in recovered.chunks and lsn not in claimed]
            if len(live) == len(lsns):  # not done: re-insert exactly as it was begun
                recovered.batches.append((token, lsns))
                claimed.update(lsns)
        self._open_chunks = dict.fromkeys(recovered.chunks)
        self._start_segment()
        return recovered

    def _read_segment(self, path: Path, recovered: Recovered) -> Iterable[tuple[int, int, int, bytes]]:
        data = path.read_bytes()
        pos = 0
        while pos + HEADER.size <= len(data):
            length, crc, kind, lsn, events = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            payload = data[pos + HEADER.size:end]
            if end > len(data) or _crc(kind, lsn, events, payload) != crc:
                break
            yield kind, lsn, events, payload
            pos = end
        if pos < len(data):
            recovered.torn_bytes += len(data) - pos
            log.warning("write-ahead log %s: %d bytes after the last whole record dropped (cut by a crash)",
                        path.name, len(data) - pos)

    def _start_segment(self) -> None:
        path = self.folder / _segment_name(self._next_lsn)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        if not self._segments or self._segments[-1][1] != path:
            self._segments.append((self._next_lsn, path))
        fsync_dir(self.folder)

    def close(self) -> None:
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
        """These chunks are stored: note it (no fsync) and delete segments that hold nothing open."""
        lsns = [lsn for lsn in lsns if lsn]
        if not lsns:
            return
        for lsn in lsns:
            self._open_chunks.pop(lsn, None)
        record = (KIND_DONE, self._next_lsn, 0, struct.pack(f"<{len(lsns)}Q", *lsns))
        self._next_lsn += 1
        loop = asyncio.get_running_loop()
        self._pending.append((record, loop.create_future()))  # nobody waits for it
        self._kick()
        self._drop_segments()

    async def flush_pending(self) -> None:
        """Wait until every record handed over so far is written (at shutdown)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _submit(self, record: tuple) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        self._kick()
        await future

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="wal-group-commit")

    async def _flush(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            start = time.perf_counter()
            sync = any(record[0] != KIND_DONE for record, _ in group)
            try:
                await asyncio.to_thread(self._write, [record for record, _ in group], sync)
            except OSError as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(OSError(exc.errno, exc.strerror, str(self.folder)))
                        future.exception()  # a `done` record's future has no waiter: mark it retrieved
                continue
            if self.fsync_seconds is not None and sync:
                self.fsync_seconds(time.perf_counter() - start)
            for _, future in group:
                if not future.done():
                    future.set_result(None)
            if self._size >= self.segment_bytes:
                self.close()
                self._start_segment()
                self._drop_segments()

    def _write(self, records: list[tuple], sync: bool) -> None:
        """Worker thread: write the group's records with writev, then fdatasync; undo on failure."""
        buffers: list[bytes] = []
        total = 0
        for kind, lsn, events, payload in records:
            buffers.append(HEADER.pack(len(payload), _crc(kind, lsn, events, payload), kind, lsn, events))
            buffers.append(payload)
            total += HEADER.size + len(payload)
        try:
            written = 0
            for i in range(0, len(buffers), _IOV_MAX):
                part = buffers[i:i + _IOV_MAX]
                want = sum(len(b) for b in part)
                got = os.writev(self._fd, part)
                written += got
                if got != want:  # a short write to a regular file: the disk is full
                    raise OSError(28, os.strerror(28))
            if sync:
                os.fdatasync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)  # no torn record stays behind later good ones
            except OSError:
                log.exception("write-ahead log: could not truncate %s after a failed write", self.folder)
            raise
        self._size += total
        self.bytes_on_disk += total

    def _drop_segments(self) -> None:
        """Delete sealed segments whose every chunk (and every one before them) is done."""
        low = next(iter(self._open_chunks), self._next_lsn)
        while len(self._segments) > 1 and self._segments[1][0] <= low:
            _, path = self._segments.pop(0)
            try:
                size = path.stat().st_size
                path.unlink()
                self.bytes_on_disk -= size
            except FileNotFoundError:
                pass

    @property
    def open_chunks(self) -> int:
        """Chunks appended and not yet stored."""
        return len(self._open_chunks)
