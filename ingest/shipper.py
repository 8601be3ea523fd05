"""Ship a Quake-family ``games.log`` (Quake III Arena, Urban Terror 4.x) to a fragstats server over HTTP.

Reads the file (once, or tailing it like ``tail -F``), turns lines into events
with ``ingest.q3log.Q3LogParser`` and POSTs them in batches to
``{url}/api/v1/ingest/events`` with the ``X-Server-Token`` header, as a JSON
array (the tracker wire format, see ``ingest.events``).

Retries: HTTP 429 waits for its ``Retry-After``; 5xx and connection errors back
off exponentially with jitter; any other 4xx fails at once with ``IngestError``.
Every POST carries ``Idempotency-Key: <sha256 of the body>``: a retried POST
whose first attempt was stored but whose answer was lost is recognised by the
server (for a day) and not stored twice; so is an identical re-import.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO

import httpx
import msgspec
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tqdm import tqdm

from ingest.q3log import Q3LogParser, log_span_seconds

__all__ = ["ImportReport", "IngestError", "Shipper", "import_log", "start_from_mtime"]

INGEST_PATH = "/api/v1/ingest/events"
# Retry-After beyond this is treated as this: a follower should not go silent for hours.
MAX_RETRY_AFTER_SECONDS = 300.0


class IngestError(RuntimeError):
    """The server refused a batch (a 4xx other than 429, or retries ran out).

    ``status`` is the last HTTP status (None when the last failure was a
    connection error) and ``body`` the response text, cut to 2,000 characters.
    """

    def __init__(self, status: int | None, body: str, message: str | None = None) -> None:
        self.status = status
        self.body = body
        super().__init__(message or f"ingest failed: HTTP {status}: {body}")


class _Retryable(Exception):
    # A response worth trying again (429, 5xx); carries the server's wait hint.
    def __init__(self, status: int, body: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


def _parse_retry_after(value: str | None) -> float | None:
    # RFC 9110: either delay-seconds or an HTTP-date.
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Retryable, httpx.TransportError))


class Shipper:
    """POSTs event batches to one fragstats server, retrying as the server asks.

    ``url`` is the server's base URL (``http://host:8080``); ``token`` the
    game server's ingest token. ``max_attempts`` counts the first try;
    ``backoff_initial``/``backoff_max`` (seconds) shape the exponential wait
    with jitter used for 5xx and connection errors. Counters: ``batches``
    (accepted POSTs), ``retries``, ``accepted`` and ``rejected`` (summed from
    the 202 bodies), ``errors`` (the first per-event errors the server gave).
    Use as a context manager or call ``close()``.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        max_attempts: int = 10,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + INGEST_PATH
        self._headers = {"X-Server-Token": token, "Content-Type": "application/json"}
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._max_attempts = max_attempts
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial, jitter=backoff_initial, max=backoff_max
        )
        self.batches = 0
        self.retries = 0
        self.accepted = 0
        self.rejected = 0
        self.errors: list[Any] = []

    def __enter__(self) -> Shipper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if this shipper created it."""
        if self._owns_client:
            self._client.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return self._backoff(state)

    def _count_retry(self, state: RetryCallState) -> None:
        self.retries += 1

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """POST one batch; return the server's JSON answer (``{}`` if not JSON).

        Raises ``IngestError`` on a 4xx other than 429 (at once), or when
        ``max_attempts`` tries all ended in 429, 5xx or a connection error.
        """
        if not events:
            return {}
        body = msgspec.json.encode(events)
        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            response = retrying(self._post, body)
        except _Retryable as exc:
            raise IngestError(
                exc.status, exc.body,
                f"ingest failed after {self._max_attempts} attempts: HTTP {exc.status}: {exc.body}",
            ) from exc
        except httpx.TransportError as exc:
            raise IngestError(
                None, "", f"ingest failed after {self._max_attempts} attempts: {exc!r}"
            ) from exc
        self.batches += 1
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict):
            self.accepted += int(answer.get("accepted", 0) or 0)
            self.rejected += int(answer.get("rejected", 0) or 0)
            if answer.get("errors") and len(self.errors) < 20:
                self.errors.extend(answer["errors"][: 20 - len(self.errors)])
        return answer if isinstance(answer, dict) else {}

    def _post(self, body: bytes) -> httpx.Response:
        # The same key on every retry of this body: a retry whose first attempt was stored but
        # whose answer was lost is answered from the server's record instead of stored twice.
        key = hashlib.sha256(body).hexdigest()
        response = self._client.post(self.endpoint, content=body, headers={**self._headers, "Idempotency-Key": key})
        status = response.status_code
        if status < 400:
            return response
        text = response.text[:2000]
        if status in (429, 409):  # 409: the same Idempotency-Key is still being handled
            raise _Retryable(status, text, _parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise _Retryable(status, text, None)
        raise IngestError(status, text)


@dataclass
class ImportReport:
    """What an import did. Counts of lines and events; ``start`` is the wall
    clock used for log clock 0:00; ``skipped`` the lines that gave no event by
    kind (``unknown_line``, ``malformed:<Keyword>``, ``unknown_player:<Keyword>``,
    ``ignored:<Keyword>``; see ``Q3LogParser``), of which ``unknown_lines``,
    ``skipped_lines`` and ``ignored_lines`` are the sums; ``unknown_samples``
    the first lines not understood; ``server_errors`` the first per-event
    errors the server sent."""

    path: str
    start: datetime
    lines: int = 0
    events: int = 0
    unknown_lines: int = 0
    skipped_lines: int = 0
    ignored_lines: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    retries: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown_samples: list[str] = field(default_factory=list)
    server_errors: list[Any] = field(default_factory=list)

    def summary(self) -> str:
        """One human line, for the CLI to print."""
        return (
            f"{self.path}: {self.lines} lines, {self.events} events in {self.batches} batches "
            f"({self.retries} retries); server accepted {self.accepted}, rejected {self.rejected}; "
            f"{self.unknown_lines} lines not understood, {self.skipped_lines} about unknown players, "
            f"{self.ignored_lines} ignored; skipped: {json.dumps(self.skipped, sort_keys=True)}"
        )


def _decode(raw: bytes) -> str:
    # Q3 names are bytes; most logs are UTF-8 but old servers write Latin-1.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def start_from_mtime(path: str | os.PathLike[str]) -> datetime:
    """Wall clock of log clock 0:00, taking the last line to be written at the file's mtime.

    Returns a UTC datetime. Raises ``OSError`` if the file cannot be read.
    """
    mtime = os.stat(path).st_mtime
    with open(path, "rb") as f:
        span = log_span_seconds(_decode(line) for line in f)
    return datetime.fromtimestamp(mtime, tz=timezone.utc) - timedelta(seconds=span)


class _Tail:
    # Reads whole lines; with follow, waits for more like `tail -F`: a
    # replaced file (new inode) is read from its start once the old one is
    # drained, a truncated one from offset 0.
    def __init__(self, path: str, follow: bool) -> None:
        self.path = path
        self.follow = follow
        self.file: BinaryIO = open(path, "rb")
        self.partial = b""

    def close(self) -> None:
        self.file.close()

    def readline(self) -> bytes | None:
        """A complete line, or None at (current) end of file."""
        chunk = self.file.readline()
        if not chunk:
            return None
        if not chunk.endswith(b"\n") and self.follow:
            # The writer is mid-line: keep the piece until the rest arrives.
            self.partial += chunk
            return None
        line, self.partial = self.partial + chunk, b""
        return line

    def reopen_if_rotated(self) -> bool:
        """True if the file was replaced or truncated (and is now reopened)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        current = os.fstat(self.file.fileno())
        if (st.st_ino, st.st_dev) != (current.st_ino, current.st_dev):
            self.file.close()
            self.file = open(self.path, "rb")
            self.partial = b""
            return True
        if st.st_size < self.file.tell():
            self.file.seek(0)
            self.partial = b""
            return True
        return False


def import_log(
    path: str | os.PathLike[str],
    url: str,
    token: str,
    *,
    start: datetime | None = None,
    follow: bool = False,
    batch_size: int = 500,
    progress: bool = True,
    stop: threading.Event | None = None,
    poll_interval: float = 0.5,
    shipper: Shipper | None = None,
) -> ImportReport:
    """Import an ioq3-style ``games.log`` (Quake III, Urban Terror 4.x) into fragstats; return an ``ImportReport``.

    ``url`` is the server's base URL, ``token`` a game server's ingest token.
    ``start`` (aware, or naive = UTC) is the wall clock of log clock 0:00; by
    default the file's mtime minus the log's clock span (``start_from_mtime``).
    Match and session ids derive from it: re-importing with the same ``start``
    sends the same ids. Events go out in batches of at most ``batch_size``.

    One-shot (``follow=False``): reads to end of file, ends a match left open
    there, sends everything. ``follow=True``: then keeps tailing like
    ``tail -F`` (polling every ``poll_interval`` s, reopening on rotation or
    truncation, sending what it has whenever it catches up) until ``stop`` is
    set or KeyboardInterrupt; on stop it sends what it holds and returns, never
    ending a match the log has not ended.

    Lines that give no event are counted by kind (never fatal). Raises ``IngestError`` when
    the server refuses a batch (4xx other than 429) or retries run out, and
    ``OSError`` when the file cannot be opened. ``shipper`` replaces the
    default ``Shipper(url, token)`` (tests, custom retry settings).
    """
    path = os.fspath(path)
    if start is None:
        start = start_from_mtime(path)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    report = ImportReport(path=path, start=start)
    parser = Q3LogParser(start)
    owns_shipper = shipper is None
    ship = shipper or Shipper(url, token)
    pending: list[dict[str, Any]] = []
    tail = _Tail(path, follow)
    bar = tqdm(
        total=os.fstat(tail.file.fileno()).st_size, unit="B", unit_scale=True,
        desc=os.path.basename(path), disable=not progress,
    )

    def flush(limit: int) -> None:
        while len(pending) >= limit and pending:
            batch = pending[:batch_size]
            ship.send(batch)
            del pending[: len(batch)]
            report.events += len(batch)

    def feed(raw: bytes) -> None:
        bar.update(len(raw))
        pending.extend(parser.feed(_decode(raw)))

    try:
        try:
            while True:
                raw = tail.readline()
                if raw is not None:
                    feed(raw)
                    if len(pending) >= batch_size:
                        flush(batch_size)
                    continue
                if not follow:
                    break
                flush(1)  # caught up: deliver what the log has so far
                if stop is not None and stop.is_set():
                    break
                if tail.reopen_if_rotated():
                    bar.reset(total=os.fstat(tail.file.fileno()).st_size)
                    continue
                if stop is not None:
                    stop.wait(poll_interval)
                else:
                    time.sleep(poll_interval)
                size = os.fstat(tail.file.fileno()).st_size
                if bar.total is not None and size > bar.total:
                    bar.total = size
                    bar.refresh()
        except KeyboardInterrupt:
            if not follow:
                raise
        # A followed file's unfinished last line is left for the next run.
        pending.extend(parser.finish(end_open_match=not follow))
        flush(1)
    finally:
        bar.close()
        tail.close()
        if owns_shipper:
            ship.close()
    return _sync(report, parser, ship)


def _sync(report: ImportReport, parser: Q3LogParser, ship: Shipper) -> ImportReport:
    report.lines = parser.lines
    report.unknown_lines = parser.unknown_lines
    report.skipped_lines = parser.skipped_lines
    report.ignored_lines = parser.ignored_lines
    report.skipped = dict(parser.skipped)
    report.unknown_samples = list(parser.unknown_samples)
    report.batches = ship.batches
    report.retries = ship.retries
    report.accepted = ship.accepted
    report.rejected = ship.rejected
    report.server_errors = list(ship.errors)
    return report
