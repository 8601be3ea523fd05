"""Pieces of a benchmark run: a `fragstats serve` under test, the wrk load generator, samplers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ADMIN = "fsa_bench_admin"
LUA = Path(__file__).with_name("ingest.lua")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def which_or_install(binary: str, package: str) -> str | None:
    """Path of `binary`; installs Debian's `package` when it is missing and we are root."""
    found = shutil.which(binary)
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], check=False,
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which(binary)
    return found


def ensure_wrk() -> str:
    """Path of wrk; installs Debian's package when missing and we are root."""
    found = which_or_install("wrk", "wrk")
    if not found:
        raise SystemExit("wrk not found: apt-get install wrk")
    return found


class App:
    """A `fragstats serve` subprocess on a fresh data dir, with its server token."""

    def __init__(self, root: Path, env: dict[str, str] | None = None):
        self.data_dir = root / f"app-{int(time.time() * 1000)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FRAGSTATS_ADMIN_TOKEN": ADMIN, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.token = ""

    def __enter__(self) -> "App":
        self.data_dir.mkdir(parents=True)
        log = open(self.data_dir / "serve.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "fragstats.cli", "serve", "--data-dir", str(self.data_dir),
                                      "--port", str(self.port)], stdout=log, stderr=log, env=self.env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError((self.data_dir / "serve.log").read_text()[-2000:])
            time.sleep(0.2)
        resp = httpx.post(self.url + "/api/v1/servers", json={"name": "bench"},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        self.token = resp.json()["token"]
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def status(self) -> dict:
        return httpx.get(self.url + "/api/v1/ingest/status", headers={"Authorization": f"Bearer {ADMIN}"},
                         timeout=60).json()

    def cpu_seconds(self) -> float:
        """CPU time of the app and its embedded engines (children)."""
        proc = psutil.Process(self.proc.pid)
        total = sum(proc.cpu_times()[:2])
        return total

    def wait_drained(self, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if st["queued"] == 0 and st["in_flight"] == 0:
                return st
            if time.monotonic() > deadline:
                return st
            time.sleep(0.25)


class BareApp:
    """bench/bare.py (a bare ASGI app on the server stack of `fragstats serve`) in a subprocess on a
    free port; has the `url` and `token` run_wrk needs."""

    token = "-"  # the wrk script sends it; the bare app ignores it

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "BareApp":
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.bare", "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.post(self.url + "/api/v1/ingest/events", content=b"[]", timeout=2).status_code == 202:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"bench.bare exited with {self.proc.returncode}")
            time.sleep(0.1)
        raise RuntimeError("bench.bare did not answer within 60 s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class RssSampler:
    """Peak resident memory of a process, sampled every 100 ms in a thread."""

    pid: int
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "RssSampler":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_wrk(wrk: str, app: App, body_list: Path, seconds: float, connections: int, pace_ms: float = 0.0,
            threads: int = 2, timeout_s: int = 10, path: str = "/api/v1/ingest/events") -> dict:
    """One wrk run against `app` (anything with `url` and `token`); returns the script's summary
    (requests, latency percentiles in µs, statuses, errors)."""
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s}s",
           "-s", str(LUA), app.url, "--", app.token, str(body_list), str(pace_ms), "50", path]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
