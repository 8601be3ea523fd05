"""The log shipper against a real HTTP server on loopback (no mocks)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Q3_LOG as GAMES_LOG
from ingest.q3log import Q3LogParser
from ingest.shipper import IngestError, Shipper, import_log, start_from_mtime

TOKEN = "tok_test"


class Ingest:
    """A tiny ingest endpoint: answers from a script, then 202; records every request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], str]] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "at": time.monotonic()}
                    )
                    status, headers, text = outer.script.pop(0) if outer.script else (202, {}, "")
                    outer.requests[-1]["status"] = status
                if status == 202 and not text:
                    n = len(json.loads(body))
                    text = json.dumps({"accepted": n, "rejected": 0, "errors": []})
                payload = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        """The events of the requests answered 202, in arrival order."""
        with self.lock:
            return [e for r in self.requests if r["status"] == 202 for e in json.loads(r["body"])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ingest():
    server = Ingest()
    yield server
    server.close()


def fast_shipper(url: str, **kw) -> Shipper:
    return Shipper(url, TOKEN, backoff_initial=0.01, backoff_max=0.05, **kw)


EVENTS = [{"type": "chat", "match_id": "no_match", "session_id": "sess_0", "timestamp": 1.0, "message": "hi"}]


def test_429_waits_for_retry_after_then_succeeds(ingest):
    ingest.script = [(429, {"Retry-After": "1"}, '{"error": "queue_full"}')]
    with fast_shipper(ingest.url) as shipper:
        answer = shipper.send(EVENTS)
    assert answer == {"accepted": 1, "rejected": 0, "errors": []}
    assert (shipper.retries, shipper.batches) == (1, 1)
    first, second = ingest.requests
    assert second["at"] - first["at"] >= 0.95  # the exponential wait alone would be ~0.01 s
    assert first["body"] == second["body"]
    assert json.loads(first["body"]) == EVENTS
    assert first["path"] == "/api/v1/ingest/events"
    assert first["headers"]["X-Server-Token"] == TOKEN
    assert first["headers"]["Content-Type"] == "application/json"


def test_400_is_not_retried_and_names_status_and_body(ingest):
    ingest.script = [(400, {}, '{"error": "no_valid_events"}')]
    with fast_shipper(ingest.url) as shipper, pytest.raises(IngestError) as err:
        shipper.send(EVENTS)
    assert err.value.status == 400
    assert "400" in str(err.value) and "no_valid_events" in str(err.value)
    assert len(ingest.requests) == 1
    assert shipper.retries == 0


def test_401_is_not_retried(ingest):
    ingest.script = [(401, {}, '{"error": "bad_token"}')]
    with fast_shipper(ingest.url) as shipper, pytest.raises(IngestError, match="401"):
        shipper.send(EVENTS)
    assert len(ingest.requests) == 1


def test_5xx_is_retried_with_backoff(ingest):
    ingest.script = [(500, {}, "boom"), (503, {"Retry-After": "0"}, "draining")]
    with fast_shipper(ingest.url) as shipper:
        shipper.send(EVENTS)
    assert len(ingest.requests) == 3
    assert shipper.retries == 2


def test_retries_run_out(ingest):
    ingest.script = [(500, {}, "boom")] * 3
    with fast_shipper(ingest.url, max_attempts=3) as shipper, pytest.raises(IngestError) as err:
        shipper.send(EVENTS)
    assert err.value.status == 500 and "after 3 attempts" in str(err.value)
    assert len(ingest.requests) == 3


def test_connection_errors_are_retried():
    server = Ingest()
    url = server.url
    server.close()  # nothing listens on this port any more
    with fast_shipper(url, max_attempts=3) as shipper, pytest.raises(IngestError, match="after 3 attempts"):
        shipper.send(EVENTS)
    assert shipper.retries == 2


def test_import_real_log_in_batches(ingest):
    assert GAMES_LOG.exists(), f"real input missing: {GAMES_LOG}"
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    parser = Q3LogParser(start)
    with GAMES_LOG.open(encoding="utf-8") as f:
        expected = [e for line in f for e in parser.feed(line)] + parser.finish(end_open_match=True)
    ingest.script = [(429, {"Retry-After": "0"}, ""), (502, {}, "bad gateway")]

    report = import_log(GAMES_LOG, ingest.url, TOKEN, start=start, batch_size=500, progress=False,
                        shipper=fast_shipper(ingest.url))

    assert ingest.events() == expected
    sizes = [len(json.loads(r["body"])) for r in ingest.requests if r["status"] == 202]
    assert max(sizes) <= 500
    assert report.batches == math.ceil(len(expected) / 500)
    assert report.retries == 2
    assert (report.events, report.accepted, report.rejected) == (len(expected), len(expected), 0)
    assert report.lines == parser.lines and report.unknown_lines == 0


def test_start_defaults_to_mtime_of_the_last_line(ingest, tmp_path):
    log = tmp_path / "games.log"
    log.write_text("  0:00 InitGame: \\g_gametype\\0\\mapname\\a\n 50:00 ClientConnect: 1\n"
                   "  0:00 InitGame: \\g_gametype\\0\\mapname\\b\n  1:40 ShutdownGame:\n")
    mtime = 1_700_000_000
    os.utime(log, (mtime, mtime))
    assert start_from_mtime(log) == datetime.fromtimestamp(mtime - 3100, tz=timezone.utc)
    report = import_log(log, ingest.url, TOKEN, progress=False)
    events = ingest.events()
    assert events[-1]["occurred_at"] == mtime * 1000
    assert report.start == datetime.fromtimestamp(mtime - 3100, tz=timezone.utc)


def test_unknown_lines_are_reported_not_fatal(ingest, tmp_path):
    log = tmp_path / "games.log"
    log.write_text("garbage\n  0:00 InitGame: \\g_gametype\\0\\mapname\\a\n  0:01 Whatever: 1\n")
    report = import_log(log, ingest.url, TOKEN, progress=False, start=datetime(2024, 1, 1))
    assert (report.lines, report.unknown_lines, report.events) == (3, 2, 2)
    assert report.unknown_samples == ["garbage", "  0:01 Whatever: 1"]
    assert [e["type"] for e in ingest.events()] == ["match_start", "match_end"]


def test_report_counts_skipped_lines_by_kind(ingest, tmp_path):
    log = tmp_path / "games.log"
    log.write_text("  0:00 InitGame: \\g_gametype\\7\\mapname\\ut4_casa\\gamename\\q3ut4\n"
                   "  0:00 Warmup:\n  0:01 Item: 3 ut_weapon_m4\n  0:02 Kill: 3 4 38: Ace killed Bob by UT_MOD_M4\n"
                   "  0:03 Item: 3 ut_weapon_m4\n  0:04 Radio: 3 - 1 - 1 - \"Yard\" - \"go\"\n  0:05 Kill: 3\n")
    report = import_log(log, ingest.url, TOKEN, progress=False, start=datetime(2024, 1, 1))
    assert report.skipped == {"ignored:Warmup": 1, "ignored:Radio": 1, "unknown_player:Item": 1, "malformed:Kill": 1}
    assert (report.unknown_lines, report.skipped_lines, report.ignored_lines) == (1, 1, 2)
    assert [e["type"] for e in ingest.events()] == ["match_start", "player_kill", "item_pickup", "match_end"]
    assert report.summary().endswith(
        'skipped: {"ignored:Radio": 1, "ignored:Warmup": 1, "malformed:Kill": 1, "unknown_player:Item": 1}')


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_follow_tails_rotation_and_truncation(ingest, tmp_path):
    log = tmp_path / "games.log"
    log.write_text("  0:00 InitGame: \\g_gametype\\0\\mapname\\a\n")
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.update(report=import_log(
        log, ingest.url, TOKEN, follow=True, stop=stop, progress=False, poll_interval=0.05,
        start=datetime(2024, 1, 1))))
    thread.start()
    try:
        wait_for(lambda: len(ingest.events()) == 1)
        with log.open("a") as f:  # a line written in two pieces is read once, whole
            f.write("  0:01 ClientConnect: 1\n  0:01 ClientUserinfoChanged: 1 n\\A")
            f.flush()
            time.sleep(0.2)
            f.write("\\t\\0\n")
        wait_for(lambda: [e["type"] for e in ingest.events()][-1] == "connect")
        assert ingest.events()[-1]["player_name"] == "A"

        rotated = tmp_path / "games.log.1"  # logrotate: move away, start a new file
        log.rename(rotated)
        log.write_text("  0:00 InitGame: \\g_gametype\\4\\mapname\\b\n")
        wait_for(lambda: sum(e["type"] == "match_start" for e in ingest.events()) == 2)

        # Truncated in place; like tail -F, noticed because the file got shorter.
        log.write_text("  0:00 InitGame: \\mapname\\c\n")
        wait_for(lambda: sum(e["type"] == "match_start" for e in ingest.events()) == 3)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    types = [e["type"] for e in ingest.events()]
    # Only the matches the log itself ended; the last one stays open.
    assert types == ["match_start", "connect", "match_end", "match_start", "match_end", "match_start"]
    assert [e.get("map_name") for e in ingest.events() if e["type"] == "match_start"] == ["a", "b", "c"]
    assert result["report"].events == 6
