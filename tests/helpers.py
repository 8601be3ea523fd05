"""Small helpers shared by several test modules (one copy each)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import httpx
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


class GameServer(threading.Thread):
    """A game server posting requests back to back (with `pause_s` between them) to a real
    `fragstats serve` until `stop` is set. Request number k carries `events` events of this
    client's match with timestamps `k.00`, `k.01`, ... so that what is stored can be counted per
    request. Remembers which requests were acknowledged (202) and every status it got."""

    def __init__(self, url: str, token: str, stop: threading.Event, events: int, make_event: Callable[[], dict],
                 pause_s: float = 0.0, prefix: str = "load_"):
        super().__init__(daemon=True)
        self.url, self.token, self.stop = url, token, stop
        self.events, self.make_event, self.pause_s = events, make_event, pause_s
        self.match_id = prefix + uuid.uuid4().hex[:12]
        self.acknowledged: list[int] = []
        self.statuses: Counter = Counter()
        self.retry_after: set[str] = set()
        self.sent = 0

    def body(self, request_no: int) -> bytes:
        return json.dumps([{**self.make_event(), "match_id": self.match_id, "timestamp": f"{request_no}.{i:02d}"}
                           for i in range(self.events)]).encode()

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                self.sent += 1
                try:
                    resp = http.post(self.url + "/api/v1/ingest/events", content=self.body(self.sent),
                                     headers={"X-Server-Token": self.token, "Content-Type": "application/json"})
                except httpx.HTTPError:
                    return  # the server is gone
                self.statuses[resp.status_code] += 1
                if resp.status_code == 202:
                    assert resp.json()["accepted"] == self.events
                    self.acknowledged.append(self.sent)
                elif resp.status_code in (429, 503, 507):
                    self.retry_after.add(resp.headers.get("Retry-After", ""))
                    time.sleep(0.05)
                if self.pause_s:
                    time.sleep(self.pause_s)


def stored_per_request(url: str, match_id: str) -> Counter:
    """Events stored per request number of a `GameServer`'s match (read through the timeline)."""
    counts: Counter = Counter()
    offset = 0
    while True:
        page = httpx.get(f"{url}/api/v1/stats/match/{match_id}/timeline?limit=10000&offset={offset}", timeout=30)
        assert page.status_code == 200, page.text
        events = page.json()["events"]
        counts.update(int(e["timestamp"]) for e in events)
        if len(events) < 10000:
            return counts
        offset += 10000


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0, every_s: float = 0.05) -> None:
    """Wait until `condition()` holds (e.g. a background task finished), or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every_s)
