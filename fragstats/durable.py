"""Files that survive a crash: written whole or not at all, and named durably.

The spool, the dead-letter store and the write-ahead log all need the same two POSIX steps:
fsync a file's data before trusting it, and fsync its directory after creating or renaming it
(rename(2) alone may be lost by a crash of the machine).
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make the names in `folder` durable (new, renamed or deleted files). Raises OSError."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary name, fsync, rename, fsync the folder.

    Readers see the old file or the whole new one, never part of it. Raises OSError (ENOSPC on a
    full disk); the temporary file is removed then."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
