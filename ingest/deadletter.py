"""The dead-letter store: events ClickHouse refused for their content, kept with the reason.

Validation derives every field's range from its column (ingest/events.py), so an event that
passes the door should never be refused. When one still is (a bug, a migration that does not match
the running code), the batch writer isolates it (ingest/inserter.py) and it lands here instead of
blocking its batch: the rest of the batch is stored, nothing is dropped.

Files, not a ClickHouse table: the store must work when ClickHouse is what refuses. Layout:
`<data>/dead_letter/<epoch ms>-<token>.ndjson`, one JSON object a line:
`{"failed_at": ISO-8601 UTC, "error": "<ClickHouse's message>", "row": "<the JSONEachRow line>"}`.
Each file is written to a temporary name, fsynced and renamed, so it is whole or absent.
`fragstats dead-letter redrive` (or `POST /api/v1/ingest/dead-letter/redrive`) inserts them again
after a fix; rows still refused stay, with the new error.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from fragstats.durable import write_durably


class Letter(msgspec.Struct):
    """One refused row."""

    failed_at: str
    error: str
    row: str


_decoder = msgspec.json.Decoder(Letter)
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class LetterFile:
    path: Path
    rows: int


class DeadLetters:
    """A folder of dead-letter files; counts are kept in memory after the first look."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink(missing_ok=True)  # cut before its rename: its rows are still in the batch's spool/WAL
        self._rows: dict[Path, int] = {path: _count_lines(path) for path in self.folder.glob("*.ndjson")}

    def write(self, token: str, refused: list[tuple[bytes, str]]) -> LetterFile:
        """Persist refused rows `(JSONEachRow line, error)` durably; raises OSError."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines = [_encoder.encode(Letter(now, error, row.decode("utf-8", "replace"))) for row, error in refused]
        path = self.folder / f"{int(time.time() * 1000)}-{token.replace('/', '_')}.ndjson"
        write_durably(path, b"\n".join(lines) + b"\n")
        self._rows[path] = len(lines)
        return LetterFile(path, len(lines))

    def files(self) -> list[LetterFile]:
        """Dead-letter files, oldest first."""
        return [LetterFile(path, rows) for path, rows in sorted(self._rows.items())]

    @property
    def events(self) -> int:
        """Refused events held."""
        return sum(self._rows.values())

    @staticmethod
    def read(letter_file: LetterFile) -> list[Letter]:
        return [_decoder.decode(line) for line in letter_file.path.read_bytes().splitlines() if line.strip()]

    def replace(self, letter_file: LetterFile, still_refused: list[tuple[bytes, str]]) -> None:
        """After a redrive: keep only the rows still refused (with their new error), or drop the file."""
        if still_refused:
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            lines = [_encoder.encode(Letter(now, error, row.decode("utf-8", "replace"))) for row, error in still_refused]
            write_durably(letter_file.path, b"\n".join(lines) + b"\n")
            self._rows[letter_file.path] = len(lines)
        else:
            letter_file.path.unlink(missing_ok=True)
            self._rows.pop(letter_file.path, None)

    def recent(self, limit: int = 20) -> list[dict]:
        """The newest `limit` refused rows as `{"file", "failed_at", "error", "row"}` (for the status route)."""
        out: list[dict] = []
        for letter_file in reversed(self.files()):
            for letter in reversed(self.read(letter_file)):
                out.append({"file": letter_file.path.name, "failed_at": letter.failed_at, "error": letter.error,
                            "row": letter.row})
                if len(out) >= limit:
                    return out
        return out


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())
