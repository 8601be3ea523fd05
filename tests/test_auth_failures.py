"""Failed authentication (issue 10, point 7): every 401 logged (address and kind, never the secret) and
counted; past a burst, an address's further failures get 429 + Retry-After while a correct
credential, from there or elsewhere, still passes; memory bounded; X-Forwarded-For ignored unless
a proxy is named. In-process on the shared app (its own client addresses, so other tests' 401s are
not limited), then on a real `fragstats serve` at full speed."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid

import httpx
import pytest
from conftest import ADMIN, ADMIN_TOKEN, new_server
from starlette.requests import Request

from fragstats.auth_failures import FailedAuth, client_address


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_burst_refill_and_retry_after():
    clock = Clock()
    f = FailedAuth(burst=5, refill_per_s=0.5, max_addresses=100, clock=clock)
    assert [f.record("a")[0] for _ in range(5)] == [None] * 5
    wait, reported = f.record("a")
    assert wait == pytest.approx(2.0) and not reported  # one more failure allowed every 2 s
    assert f.record("a") == (pytest.approx(2.0), True)  # limited attempts do not spend the allowance
    assert f.record("b")[0] is None  # another address has its own bucket
    clock.t += 2.0
    assert f.record("a")[0] is None  # refilled one
    assert f.record("a") == (pytest.approx(2.0), True)  # the same episode: not logged again
    clock.t += 10.0  # a full refill: the address is forgotten, memory and all
    assert f.tracked() == 0
    assert [f.record("a")[0] for _ in range(5)] == [None] * 5


def test_memory_is_bounded():
    f = FailedAuth(burst=2, refill_per_s=1, max_addresses=1000, clock=Clock())
    for i in range(50_000):
        f.record(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
    assert f.tracked() == 1000


def test_client_address_groups_ipv6_by_64():
    def addr(host: str) -> str:
        return client_address(Request({"type": "http", "client": (host, 1), "headers": []}))

    assert addr("192.0.2.7") == "192.0.2.7"
    assert addr("2001:db8:1:2:aaaa::1") == addr("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert addr("::ffff:192.0.2.7") == "192.0.2.7"


@pytest.fixture
async def from_address(app):
    clients: list[httpx.AsyncClient] = []

    def make(host: str) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 40000)), base_url="http://test")
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def test_failures_are_logged_counted_and_limited_per_address(app, client, from_address, caplog):
    _, good = await new_server(client, "auth failures")
    attacker, neighbour = from_address("198.51.100.7"), from_address("198.51.100.8")
    def count(name: str) -> float:
        return app.state.metrics.registry.get_sample_value(name, {"kind": "server_token"}) or 0.0

    before, limited_before = count("fragstats_auth_failures_total"), count("fragstats_auth_limited_total")
    wrong = [f"fss_wrong_{uuid.uuid4().hex}" for _ in range(30)]
    caplog.set_level(logging.WARNING, logger="fragstats.auth")
    start = time.monotonic()
    answers = [await attacker.post("/api/v1/ingest/events", json=[], headers={"X-Server-Token": t}) for t in wrong]
    elapsed = time.monotonic() - start
    codes = [r.status_code for r in answers]
    burst = app.state.settings.auth_failure_burst
    assert codes[:burst] == [401] * burst
    refilled = math.ceil(elapsed * app.state.settings.auth_failure_refill_per_s)
    assert codes.count(429) >= len(wrong) - burst - refilled, codes
    limited = next(r for r in answers if r.status_code == 429)
    assert limited.json()["error"] == "too_many_failed_auth" and int(limited.headers["retry-after"]) >= 1
    # a correct token passes, from the limited address and from elsewhere
    assert (await attacker.post("/api/v1/ingest/events", json=[{"type": "heartbeat", "match_id": "auth_ok"}],
                                headers={"X-Server-Token": good})).status_code == 202
    assert (await attacker.get("/api/v1/servers", headers=ADMIN)).status_code == 200
    # the neighbour's failures are its own
    assert (await neighbour.post("/api/v1/ingest/events", json=[], headers={"X-Server-Token": "fss_x"})).status_code == 401
    # logged: one line per 401 and one for the episode of 429s; the address and kind, never a token
    lines = [r.getMessage() for r in caplog.records if r.name == "fragstats.auth"]
    mine = [line for line in lines if "198.51.100.7" in line]
    assert len(mine) == codes.count(401) + 1, mine
    assert all("server_token" in line for line in mine)
    assert not any(t in line for t in wrong for line in lines)
    assert re.search(r"credential sha256:[0-9a-f]{8}\)", mine[0])
    assert count("fragstats_auth_failures_total") - before == len(wrong) + 1
    assert count("fragstats_auth_limited_total") - limited_before == codes.count(429)


async def test_admin_and_api_key_failures_count_under_their_kind(app, from_address, caplog):
    c = from_address("198.51.100.20")
    caplog.set_level(logging.WARNING, logger="fragstats.auth")
    assert (await c.get("/api/v1/servers", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await c.post("/api/v1/tournaments", json={"name": "x", "format": "round_robin"},
                         headers={"Authorization": "Bearer fsk_nope"})).status_code == 401
    assert (await c.post("/api/v1/tournaments", json={"name": "x", "format": "round_robin"})).status_code == 401
    lines = [r.getMessage() for r in caplog.records if "198.51.100.20" in r.getMessage()]
    assert [line.split(": ", 1)[1].split(" ")[0] for line in lines] == ["admin_token", "api_key", "api_key"]
    assert "no credential" in lines[2] and "nope" not in " ".join(lines)
    assert ADMIN_TOKEN not in " ".join(r.getMessage() for r in caplog.records)


def test_full_speed_failures_on_a_real_server(serve_factory):
    served = serve_factory({"FRAGSTATS_AUTH_FAILURE_BURST": "10", "FRAGSTATS_AUTH_FAILURE_REFILL_PER_S": "0.5"}).start()
    good = httpx.post(served.url + "/api/v1/servers", json={"name": "real"}, headers=ADMIN).json()["token"]
    wrong = [f"fss_wrong_{uuid.uuid4().hex}" for _ in range(300)]
    start = time.monotonic()
    with httpx.Client(base_url=served.url) as c:
        # the spoofed header changes nothing: no proxy is trusted by default
        codes = [c.post("/api/v1/ingest/events", json=[], headers={"X-Server-Token": t,
                                                                   "X-Forwarded-For": f"203.0.113.{i % 250}"}).status_code
                 for i, t in enumerate(wrong)]
        elapsed = time.monotonic() - start
        assert codes.count(401) <= 10 + math.ceil(elapsed * 0.5) and codes.count(429) >= 280, (codes, elapsed)
        ok = c.post("/api/v1/ingest/events", json=[{"type": "heartbeat", "match_id": "real_ok"}],
                    headers={"X-Server-Token": good})
        assert ok.status_code == 202
    # another address on the same machine is not limited by 127.0.0.1's failures
    with httpx.Client(base_url=served.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        assert other.post("/api/v1/ingest/events", json=[], headers={"X-Server-Token": "fss_x"}).status_code == 401
    text = httpx.get(served.url + "/metrics").text
    assert re.search(r'^fragstats_auth_failures_total\{kind="server_token"\} 301\.0$', text, re.M), text
    log = served.log.read_text()
    failed = [line for line in log.splitlines() if "failed authentication" in line]
    assert len(failed) == codes.count(401) + 1 + 1  # each 401, the episode, the other address
    assert "127.0.0.1" in failed[0] and "127.0.0.2" in failed[-1] and "203.0.113" not in log
    assert not any(t in log for t in wrong) and good not in log
