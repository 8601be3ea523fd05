"""SIGKILL under load with the write-ahead log loses no acknowledged event and stores none twice.

A real `fragstats serve` takes requests from several clients at once; each request carries 50
events of its client's match with timestamps `<request number>.<event number>`, so after the
restart every request can be counted on its own: acknowledged (202) -> exactly 50 stored; sent but
not answered (the kill cut it) -> 0 or 50, never a part, never twice.
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
from conftest import ADMIN
from helpers import GameServer, stored_per_request
from test_lifecycle import register, wait_for

EVENTS = 50


def jump() -> dict:
    return {"type": "jump", "player_name": "Jumper", "jump_height": "33"}


def test_sigkill_under_load_loses_no_acknowledged_event(serve_factory, tmp_path):
    data = tmp_path / "data"
    # Batches of 20k events or every 2 s: at the kill, some are queued, some being inserted.
    env = {"FRAGSTATS_DURABILITY": "wal", "FRAGSTATS_BATCH_SIZE": "20000"}
    serve = serve_factory(env, data_dir=data).start()
    _, token = register(serve.url)
    stop = threading.Event()
    clients = [GameServer(serve.url, token, stop, EVENTS, jump, prefix="crash_") for _ in range(6)]
    for c in clients:
        c.start()
    time.sleep(6)
    serve.signal(signal.SIGKILL)
    serve.wait(10)
    stop.set()
    for c in clients:
        c.join(15)
    acknowledged = sum(len(c.acknowledged) for c in clients) * EVENTS
    assert acknowledged > 5_000, "too little load to show anything"

    again = serve_factory(env, data_dir=data).start()
    status = lambda: httpx.get(again.url + "/api/v1/ingest/status", headers=ADMIN, timeout=10).json()  # noqa: E731
    first = status()
    assert first["recovered"] > 0, "the kill found nothing unstored: the test shows nothing"
    wait_for(lambda: (s := status())["queued"] == 0 and s["in_flight"] == 0 and s["spooled"] == 0, timeout=120)
    lost = duplicated = partial = 0
    for c in clients:
        counts = stored_per_request(again.url, c.match_id)
        lost += sum(1 for k in c.acknowledged if counts.get(k, 0) == 0)
        partial += sum(1 for k, n in counts.items() if 0 < n < EVENTS)
        duplicated += sum(1 for n in counts.values() if n > EVENTS)
        assert set(counts) <= set(range(1, c.sent + 1))
    assert (lost, partial, duplicated) == (0, 0, 0), f"acknowledged {acknowledged} events"
    stored = sum(sum(stored_per_request(again.url, c.match_id).values()) for c in clients)
    assert stored >= acknowledged
    print(f"acknowledged {acknowledged}, recovered at restart {first['recovered']}, stored {stored}")
