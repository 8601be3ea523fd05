"""The optional peer of the benchmark: Debian's `clickhouse-server` (18.16, bookworm) taking the same
events over its own HTTP interface into a Buffer table in front of a MergeTree — what a team would
get by pointing the trackers at a bare ClickHouse.

The peer gets the events after our validation (typed numbers, `server_id` and `received_at` set:
the rows our own engine ceiling inserts), as NDJSON bodies of 100 events posted to
`/?query=INSERT INTO events_buffer FORMAT JSONEachRow` by the same wrk script. So it parses and
stores; it does not validate, enrich, keep live state or feed materialized views — figures beside
ours, not a like-for-like race. Columns are generated from the keys the bodies carry (18.16 has no
Map, DateTime64 or JSON number-from-string coercion, so times stay epoch seconds as Float64).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import msgspec

from bench.harness import free_port, which_or_install
from ingest.decode import validate

BUFFER = "events_buffer"
WIDE_FLOATS = frozenset({"timestamp", "occurred_at", "received_at"})  # Float64 in raw_events too
INSERT_PATH = f"/?query=INSERT%20INTO%20{BUFFER}%20FORMAT%20JSONEachRow"

CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{root}/server.log</log><errorlog>{root}/error.log</errorlog></logger>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>4096</max_connections>
    <keep_alive_timeout>30</keep_alive_timeout>
    <max_concurrent_queries>500</max_concurrent_queries>
    <path>{root}/data/</path>
    <tmp_path>{root}/tmp/</tmp_path>
    <user_files_path>{root}/user_files/</user_files_path>
    <format_schema_path>{root}/format_schemas/</format_schema_path>
    <users_config>{root}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>536870912</mark_cache_size>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_threads>1</max_threads><input_format_skip_unknown_fields>1</input_format_skip_unknown_fields></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"""


def ensure_clickhouse() -> str | None:
    """Path of the `clickhouse-server` binary; installs Debian's package when missing and we are
    root. None when it cannot be had (the peer is optional)."""
    return which_or_install("clickhouse-server", "clickhouse-server")


def version() -> str:
    """The installed package's version, e.g. `18.16.1+ds-7.3+b2` (the binary has no --version)."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "clickhouse-server"], capture_output=True, text=True)
    return f"clickhouse-server {out.stdout.strip() or 'unknown version'}"


def peer_rows(bodies: list[Path]) -> tuple[list[bytes], dict[str, str]]:
    """The bench's tracker-format bodies as validated NDJSON rows, and the column types they need."""
    out, columns = [], {}
    encoder = msgspec.json.Encoder()
    kinds = {str: "String", float: "Float32", int: "Int64", bool: "UInt8"}  # Float32 as in raw_events
    for path in bodies:
        events = validate(json.loads(path.read_bytes()), server_id=1).accepted
        lines = []
        for line in encoder.encode_lines(events).splitlines():
            row = json.loads(line)
            for key, value in row.items():
                if isinstance(value, bool):
                    row[key] = int(value)  # 18.16 reads 0/1 into UInt8, not true/false
                columns.setdefault(key, "Float64" if key in WIDE_FLOATS else kinds[type(value)])
                if columns[key] == "Int64" and isinstance(value, float):
                    columns[key] = "Float32"
            lines.append(json.dumps(row, separators=(",", ":")))
        out.append(("\n".join(lines) + "\n").encode())
    return out, columns


class Peer:
    """A `clickhouse-server` child on a fresh folder, with the Buffer + MergeTree tables made."""

    token = "-"  # the wrk script sends a token header; ClickHouse ignores it

    def __init__(self, binary: str, root: Path, columns: dict[str, str]):
        self.binary, self.root, self.columns = binary, root, columns
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def query(self, sql: str) -> str:
        resp = httpx.post(self.url + "/", content=sql.encode(), timeout=120)
        if resp.status_code != 200:
            raise RuntimeError(f"peer answered {resp.status_code}: {resp.text[:500]}")
        return resp.text

    def __enter__(self) -> "Peer":
        for sub in ("data", "tmp", "user_files", "format_schemas"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "config.xml").write_text(CONFIG.format(root=self.root, http_port=self.port, tcp_port=free_port()))
        (self.root / "users.xml").write_text(USERS)
        log = open(self.root / "stdout.log", "ab")
        self.proc = subprocess.Popen([self.binary, f"--config-file={self.root / 'config.xml'}"], stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = ""
                for name in ("stdout.log", "error.log"):
                    if (self.root / name).exists():
                        tail += (self.root / name).read_text()[-1500:]
                raise RuntimeError(f"clickhouse-server did not start: {tail}")
            time.sleep(0.2)
        cols = ", ".join(f"`{k}` {v}" for k, v in self.columns.items())
        self.query(f"CREATE TABLE events ({cols}) ENGINE = MergeTree() "
                   "PARTITION BY toYYYYMM(toDateTime(toUInt32(received_at))) ORDER BY (match_id, server_id, timestamp)")
        # 16 layers (the documented recommendation); flush after 1-10 s or 0.1-1M rows.
        self.query(f"CREATE TABLE {BUFFER} AS events ENGINE = Buffer(default, events, 16, 1, 10, 100000, 1000000, "
                   "10000000, 100000000)")
        return self

    def stored(self) -> int:
        return int(self.query("SELECT count() FROM events").strip())

    def flushed(self, timeout_s: float = 30) -> int:
        """Rows in the MergeTree once the Buffer has nothing left (count stable for 2 s)."""
        last, since = -1, time.monotonic()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            n = self.stored()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 2 and int(self.query(f"SELECT count() FROM {BUFFER}").strip()) == n:
                break
            time.sleep(0.5)
        return last

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)
