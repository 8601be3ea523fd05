"""Small helpers shared by several test modules (one copy each)."""

from __future__ import annotations

import datetime as dt

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
