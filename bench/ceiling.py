"""The engine's own limit: the same events, through the same DDL (every materialized view on),
inserted straight through the ClickHouse client the app uses — no HTTP, no queue.

Run in its own process (chDB allows one data path per process):
`python -m bench.ceiling --data-dir DIR --batch-size 50000 --batches 6` prints one JSON line
`{"rows_per_s": [...per batch], "cpu_us_per_row": [...]}`. The payload is what the app inserts
(RowBinary rows from ingest/rows.py, its insert settings); encoding is done before the clock
starts, so this is the engine alone (parse + materialized columns + MVs + part writes).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
import uuid
from pathlib import Path

import clickhouse_connect

from bench.payloads import make_event
from fragstats.migrations import migrate_clickhouse
from ingest import rows
from ingest.decode import validate
from ingest.inserter import INSERT_SETTINGS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--batches", type=int, default=6)
    args = ap.parse_args()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    client = clickhouse_connect.get_client(dsn=f"chdb://{args.data_dir}")
    migrate_clickhouse(client)
    rng = random.Random(11)
    payloads = []
    for b in range(args.batches):
        events = [make_event(rng, rng.randrange(64), rng.uniform(0, 1200)) for _ in range(args.batch_size)]
        payloads.append(rows.encode(validate(events, 1).accepted))
    rates, cpu = [], []
    for payload in payloads:
        settings = dict(INSERT_SETTINGS, insert_deduplication_token=uuid.uuid4().hex)
        t0, c0 = time.perf_counter(), time.process_time()
        client.raw_insert("raw_events", rows.COLUMNS, payload, settings=settings, fmt=rows.FORMAT)
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        rates.append(args.batch_size / wall)
        cpu.append(used / args.batch_size * 1e6)
    stored = client.query("SELECT count() FROM raw_events").result_rows[0][0]
    assert stored == args.batch_size * args.batches, stored
    print(json.dumps({"rows_per_s": rates, "cpu_us_per_row": cpu}))


if __name__ == "__main__":
    main()
