"""A real `fragstats serve` process: SIGKILL leaves no engine behind and loses nothing committed,
SIGTERM drains what was acknowledged, a full queue sheds whole requests."""

from __future__ import annotations

import json
import signal
import time
import uuid

import httpx
import psutil

from conftest import ADMIN, MOHAA_KILL


def register(url: str) -> tuple[int, str]:
    resp = httpx.post(url + "/api/v1/servers", json={"name": "lifecycle"}, headers=ADMIN, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()["server_id"], resp.json()["token"]


def post(url: str, token: str, events: list[dict]) -> httpx.Response:
    return httpx.post(url + "/api/v1/ingest/events", content=json.dumps(events), timeout=10,
                      headers={"X-Server-Token": token, "Content-Type": "application/json"})


def fire(match_id: str, n: int) -> list[dict]:
    return [{"type": "weapon_fire", "match_id": match_id, "timestamp": str(i), "player_name": "Shooter",
             "weapon": "MP40", "ammo_remaining": "10"} for i in range(n)]


def timeline_count(url: str, match_id: str) -> int:
    resp = httpx.get(f"{url}/api/v1/stats/match/{match_id}/timeline?limit=10000", timeout=10)
    assert resp.status_code == 200
    return len(resp.json()["events"])


def wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_sigkill_leaves_no_engine_and_restart_keeps_data(serve_factory, tmp_path):
    data = tmp_path / "data"
    serve = serve_factory(data_dir=data).start()
    server_id, token = register(serve.url)
    assert post(serve.url, token, json.loads(MOHAA_KILL.read_text())).status_code == 202
    board = f"{serve.url}/api/v1/stats/leaderboard?stat=suicides&server_id={server_id}"
    wait_for(lambda: httpx.get(board).json()["total"] == 1)
    engines = serve.children()
    names = {psutil.Process(p).name() for p in engines}
    assert any("postgres" in n for n in names) and any("redis" in n or "valkey" in n for n in names), names

    serve.signal(signal.SIGKILL)
    serve.wait(10)
    wait_for(lambda: not alive(engines), timeout=15)

    again = serve_factory(data_dir=data).start()  # stale pid files and sockets must not block this
    after = httpx.get(f"{again.url}/api/v1/stats/leaderboard?stat=suicides&server_id={server_id}").json()
    assert after["total"] == 1 and after["players"][0]["suicides"] == 1
    assert post(again.url, token, fire("match_" + uuid.uuid4().hex[:16], 1)).status_code == 202  # token survived


def test_sigterm_drains_acknowledged_events_and_exits_0(serve_factory, tmp_path):
    data = tmp_path / "data"
    # A flush interval and batch size so large that nothing is written before the signal.
    slow = {"FRAGSTATS_FLUSH_INTERVAL_MS": "600000", "FRAGSTATS_BATCH_SIZE": "1000000"}
    serve = serve_factory(slow, data_dir=data).start()
    _, token = register(serve.url)
    match_id = "match_" + uuid.uuid4().hex[:16]
    for _ in range(5):
        assert post(serve.url, token, fire(match_id, 20)).status_code == 202
    assert timeline_count(serve.url, match_id) == 0  # still queued

    serve.signal(signal.SIGTERM)
    assert serve.wait(60) == 0
    again = serve_factory(data_dir=data).start()
    assert timeline_count(again.url, match_id) == 100


def test_full_queue_sheds_the_whole_request(serve_factory, tmp_path):
    data = tmp_path / "data"
    tiny = {"FRAGSTATS_QUEUE_CAPACITY": "10", "FRAGSTATS_FLUSH_INTERVAL_MS": "600000",
            "FRAGSTATS_BATCH_SIZE": "1000000"}
    serve = serve_factory(tiny, data_dir=data).start()
    _, token = register(serve.url)
    kept, shed, last = ("match_" + uuid.uuid4().hex[:16] for _ in range(3))
    assert post(serve.url, token, fire(kept, 6)).status_code == 202
    resp = post(serve.url, token, fire(shed, 6))
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.json()["error"] == "overloaded"
    assert post(serve.url, token, fire(last, 4)).status_code == 202  # exactly fills the queue
    metrics = httpx.get(serve.url + "/metrics").text
    assert "fragstats_ingest_events_shed_total 6.0" in metrics

    serve.signal(signal.SIGTERM)
    assert serve.wait(60) == 0
    again = serve_factory(data_dir=data).start()
    assert (timeline_count(again.url, kept), timeline_count(again.url, shed), timeline_count(again.url, last)) == (6, 0, 4)
