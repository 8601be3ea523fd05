"""Stop acknowledging before the disk is full, and start again by itself once space is back.

A 202 must be a promise: with the data dir's disk full, the write-ahead log cannot take events,
ClickHouse cannot write parts and the spool cannot hold failed batches. So ingest answers 507 +
`Retry-After` (nothing of the request kept) while free space on the data dir's filesystem is below
`FRAGSTATS_MIN_FREE_DISK_BYTES`, or after a write failed with ENOSPC/EDQUOT, until a check finds
the space back *and* a probe file can be written and fsynced there. `/ready` says why, and the
gauge `fragstats_disk_full` (1) drives the `FragstatsDiskFull` alert.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("fragstats.disk")

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError that means "no space" (ENOSPC, EDQUOT)."""
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


class DiskGuard:
    """The data dir's free space against a floor; `full` is read on every ingest request."""

    def __init__(self, folder: Path, min_free_bytes: int, on_change=None):
        """`on_change(full: bool)` is called when the state flips (metrics)."""
        self.folder = folder
        self.min_free_bytes = min_free_bytes
        self.on_change = on_change
        self.full = False
        self.reason = ""
        self.free_bytes = 0

    def trip(self, exc: OSError, where: str) -> None:
        """A write failed for lack of space: stop acknowledging now, not at the next check."""
        self._set(True, f"{where}: {exc.strerror or exc}")

    def _set(self, full: bool, reason: str) -> None:
        if full != self.full:
            if full:
                log.error("disk full, ingest stops acknowledging (507): %s", reason)
            else:
                log.warning("disk space is back (%d MiB free): ingest acknowledges again", self.free_bytes >> 20)
            if self.on_change is not None:
                self.on_change(full)
        self.full = full
        self.reason = reason if full else ""

    def check(self) -> bool:
        """Look at free space now (and, when full, try a probe write); returns `full`. Blocking: run
        it in a worker thread."""
        try:
            self.free_bytes = shutil.disk_usage(self.folder).free
        except OSError as exc:
            self._set(True, f"cannot read free space of {self.folder}: {exc.strerror}")
            return self.full
        if self.free_bytes < self.min_free_bytes:
            self._set(True, f"{self.folder} has {self.free_bytes >> 20} MiB free, below the floor of "
                            f"{self.min_free_bytes >> 20} MiB (FRAGSTATS_MIN_FREE_DISK_BYTES)")
        elif self.full:
            probe = self.folder / ".disk-probe"
            try:
                with open(probe, "wb") as fh:
                    fh.write(b"\0" * 65536)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                self._set(True, f"{self.folder}: a probe write failed: {exc.strerror}")
            else:
                self._set(False, "")
            finally:
                probe.unlink(missing_ok=True)
        return self.full

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """Check every `interval_s` seconds until `stop` is set."""
        while not stop.is_set():
            await asyncio.to_thread(self.check)
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except asyncio.TimeoutError:
                pass
