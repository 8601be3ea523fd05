"""The write-ahead log on its own: what was appended and fsynced comes back after a restart, a
torn tail is cut, segments go once done, one fsync serves many appends, a full disk leaves no
torn record behind (a real tmpfs, filled for real)."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import pytest

from conftest import tmpfs
from ingest.wal import HEADER, SPARES, WriteAheadLog

pytestmark = pytest.mark.asyncio(loop_scope="session")


def payload(i: int, size: int = 40) -> bytes:
    return (f'{{"type":"jump","match_id":"m{i}"}}\n').encode().ljust(size, b" ")


async def test_appended_chunks_come_back_after_a_restart(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal")
    assert wal.open().chunks == {}
    lsns = [await wal.append(payload(i), 1 + i) for i in range(5)]
    wal.close()  # as a crash would leave it: nothing marked done
    again = WriteAheadLog(tmp_path / "wal")
    recovered = again.open()
    assert list(recovered.chunks) == lsns
    assert [recovered.chunks[lsn] for lsn in lsns] == [(1 + i, payload(i)) for i in range(5)]
    assert recovered.events == sum(range(1, 6)) and recovered.torn_bytes == 0
    assert again.generation == wal.generation
    assert await again.append(payload(9), 1) > lsns[-1]  # numbering goes on: tokens never repeat


async def test_done_chunks_are_not_replayed_and_a_begun_batch_keeps_its_token(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal")
    wal.open()
    a, b, c, d = [await wal.append(payload(i), 1) for i in range(4)]
    stored = wal.batch_token([a, b])
    await wal.log_batch(stored, [a, b])
    wal.done([a, b])
    begun = wal.batch_token([c, d])
    await wal.log_batch(begun, [c, d])  # crash while this batch is being inserted
    await wal.flush_pending()
    wal.close()
    recovered = WriteAheadLog(tmp_path / "wal").open()
    assert list(recovered.chunks) == [c, d]
    assert recovered.batches == [(begun, [c, d])]  # the same token: ClickHouse drops it if it went in


async def test_a_torn_record_is_cut_and_later_records_still_count(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal")
    wal.open()
    first = await wal.append(payload(1), 1)
    await wal.flush_pending()
    wal.close()
    segment = sorted((tmp_path / "wal").glob("*.wal"))[-1]
    end = HEADER.size + len(payload(1))
    with open(segment, "r+b") as fh:  # the start of a record whose write a crash cut short
        fh.seek(end)
        fh.write(HEADER.pack(40, 12345, 1, first + 1, 1) + b"cut")
    again = WriteAheadLog(tmp_path / "wal")
    recovered = again.open()
    assert list(recovered.chunks) == [first] and recovered.torn_bytes == HEADER.size + 40
    second = await again.append(payload(2), 1)
    await again.flush_pending()
    again.close()
    assert list(WriteAheadLog(tmp_path / "wal").open().chunks) == [first, second]


async def test_segments_are_allocated_whole_and_recycled_once_every_chunk_in_them_is_done(tmp_path):
    folder = tmp_path / "wal"
    wal = WriteAheadLog(folder, segment_bytes=4096)
    wal.open()
    lsns = [await wal.append(payload(i, 1000), 1) for i in range(20)]
    segments = lambda: sorted(folder.glob("*.wal"))  # noqa: E731
    assert len(segments()) >= 4
    assert {p.stat().st_size for p in segments()} == {4096}  # allocated before use: fsync flushes data only
    wal.done(lsns[:10])
    await wal.flush_pending()
    kept = segments()
    assert 1 < len(kept) < 5 and all(int(p.stem) > lsns[0] for p in kept)
    assert any((folder / name).exists() for name in SPARES)  # a sealed segment kept for reuse, not allocated anew
    on_disk = lambda: sum((folder / name).exists() for name in SPARES)  # noqa: E731

    async def settled() -> bool:  # a spare being allocated on a worker thread may land meanwhile
        for _ in range(100):
            if wal.spares == on_disk():
                return True
            await asyncio.sleep(0.01)
        return False

    assert await settled()  # the count read after every group agrees with the files
    wal.done(lsns[10:])
    later = await wal.append(payload(99, 3500), 1)  # fills a recycled segment: its old records must not come back
    await wal.flush_pending()
    assert await settled()
    wal.close()
    reopened = WriteAheadLog(folder)
    recovered = reopened.open()
    assert list(recovered.chunks) == [later] and reopened.spares == on_disk()


async def test_one_fsync_serves_many_concurrent_appends(tmp_path):
    syncs: list[float] = []
    wal = WriteAheadLog(tmp_path / "wal", fsync_seconds=syncs.append)
    wal.open()
    lsns = await asyncio.gather(*(wal.append(payload(i), 1) for i in range(200)))
    assert sorted(lsns) == list(lsns) and len(set(lsns)) == 200
    # Handed over in one turn of the loop, they share one group: one write, one fsync.
    assert len(syncs) == 1, f"{len(syncs)} fsyncs for 200 appends"
    later = await asyncio.gather(*(wal.append(payload(i), 1) for i in range(50)))
    assert len(syncs) == 2 and min(later) > max(lsns)


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 4 MiB tmpfs: writes fail with ENOSPC for real."""
    with tmpfs(tmp_path / "tiny", "size=4m") as mount:
        yield mount


async def test_a_full_disk_refuses_the_append_and_leaves_no_torn_record(tiny_disk: Path):
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * 1024 * 1024)
    wal = WriteAheadLog(tiny_disk / "wal", segment_bytes=1024 * 1024)
    wal.open()
    acknowledged = []
    with pytest.raises(OSError) as raised:
        for i in range(100):
            acknowledged.append(await wal.append(payload(i, 300_000), 1))
    assert raised.value.errno == errno.ENOSPC  # a new segment could not be allocated
    assert 3 <= len(acknowledged) < 11
    filler.unlink()  # space comes back: appends go on
    later = await wal.append(payload(500, 300_000), 1)
    await wal.flush_pending()
    wal.close()
    recovered = WriteAheadLog(tiny_disk / "wal").open()
    assert recovered.torn_bytes == 0
    assert list(recovered.chunks) == acknowledged + [later]


async def test_a_large_record_checksummed_in_one_piece_reads_back(tmp_path):
    """The CRC is taken 4 KiB at a time (so the writer thread keeps the GIL); the value is plain
    CRC-32 of the header fields and the payload, so logs written either way read alike."""
    import struct
    import zlib

    wal = WriteAheadLog(tmp_path / "wal")
    wal.open()
    big = payload(1, 70_000)
    lsn = await wal.append(big, 7)
    wal.close()
    segment = sorted((tmp_path / "wal").glob("*.wal"))[-1]
    data = segment.read_bytes()
    length, crc, kind, got_lsn, events = HEADER.unpack_from(data, 0)
    assert (length, got_lsn, events) == (len(big), lsn, 7)
    assert crc == zlib.crc32(big, zlib.crc32(struct.pack("<BQI", kind, lsn, events)))
    assert WriteAheadLog(tmp_path / "wal").open().chunks == {lsn: (7, big)}
