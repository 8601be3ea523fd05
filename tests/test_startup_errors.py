"""Start-up errors are one sentence (issue 10, point 7): the real `fragstats serve` as a subprocess, on
data dirs that cannot be used (a file, a read-only mount, a full disk: small tmpfs mounts, which the
suite can make because it runs as root, as CI does), an unusable sub-folder, a bad setting and an
unreachable server. Each exits 1 with one line `cannot start: <what, where, why>` and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, tmpfs


def serve(data_dir: Path, **env: str) -> tuple[int, str]:
    """Run `fragstats serve` until it exits (it must, here); returns (exit code, stdout + stderr)."""
    done = subprocess.run([sys.executable, "-m", "fragstats.cli", "serve", "--data-dir", str(data_dir),
                           "--port", str(free_port())],
                          env={k: v for k, v in {**os.environ, **env}.items() if k != "FRAGSTATS_ADMIN_TOKEN"},
                          capture_output=True, text=True, timeout=180)
    return done.returncode, done.stdout + done.stderr


def sentence(output: str) -> str:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("cannot start: ")]
    assert len(lines) == 1, output
    return lines[0]


def test_a_file_where_the_data_dir_should_be(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    code, out = serve(tmp_path / "data")
    assert code == 1 and sentence(out) == f"cannot start: the data dir {tmp_path / 'data'} is not a directory"


def test_a_read_only_data_dir(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        code, out = serve(ro)
    assert code == 1
    assert sentence(out) == f"cannot start: the data dir {ro} is not writable (Read-only file system)"


def test_a_full_disk(tmp_path):
    with tmpfs(tmp_path / "full", "size=20m") as full:
        code, out = serve(full)
    assert code == 1
    line = sentence(out)
    assert line.startswith(f"cannot start: embedded Postgres could not initialise {full}/postgres/pgdata: "), line
    assert "No space left on device" in line or "Check free disk space" in line, line


def test_a_file_where_an_engine_folder_should_be(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "postgres").write_text("in the way")
    code, out = serve(tmp_path / "data")
    assert code == 1
    assert sentence(out) == f"cannot start: embedded Postgres cannot prepare {tmp_path}/data/postgres: File exists"


def test_a_bad_setting(tmp_path):
    code, out = serve(tmp_path / "data", FRAGSTATS_AUTH_FAILURE_BURST="0")
    assert code == 1
    assert sentence(out).startswith("cannot start: the setting FRAGSTATS_AUTH_FAILURE_BURST is invalid: "), out


@pytest.mark.parametrize("variable,url,engine", [
    ("FRAGSTATS_POSTGRES_URL", "postgresql://fragstats:s3cret-pw@127.0.0.1:{port}/fragstats", "Postgres"),
    ("FRAGSTATS_REDIS_URL", "redis://:s3cret-pw@127.0.0.1:{port}/0", "Redis"),
])
def test_an_unreachable_server_is_named_without_its_password(tmp_path, variable, url, engine):
    code, out = serve(tmp_path / "data", **{variable: url.format(port=free_port())})
    assert code == 1
    line = sentence(out)
    assert line.startswith(f"cannot start: cannot connect to {engine} at ") and "***@127.0.0.1" in line, line
    assert "refused" in line.lower() and "s3cret-pw" not in out
