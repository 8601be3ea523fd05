"""On-disk spool for batches whose insert kept failing.

A spooled batch is the exact `JSONEachRow` payload plus its deduplication token (in the file
name), so a replay is the same insert as the failed one: if a "failed" attempt had in fact
committed, ClickHouse drops the replay as a duplicate block instead of counting it twice.
Files are written to a temporary name, fsynced, then renamed, so a crash never leaves half a batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from fragstats.durable import write_durably

log = logging.getLogger("fragstats.spool")


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    token: str
    events: int


class Spool:
    """A folder of `<epoch_ms>-<token>-<events>.ndjson` files."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink(missing_ok=True)  # a write interrupted before its rename: never acknowledged as spooled
        self._foreign: set[Path] = set()

    def write(self, payload: bytes, token: str, events: int) -> SpoolEntry:
        """Persist one batch durably (blocking: call it in a worker thread); raises OSError when
        the disk refuses (nothing is left behind then)."""
        final = self.folder / f"{int(time.time() * 1000)}-{token}-{events}.ndjson"
        write_durably(final, payload)
        return SpoolEntry(final, token, events)

    def entries(self) -> list[SpoolEntry]:
        """Spooled batches, oldest first. A file not named as ours is reported once, never replayed."""
        out = []
        for path in sorted(self.folder.glob("*.ndjson")):
            try:
                _, rest = path.stem.split("-", 1)
                token, events = rest.rsplit("-", 1)
                out.append(SpoolEntry(path, token, int(events)))
            except ValueError:
                if path not in self._foreign:
                    self._foreign.add(path)
                    log.warning("spool: %s is not a spooled batch (expected <ms>-<token>-<events>.ndjson); left alone",
                                path)
        return out

    def pending_events(self) -> int:
        return sum(e.events for e in self.entries())

    @staticmethod
    def read(entry: SpoolEntry) -> bytes:
        return entry.path.read_bytes()

    @staticmethod
    def remove(entry: SpoolEntry) -> None:
        entry.path.unlink(missing_ok=True)
