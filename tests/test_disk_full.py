"""A full disk stops acknowledgement and loses nothing (issue: 105,780 events answered 202 while
the disk was full, none stored).

`fragstats serve` runs with its whole data dir on a real 600 MiB tmpfs while game servers post.
The disk is then filled by another writer: ingest answers 507 + Retry-After, `/ready` is 503 and
says why, the gauge is 1; once the filler is gone it acknowledges again by itself, and every event
ever answered 202 is stored exactly once.
"""

from __future__ import annotations

import threading
import time

import httpx
from conftest import ADMIN, tmpfs
from helpers import GameServer, stored_per_request
from test_lifecycle import register, wait_for

EVENTS = 20


def shot() -> dict:
    return {"type": "weapon_fire", "player_name": "P", "weapon": "MP40", "ammo_remaining": "3"}


def fill(path, chunk: bytes = b"\0" * (1 << 20)) -> None:
    """Write until the disk refuses."""
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError:
            pass


def test_a_full_disk_answers_507_loses_nothing_and_recovers_by_itself(serve_factory, tmp_path):
    with tmpfs(tmp_path / "disk", "size=600m") as disk:
        env = {"FRAGSTATS_MIN_FREE_DISK_BYTES": str(16 << 20), "FRAGSTATS_DISK_CHECK_INTERVAL_MS": "200",
               "FRAGSTATS_FLUSH_INTERVAL_MS": "300", "FRAGSTATS_SPOOL_REPLAY_INTERVAL_MS": "300"}
        serve = serve_factory(env, data_dir=disk / "data").start()
        _, token = register(serve.url)
        stop = threading.Event()
        servers = [GameServer(serve.url, token, stop, EVENTS, shot, pause_s=0.02, prefix="disk_") for _ in range(3)]
        for s in servers:
            s.start()
        time.sleep(2)
        filler = disk / "filler"
        fill(filler)
        wait_for(lambda: httpx.get(serve.url + "/ready", timeout=5).status_code == 503, timeout=20)
        ready = httpx.get(serve.url + "/ready", timeout=5).json()
        assert ready["checks"]["disk"].startswith("full: "), ready
        assert "fragstats_disk_full 1.0" in httpx.get(serve.url + "/metrics", timeout=5).text
        time.sleep(3)  # keep posting into the full disk
        during = sum(s.statuses[507] for s in servers)
        assert during > 10, [s.statuses for s in servers]
        assert all(s.retry_after == {"1"} for s in servers if s.statuses[507])

        filler.unlink()  # space is back: nobody restarts anything
        wait_for(lambda: httpx.get(serve.url + "/ready", timeout=5).status_code == 200, timeout=30)
        acked_before = sum(len(s.acknowledged) for s in servers)
        wait_for(lambda: sum(len(s.acknowledged) for s in servers) > acked_before + 20, timeout=30)
        stop.set()
        for s in servers:
            s.join(30)
        status = lambda: httpx.get(serve.url + "/api/v1/ingest/status", headers=ADMIN, timeout=10).json()  # noqa: E731
        wait_for(lambda: (x := status())["queued"] == 0 and x["in_flight"] == 0 and x["spooled"] == 0, timeout=120)
        assert not [code for s in servers for code in s.statuses if code >= 500 and code != 507]
        for s in servers:
            counts = stored_per_request(serve.url, s.match_id)
            lost = [k for k in s.acknowledged if counts.get(k) != EVENTS]
            assert not lost, f"{len(lost)} acknowledged requests not stored exactly once"
            assert all(n == EVENTS for n in counts.values())
        assert "fragstats_disk_full 0.0" in httpx.get(serve.url + "/metrics", timeout=5).text
        print("statuses", [dict(s.statuses) for s in servers], "acknowledged", sum(len(s.acknowledged) for s in servers))
        serve.stop()
        (tmp_path / "serve.log").write_bytes(serve.log.read_bytes())  # the tmpfs goes: keep the log for a post-mortem
