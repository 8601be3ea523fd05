"""Small helpers shared by several test modules (one copy each)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

from conftest import ADMIN_TOKEN
from tournaments import lifecycle
from tournaments.model import Tournament

AT = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def make(fmt: str, n: int, **s) -> Tournament:
    """A started tournament of `fmt` with participants p1..pn (seeded in that order)."""
    t = lifecycle.new_tournament(fmt, s)
    for i in range(n):
        t, _, _ = lifecycle.add_participant(t, f"p{i + 1}", actor="org", at=AT)
    t, _ = lifecycle.start(t, actor="org", at=AT)
    return t


async def ok(resp, status: int = 200) -> dict:
    """Assert the HTTP status (showing the body when it differs); the JSON body, {} when empty."""
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else {}


def cli(*args: str) -> str:
    """Run `fragstats <args>` as a subprocess (admin token set, PYTHONPATH kept); its stdout. Asserts exit 0."""
    env = {"FRAGSTATS_ADMIN_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run([sys.executable, "-m", "fragstats.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout
