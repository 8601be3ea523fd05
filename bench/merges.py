"""What background merges of raw_events cost per inserted row, for a given merge policy.

`python -m bench.merges --data-dir DIR [--batches 100] [--batch-size 100000] [--base 5|20]` inserts
`batches` batches as the app inserts them (RowBinary, its insert settings, all materialized views on) one every
`--pause-s` seconds, like the app under load, and prints one JSON line: CPU of the merge threads
per inserted row (µs, from /proc/self/task: chDB names them `MergeMutate...`), CPU of everything
else per row, and the active parts of raw_events at the end.

`--base` sets raw_events' `merge_selector_base` before the first insert (20 is what
clickhouse/0005 sets; 5 is ClickHouse's default). Merges seen within the run are what counts: a
longer run reaches higher merge levels, so compare policies over the same number of batches.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path

import clickhouse_connect

from bench.payloads import make_event
from fragstats.migrations import migrate_clickhouse
from ingest import rows
from ingest.decode import validate
from ingest.inserter import INSERT_SETTINGS

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def thread_cpu_s() -> Counter:
    """CPU seconds (user + system) per thread name of this process, trailing digits dropped."""
    out: Counter = Counter()
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended between listdir and read
            continue
        name = re.sub(r"\d+$", "", stat[stat.index("(") + 1:stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] += (int(fields[11]) + int(fields[12])) * TICK_S
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=100_000)
    ap.add_argument("--base", type=int, default=20, help="raw_events merge_selector_base")
    ap.add_argument("--pause-s", type=float, default=0.2)
    args = ap.parse_args()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    client = clickhouse_connect.get_client(dsn=f"chdb://{args.data_dir}")
    migrate_clickhouse(client)
    client.command(f"ALTER TABLE raw_events MODIFY SETTING merge_selector_base = {args.base}")
    rng = random.Random(11)
    payloads = [rows.encode(validate([make_event(rng, rng.randrange(64), rng.uniform(0, 1200))
                                      for _ in range(args.batch_size)], 1).accepted) for _ in range(4)]
    before, start = thread_cpu_s(), time.perf_counter()
    for i in range(args.batches):
        settings = dict(INSERT_SETTINGS, insert_deduplication_token=uuid.uuid4().hex)
        client.raw_insert("raw_events", rows.COLUMNS, payloads[i % len(payloads)], settings=settings, fmt=rows.FORMAT)
        time.sleep(args.pause_s)
    elapsed = time.perf_counter() - start
    used = thread_cpu_s() - before
    n_rows = args.batches * args.batch_size
    merge_s = sum(v for k, v in used.items() if k.startswith("MergeMutate"))
    parts = client.query("SELECT count(), max(level) FROM system.parts WHERE active AND table = 'raw_events'").result_rows[0]
    print(json.dumps({"merge_selector_base": args.base, "rows": n_rows, "elapsed_s": round(elapsed, 1),
                      "merge_cpu_us_per_row": round(merge_s / n_rows * 1e6, 2),
                      "other_cpu_us_per_row": round((sum(used.values()) - merge_s) / n_rows * 1e6, 2),
                      "raw_events_active_parts": parts[0], "raw_events_max_level": parts[1]}))


if __name__ == "__main__":
    main()
