"""Slow clients are cut (issue 10, point 7): a real `fragstats serve`, raw sockets sending headers or a
body a few bytes a second, an idle connection that sends nothing; normal clients, keep-alive pauses
and large bodies sent at speed are unaffected."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
from conftest import ADMIN

HEADERS_S, BODY_S = 2.0, 3.0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from conftest import ServeProcess

    proc = ServeProcess(tmp_path_factory.mktemp("slow") / "data",
                        {"FRAGSTATS_HTTP_HEADERS_TIMEOUT_S": str(HEADERS_S), "FRAGSTATS_HTTP_BODY_TIMEOUT_S": str(BODY_S)})
    proc.start()
    yield proc
    proc.stop()


def trickle(port: int, data: bytes, every_s: float, *, head: bytes = b"") -> tuple[float, bytes]:
    """Send `head` at once, then `data` one byte every `every_s`; returns (seconds from the first
    trickled byte until the server closed, what it answered). Stops sending when the server closes."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)
    answer = bytearray()
    closed = threading.Event()

    def read() -> None:
        try:
            while chunk := sock.recv(4096):
                answer.extend(chunk)
        except OSError:
            pass
        closed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if head:
        sock.sendall(head)
    start = time.monotonic()
    try:
        for i in range(len(data)):
            if closed.is_set():
                break
            sock.send(data[i:i + 1])
            closed.wait(every_s)
    except OSError:
        pass  # the server closed while we were sending
    closed.wait(30)
    took = time.monotonic() - start
    sock.close()
    return took, bytes(answer)


def metric(url: str, series: str) -> float:
    """The value of one series (`name{labels}` exactly as exposed) on /metrics, 0 when absent."""
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_slow_headers_are_cut_with_408_while_others_are_served(served):
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: a-very-slow-client\r\n\r\n"
    result: list = []
    slow = threading.Thread(target=lambda: result.append(trickle(served.port, request, 0.25)))
    slow.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    for _ in range(5):  # a normal client meanwhile: served at once
        assert httpx.get(served.url + "/health", timeout=5).status_code == 200
    assert time.monotonic() - t0 < 2
    slow.join(30)
    took, answer = result[0]
    assert HEADERS_S - 0.3 < took < HEADERS_S + 1.5, took
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "request_timeout"
    assert metric(served.url, 'fragstats_http_timeouts_total{phase="headers"}') >= 1


def test_an_idle_connection_is_closed_without_an_answer(served):
    took, answer = trickle(served.port, b"", 0)
    assert answer == b"" and HEADERS_S - 0.3 < took < HEADERS_S + 1.5, (took, answer)


def test_a_slow_body_is_cut_with_408(served):
    token = httpx.post(served.url + "/api/v1/servers", json={"name": "slow body"}, headers=ADMIN).json()["token"]
    body = json.dumps([{"type": "heartbeat", "match_id": "slow_body_match", "player_count": 1}]).encode()
    head = (b"POST /api/v1/ingest/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Server-Token: %s\r\nContent-Length: %d\r\n\r\n" % (token.encode(), len(body)))
    took, answer = trickle(served.port, body, 0.25, head=head)
    assert BODY_S - 0.3 < took < BODY_S + 1.5, took
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert metric(served.url, 'fragstats_http_timeouts_total{phase="body"}') >= 1
    # the same body sent at once is taken; nothing of the cut one was stored
    ok = httpx.post(served.url + "/api/v1/ingest/events", content=body,
                    headers={"X-Server-Token": token, "Content-Type": "application/json"})
    assert ok.status_code == 202 and ok.json()["accepted"] == 1
    assert "Traceback" not in served.log.read_text()


def test_normal_clients_keep_alive_and_large_bodies(served):
    token = httpx.post(served.url + "/api/v1/servers", json={"name": "fast"}, headers=ADMIN).json()["token"]
    events = [{"type": "heartbeat", "match_id": "fast_match", "player_count": i % 30, "map_name": "m" * 200}
              for i in range(20_000)]
    body = json.dumps(events).encode()
    assert len(body) > 4_000_000
    with httpx.Client(base_url=served.url, headers={"X-Server-Token": token}, timeout=30) as c:
        r = c.post("/api/v1/ingest/events", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 202 and r.json()["accepted"] == 20_000
        time.sleep(HEADERS_S + 0.5)  # idle between requests: longer than the headers timeout, within keep-alive
        assert c.get("/health").status_code == 200
        assert c.get("/health").status_code == 200
