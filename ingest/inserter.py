"""One batch into ClickHouse: the insert, its retries, and the isolation of refused events.

An insert runs in a worker thread (`raw_insert` of RowBinary rows, ingest/rows.py: chDB parses
them with the GIL released) under an `insert_deduplication_token`, so that any repeat of the same batch — a
retry whose answer was lost, a spool replay, a write-ahead log replay after a crash — is dropped by
ClickHouse as a duplicate block instead of counted twice (raw_events and every view's target set
`non_replicated_deduplication_window`; checked here: 3 retries of one block count once in the
table and in every view, tests/test_pipeline.py).

Failures are of two kinds (`refused_for_content`):
- the engine is unwell (unreachable, out of disk, a timeout, a table missing): retried with
  backoff, then the caller spools the batch and replays it later;
- ClickHouse refuses the *rows* (a value it cannot parse, a string too long, a key without a
  column): retrying cannot help, and one bad event must not hold back the thousands beside it.
  `isolate()` splits the batch in halves, recursively, storing every half that goes in, until the
  refused events stand alone; those are returned for the dead-letter store, each as the JSON
  object of its event (a row read back, ingest/rows.py `readable`).

Tokens of the halves derive from the batch's token and their place in the split (`<token>/0`,
`<token>/01`, ...): the same batch always splits the same way, so a repeated isolation is
deduplicated piece by piece too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from fragstats.metrics import Metrics
from ingest import rows

log = logging.getLogger("fragstats.ingest")

# The rows name their columns (ingest/rows.py COLUMNS): a column the running DDL lacks (a migration
# mismatch) fails the insert with NO_SUCH_COLUMN_IN_TABLE, a content error, so the events go to the
# dead-letter store, kept for a redrive.
INSERT_SETTINGS = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "max_threads": 1,
    "max_insert_threads": 1,
    "input_format_parallel_parsing": 0,
}

# ClickHouse error names that mean "these rows cannot be stored as they are" (source: ClickHouse's
# src/Common/ErrorCodes.cpp). Everything else is taken as the engine being unwell.
CONTENT_ERRORS = frozenset({
    "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING",
    "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME",
    "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_BOOL", "CANNOT_PARSE_UUID", "CANNOT_READ_ARRAY_FROM_TEXT",
    "CANNOT_READ_MAP_FROM_TEXT", "CANNOT_READ_ALL_DATA", "INCORRECT_DATA", "TOO_LARGE_STRING_SIZE",
    "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN", "CANNOT_CONVERT_TYPE",
    "ARGUMENT_OUT_OF_BOUND", "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", "DECIMAL_OVERFLOW",
    "NO_SUCH_COLUMN_IN_TABLE", "TOO_LARGE_ARRAY_SIZE", "SIZES_OF_ARRAYS_DONT_MATCH", "VIOLATED_CONSTRAINT",
})
_DISK_ERRORS = ("NOT_ENOUGH_SPACE", "No space left on device", "CANNOT_WRITE_TO_FILE_DESCRIPTOR",
                "Disk quota exceeded")


def refused_for_content(exc: BaseException) -> bool:
    """True when ClickHouse refused the rows themselves (see CONTENT_ERRORS), not when it is unwell."""
    text = str(exc)
    if any(marker in text for marker in _DISK_ERRORS):
        return False
    name = getattr(exc, "name", None)
    if name:
        return name in CONTENT_ERRORS
    return any(f"({n})" in text for n in CONTENT_ERRORS)


def out_of_disk(exc: BaseException) -> bool:
    """True when the failure is the disk being full (ours or ClickHouse's)."""
    return any(marker in str(exc) for marker in _DISK_ERRORS)


def short_reason(exc: BaseException) -> str:
    """ClickHouse's message without the repeated prefix and file details, at most 500 characters."""
    text = " ".join(str(exc).split())
    text = text.replace("DB::Exception: ", "")
    return text[:500]


@dataclass
class Isolation:
    """What isolating one batch did."""

    committed: int = 0  # events stored
    refused: list[tuple[bytes, str]] = field(default_factory=list)  # (the event as JSON, ClickHouse's reason)
    inserts: int = 0  # insert attempts spent


class Inserter:
    """Inserts batches for the pipeline; counts what it does in the metrics."""

    def __init__(self, metrics: Metrics, retries: int, backoff_ms: int, isolation_max_inserts: int = 256):
        self.metrics = metrics
        self.retries = retries
        self.backoff_s = backoff_ms / 1000
        self.isolation_max_inserts = isolation_max_inserts
        self.committed = 0  # events inserted since start (spool replays and isolations included)
        self.last_commit = 0.0  # monotonic time of the last insert that went in

    @staticmethod
    def _insert_blocking(client: Any, payload: bytes, token: str) -> None:
        settings = dict(INSERT_SETTINGS, insert_deduplication_token=token)
        client.raw_insert("raw_events", rows.COLUMNS, payload, settings=settings, fmt=rows.FORMAT)

    async def insert_once(self, client: Any, payload: bytes, token: str, events: int) -> None:
        """One insert attempt in a worker thread; raises the client's error on failure."""
        start = time.perf_counter()
        try:
            await asyncio.to_thread(self._insert_blocking, client, payload, token)
        except Exception:
            self.metrics.insert_failures.inc()
            raise
        self.metrics.insert_seconds.observe(time.perf_counter() - start)
        self.metrics.events_committed.inc(events)
        self.committed += events
        self.last_commit = time.monotonic()

    async def insert_with_retries(self, client: Any, payload: bytes, token: str, events: int) -> BaseException | None:
        """Insert, retrying failures of the engine with exponential backoff (not refusals of the
        rows: retrying those cannot help). None when committed, else the last error."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(1 + self.retries),
                wait=wait_exponential(multiplier=self.backoff_s, min=self.backoff_s, max=30),
                retry=retry_if_exception(lambda exc: not refused_for_content(exc)),
                reraise=True,
            ):
                with attempt:
                    await self.insert_once(client, payload, token, events)
        except Exception as exc:
            log.warning("insert of %d events failed: %s", events, short_reason(exc))
            return exc
        return None

    async def isolate(self, client: Any, payload: bytes, token: str, first_error: BaseException,
                      force: bool = False) -> Isolation:
        """Store what ClickHouse takes of a refused batch, return the events it refuses.

        `payload` failed with `first_error`. Halves are inserted recursively until each refused
        event stands alone. A half failing because the engine is unwell (not for its content)
        raises that error: the caller keeps the whole batch for later (its stored halves are
        deduplicated then). With `force` (a batch that keeps failing while others go in), any
        failure of a piece counts as a refusal once some other piece of the batch was stored.
        After `isolation_max_inserts` attempts, each piece still refused is returned row by row."""
        result = Isolation()
        try:
            lines = await asyncio.to_thread(rows.split, payload)
        except ValueError:  # not whole rows (a damaged spool file): kept whole, as it is
            result.refused.append((payload, short_reason(first_error)))
            return result
        await self._split(client, lines, token, first_error, force, result)
        return result

    async def _split(self, client: Any, lines: list[bytes], token: str, error: BaseException, force: bool,
                     result: Isolation) -> None:
        if len(lines) == 1 or result.inserts >= self.isolation_max_inserts:
            reason = short_reason(error)
            result.refused.extend((rows.readable(line), reason) for line in lines)
            return
        mid = len(lines) // 2
        failed: list[tuple[list[bytes], str, BaseException]] = []
        for suffix, part in (("0", lines[:mid]), ("1", lines[mid:])):
            part_token = f"{token}/{suffix}"
            result.inserts += 1
            try:
                await self.insert_once(client, b"".join(part), part_token, len(part))
            except Exception as exc:
                failed.append((part, part_token, exc))
            else:
                result.committed += len(part)
        for part, part_token, exc in failed:
            if not refused_for_content(exc) and not (force and result.committed):
                raise exc
            await self._split(client, part, part_token, exc, force, result)
