"""The bounded in-process ingest queue, measured in events and in bytes.

Each admitted request becomes one `Chunk`: its events already encoded as raw_events rows
(RowBinary, ingest/rows.py: the batch writer only joins bytes — no per-event Python work and no
long GIL hold per batch), the few events that carry live state (`notable`), the matches it touched,
and its position in the write-ahead log when there is one. `Chunk.record()` is what the log keeps
of a chunk, `Chunk.from_record()` reads it back after a crash.

Admission is all or nothing per request, in two steps so that a request can be made durable
between them: `reserve()` takes room for the whole request or refuses (the caller answers 429),
`offer()` then queues the chunk into that room (or `release()` gives the room back). The queue is
full when either its event capacity or its byte capacity is reached: events bound the work behind
the queue, bytes bound memory (a few huge events must not pass for a few events).

Batch writers `take()` whole chunks until they hold `batch_size` events or `batch_bytes` bytes,
waiting at most T seconds after the first one arrives, so inserts stay few and large (what
ClickHouse wants) without holding a lone event for long. A waiting writer is woken only when the
queue goes from empty to non-empty or reaches a full batch — not on every request.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from dataclasses import dataclass, field

import msgspec

from ingest import rows
from ingest.events import NOTABLE, EventUnion

# A chunk's record in the write-ahead log: this byte (never `{`, with which the JSONEachRow records of
# the release before clickhouse/0008 begin), the rows' length (u32, little endian), the rows, then
# the notable events as JSON lines and the touched matches as one JSON array. The rows store a
# value not sent as its column's default; the notable events keep "not sent" apart from 0 for the
# after-commit hooks (a match_end without scores is not a 0:0).
_RECORD = b"\x00"
_ROWS_LENGTH = struct.Struct("<I")
_record_json = msgspec.json.Encoder()
_notable_line = msgspec.json.Decoder(EventUnion, strict=False)
_touched = msgspec.json.Decoder(list[tuple[int, str, float]])


@dataclass(slots=True)
class Chunk:
    """One request's worth of validated events, ready to insert."""

    events: int
    payload: bytes  # raw_events rows (ingest/rows.py)
    notable: list = field(default_factory=list)  # events that carry live state (kills, match start/end, ...)
    touched: dict = field(default_factory=dict)  # (server_id, match_id) -> latest receipt time (epoch s)
    lsn: int = 0  # its record in the write-ahead log (0: not logged)
    size: int = 0  # bytes it holds in the queue (len(payload) when queued; kept after the payload is released)
    legacy: bool = False  # read from a record of the release before clickhouse/0008 (JSONEachRow)

    def record(self) -> bytes:
        """What the write-ahead log keeps of this chunk (see `_RECORD`)."""
        touched = _record_json.encode([(sid, mid, at) for (sid, mid), at in self.touched.items()])
        return b"".join((_RECORD, _ROWS_LENGTH.pack(len(self.payload)), self.payload,
                         _record_json.encode_lines(self.notable), touched))

    @classmethod
    def from_record(cls, events: int, record: bytes, lsn: int = 0) -> Chunk:
        """The chunk a write-ahead log record holds. A record of the release before clickhouse/0008
        (JSONEachRow lines of the events) is converted to rows. Raises ValueError for a record that
        is neither (the log's CRC makes that a bug, not a torn write)."""
        if rows.is_json_lines(record):
            try:
                decoded = rows.events_of_json_lines(record)
            except msgspec.DecodeError as exc:
                raise ValueError(f"write-ahead log record {lsn}: {exc}") from None
            touched = {(ev.server_id, ev.match_id): ev.received_at for ev in decoded if ev.match_id}
            notable = [ev for ev in decoded if type(ev) in NOTABLE]
            return cls(events, rows.encode(decoded), notable, touched, lsn=lsn, legacy=True)
        if record[:1] != _RECORD:
            raise ValueError(f"write-ahead log record {lsn} is in no format this release reads")
        (length,) = _ROWS_LENGTH.unpack_from(record, 1)
        start = 1 + _ROWS_LENGTH.size
        payload = record[start:start + length]
        lines = record[start + length:].split(b"\n")
        notable = [_notable_line.decode(line) for line in lines[:-1] if line]
        touched = {(sid, mid): at for sid, mid, at in _touched.decode(lines[-1])}
        return cls(events, payload, notable, touched, lsn=lsn)


class EventQueue:
    """FIFO of chunks with hard capacities in events and bytes. Not thread-safe: event loop only."""

    def __init__(self, capacity: int, batch_size: int, capacity_bytes: int = 0, batch_bytes: int = 0):
        """`capacity` events / `capacity_bytes` bytes (0: no byte bound) may wait; a batch holds up to
        `batch_size` events and `batch_bytes` bytes (0: no byte bound), and at least one chunk."""
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.size = 0  # events queued or reserved
        self.bytes = 0  # bytes queued or reserved
        self._chunks: deque[Chunk] = deque()
        self._queued_events = 0
        self._queued_bytes = 0
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self.closed = False

    def room_for(self, events: int, size: int = 0) -> bool:
        """True when `events` events of `size` bytes fit (and the queue is open)."""
        if self.closed or self.size + events > self.capacity:
            return False
        return not self.capacity_bytes or self.bytes + size <= self.capacity_bytes

    def nearly_full(self) -> bool:
        """True when less than 1% of either capacity is free."""
        if self.size >= self.capacity * 0.99:
            return True
        return bool(self.capacity_bytes) and self.bytes >= self.capacity_bytes * 0.99

    def reserve(self, events: int, size: int) -> bool:
        """Hold room for a whole request (True), or refuse it (False: full or closed)."""
        if not self.room_for(events, size):
            return False
        self.size += events
        self.bytes += size
        return True

    def release(self, events: int, size: int) -> None:
        """Give back a reservation that will not be offered."""
        self.size -= events
        self.bytes -= size

    def offer(self, chunk: Chunk, reserved: bool = False) -> bool:
        """Queue the whole chunk and return True, or nothing and return False (full or closed).

        With `reserved`, room for it was taken by `reserve(chunk.events, len(chunk.payload))`, and
        the chunk is queued even if the queue closed since (a reserved request is already durable
        or acknowledged and must reach the writers, which drain what is queued before stopping)."""
        n = chunk.events
        if n == 0:
            if reserved:
                self.release(0, len(chunk.payload))
            return True
        chunk.size = len(chunk.payload)
        if not reserved and not self.reserve(n, chunk.size):
            return False
        self._chunks.append(chunk)
        self._queued_events += n
        self._queued_bytes += chunk.size
        if self._queued_events == n:
            self._nonempty.set()
        if self._batch_ready():
            self._full.set()
        return True

    def requeue(self, chunk: Chunk) -> None:
        """Queue a chunk acknowledged before a restart (found in the write-ahead log), whatever the
        capacity: it must be stored; new requests are shed until the queue has room again."""
        chunk.size = len(chunk.payload)
        self.size += chunk.events
        self.bytes += chunk.size
        self._chunks.append(chunk)
        self._queued_events += chunk.events
        self._queued_bytes += chunk.size
        self._nonempty.set()
        if self._batch_ready():
            self._full.set()

    @property
    def queued(self) -> int:
        """Events queued (not counting room reserved for requests still being made durable)."""
        return self._queued_events

    def _batch_ready(self) -> bool:
        return self._queued_events >= self.batch_size or bool(self.batch_bytes) and self._queued_bytes >= self.batch_bytes

    def close(self) -> None:
        """Refuse new chunks; `take()` keeps returning what is left, then empty lists."""
        self.closed = True
        self._nonempty.set()
        self._full.set()

    def _pop(self) -> list[Chunk]:
        out: list[Chunk] = []
        taken = 0
        taken_bytes = 0
        # Whole chunks only (a request is never split); a batch may pass a limit by one chunk only
        # when it is that chunk alone.
        while self._chunks:
            head = self._chunks[0]
            if taken and (taken + head.events > self.batch_size
                          or self.batch_bytes and taken_bytes + head.size > self.batch_bytes):
                break
            out.append(self._chunks.popleft())
            taken += head.events
            taken_bytes += head.size
        self._queued_events -= taken
        self._queued_bytes -= taken_bytes
        self.size -= taken
        self.bytes -= taken_bytes
        if not self._batch_ready() and not self.closed:
            self._full.clear()
        if not self._chunks and not self.closed:
            self._nonempty.clear()
        return out

    async def take(self, max_wait_s: float) -> list[Chunk]:
        """Chunks holding up to `batch_size` events / `batch_bytes` bytes: at once when a full batch
        is queued, else `max_wait_s` seconds after the writer saw the first one. Returns [] only
        once closed and empty."""
        while not self._chunks:
            if self.closed:
                return []
            await self._nonempty.wait()
        if not self._batch_ready() and not self.closed:
            try:
                await asyncio.wait_for(self._full.wait(), max_wait_s)
            except asyncio.TimeoutError:
                pass
        return self._pop()

