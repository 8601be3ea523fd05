"""Shared fixtures: one real app per test session (embedded chDB, Postgres, Redis), and helpers to
run a real `fragstats serve` process.

chDB allows one data path per process, so every in-process test shares the session's app; tests
that need other settings (tiny queue, signals, restarts) run `fragstats serve` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from fragstats.app import create_app
from fragstats.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"  # real input carried in the repo (examples/README.md says where from)
Q3_LOG = EXAMPLES / "q3" / "games.log"
MOHAA_KILL = EXAMPLES / "mohaa" / "real-player-kill.json"
ADMIN_TOKEN = "fsa_test_admin_token"


def pytest_configure(config):
    """As root, each session gets its own base temp dir outside /tmp/pytest-of-root.

    The embedded Postgres runs as an unprivileged user who must walk down to its data dir
    (fragstats.embedded opens the parents o+x); pytest makes /tmp/pytest-of-root 0700 again at
    every session start, so a second session (a developer's run beside CI's) would lock the first
    session's Postgres out of its files mid-run ("pg_control: Permission denied")."""
    if os.geteuid() != 0 or config.option.basetemp:
        return
    for old in Path(tempfile.gettempdir()).glob("fragstats-pytest-*"):  # sessions untouched for 3 h
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 3 * 3600:
                shutil.rmtree(old, ignore_errors=True)
    config.option.basetemp = tempfile.mkdtemp(prefix="fragstats-pytest-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def on_uvicorn(asgi_app):
    """`asgi_app` served by a real uvicorn with our HTTP protocol (fragstats.http) on a free
    loopback port, in this event loop; yields the port, stops the server on exit."""
    import uvicorn

    from fragstats.http import CoalescingHttpToolsProtocol

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi_app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol,
                                           log_level="critical", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task


def stop_process(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A real tmpfs mounted at `path` (e.g. `size=20m`): a disk that fills up, or is read-only, for real."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, f"mounting a tmpfs needs root (CI runs as root): {done.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("app"), admin_token=ADMIN_TOKEN,
                        flush_interval_ms=20, retry_backoff_ms=20, insert_retries=1,
                        spool_replay_interval_ms=100, stats_cache_s=0)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as c:
        yield c


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def new_server(client, name: str = "test server") -> tuple[int, str]:
    """Register a game server through the API; returns (server_id, token)."""
    resp = await client.post("/api/v1/servers", json={"name": name}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["server_id"], body["token"]


async def settle(app, timeout: float = 10.0) -> None:
    """Wait until everything admitted so far is committed (queue empty, nothing in flight) and the
    after-commit hooks (live state, tournament results) have seen it."""
    pipeline = app.state.pipeline
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pipeline.queue.size == 0 and pipeline.in_flight == 0 and pipeline.hooks_pending == 0:
            await asyncio.sleep(0.05)
            if pipeline.queue.size == 0 and pipeline.in_flight == 0 and pipeline.hooks_pending == 0:
                return
        await asyncio.sleep(0.02)
    raise AssertionError("pipeline did not settle")


class ServeProcess:
    """A real `fragstats serve` subprocess on a free port.

    `env` adds to (a value of None removes from) this process' environment; `command` is the
    `fragstats` command to run (default: this interpreter's `-m fragstats.cli`), `cwd` its folder."""

    def __init__(self, data_dir: Path, env: dict[str, str | None] | None = None,
                 command: list[str] | None = None, cwd: Path | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        merged = {**os.environ, "FRAGSTATS_ADMIN_TOKEN": ADMIN_TOKEN, **(env or {})}
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.command = command or [sys.executable, "-m", "fragstats.cli"]
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.log = data_dir / "serve.log"

    def start(self, timeout: float = 90) -> "ServeProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [*self.command, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            stdout=logf, stderr=logf, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited early ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise AssertionError(f"serve not ready:\n{self.log.read_text()[-3000:]}")

    def children(self) -> list[int]:
        import psutil

        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, 60)


@pytest.fixture
def serve_factory(tmp_path):
    started: list[ServeProcess] = []

    def make(env: dict[str, str | None] | None = None, data_dir: Path | None = None,
             command: list[str] | None = None, cwd: Path | None = None) -> ServeProcess:
        proc = ServeProcess(data_dir or tmp_path / "data", env, command, cwd)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()
