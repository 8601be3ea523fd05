"""Design study of issue 12: which insert format, which raw_events layout, which granule size.

`python -m bench.formats [--rows 300000] [--repeats 2]` runs every variant below in its own
process (chDB allows one data path per process), in the order A..F then F..A for each repeat so
that this VM's drift in speed falls on all alike, and prints one JSON line per run plus a summary.

For each variant, with the realistic event mix of bench/payloads.py (decoded and validated by the
app's own code, map and game type filled in as the match context does):
- `encode_us`: the event loop's CPU to encode one event, requests of 100 events (`encode_us_1`: of
  1 event, which shows a format's fixed cost per request). Thread CPU of the encoding alone.
- `insert_us`: the engine's CPU per row to insert batches of `--batch` rows, all materialized views
  on (CPU of the process while `raw_insert` runs, with merges stopped).
- `merge_us`: CPU per row of merging the inserted parts into one (OPTIMIZE FINAL): one merge pass.
  With `merge_selector_base = 20` (clickhouse/0005) a row is merged about once in the first 10M
  rows (bench.merges), so one pass is the merge cost per committed event.
- `total_us` = encode + insert + merge: the CPU one committed event costs besides decoding the
  request (the same for every variant).

Variants (`narrow`: the raw_events of clickhouse/0008; `wide`: the one of 0002-0007):
- `json-wide`: today's path before issue 12: msgspec `encode_lines` of the Structs, JSONEachRow.
- `compact-narrow`: JSONCompactEachRow, each row a tuple built in C (msgspec `astuple` + one
  `itemgetter` per type), encoded by msgspec.
- `rowbinary-narrow`: ingest/rows.py, the per-type compiled RowBinary encoder.
- `native-narrow`: Native blocks, one per request, written column by column in Python.
- `cc-native-narrow`: the same, with clickhouse-connect's own column encoder.
- `arrow-narrow`: pyarrow record batches, one per request, in one ArrowStream.
Layout variants (RowBinary, narrow): `rowbinary-narrow-10mib` (ClickHouse's default
index_granularity_bytes instead of 0008's), `rowbinary-narrow-no-player-map` (player_map_mv dropped:
the cost of the view issue 12 point 3 asks about).
`--merge-memory` instead measures the memory and CPU of one merge of 17 parts, per granule size
(narrow, RowBinary) and for the wide table (JSONEachRow, ClickHouse's default granule size). With
`--batch 40000` the merged part stays under `min_bytes_for_wide_part` (Compact): a horizontal merge,
all columns at once, as most background merges of raw_events are, and the one that needs memory.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from operator import attrgetter, itemgetter
from pathlib import Path

import clickhouse_connect
import msgspec

from bench.payloads import make_event
from fragstats.migrations import CLICKHOUSE_DIR, migrate_clickhouse
from ingest import rows
from ingest.decode import validate
from ingest.events import STORAGE, STORED_COLUMNS, STRUCTS, UnknownEvent
from ingest.inserter import INSERT_SETTINGS

VARIANTS = ("json-wide", "compact-narrow", "rowbinary-narrow", "native-narrow", "cc-native-narrow", "arrow-narrow",
            "rowbinary-narrow-10mib", "rowbinary-narrow-no-player-map")
DEFAULT_GRANULARITY_BYTES = 10 * 1024 * 1024  # ClickHouse's index_granularity_bytes
REQUEST = 100
MAPS = ["dm/mohdm1", "dm/mohdm2", "obj/obj_team1", "obj/obj_team2"]
JSON_SETTINGS = {"input_format_json_read_numbers_as_strings": 1, "input_format_skip_unknown_fields": 0}


def make_events(n: int, seed: int = 11) -> list:
    """`n` validated events of the bench mix, with map and game type as the match context fills them."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        chunk = [make_event(rng, rng.randrange(64), rng.uniform(0, 1200)) for _ in range(REQUEST)]
        events = validate(chunk, 1 + rng.randrange(4)).accepted
        for ev in events:
            ev.map_name = MAPS[hash(ev.match_id) % len(MAPS)]
            ev.gametype = "tdm"
        out += events
    return out[:n]


def schema_folder(layout: str, granularity_bytes: int | None) -> Path:
    """A copy of the ClickHouse migrations: all of them (`narrow`), or those of the release before
    clickhouse/0008 (`wide`); `granularity_bytes` replaces 0008's index_granularity_bytes."""
    folder = Path(tempfile.mkdtemp(prefix="fragstats-ddl-"))
    for item in CLICKHOUSE_DIR.iterdir():
        if not item.name.endswith(".sql") or (layout == "wide" and item.name >= "0008"):
            continue
        text = item.read_text(encoding="utf-8")
        if granularity_bytes is not None and item.name.startswith("0008"):
            text = text.replace("index_granularity_bytes = 1048576", f"index_granularity_bytes = {granularity_bytes}")
        (folder / item.name).write_text(text, encoding="utf-8")
    return folder


# ---- the encoders compared -------------------------------------------------------------------

def _sources(cls: type) -> dict[str, str]:
    """raw_events column -> Struct field of one class (narrow layout)."""
    if cls is UnknownEvent:
        return {c: c for c in STORED_COLUMNS if c in UnknownEvent.__struct_fields__}
    etype = cls.__struct_config__.tag
    return {**STORAGE[etype][0], "type": "type", "extra": "extra"}


def compact_encoder():
    """JSONCompactEachRow rows: per type one `itemgetter` over `astuple(event) + pad`, in C."""
    picks = {}
    for cls in [*STRUCTS.values(), UnknownEvent]:
        fields = list(cls.__struct_fields__)
        src = _sources(cls)
        pad = [None]
        idx = []
        for column in rows.COLUMNS:
            if column == "type" and cls is not UnknownEvent:
                pad.append(cls.__struct_config__.tag)
                idx.append(len(fields) + len(pad) - 1)
            elif column in src and src[column] in fields:
                idx.append(fields.index(src[column]))
            else:
                idx.append(len(fields))  # the pad's None: the column default (input_format_null_as_default)
        picks[cls] = (itemgetter(*idx), tuple(pad))
    encoder = msgspec.json.Encoder()
    astuple = msgspec.structs.astuple

    def encode(events: list) -> bytes:
        out = []
        for ev in events:
            pick, pad = picks[ev.__class__]
            out.append(pick(astuple(ev) + pad))
        return encoder.encode_lines(out)
    return encode


def _columns_by_type(events: list) -> tuple[int, dict[str, list]]:
    """Column -> values (None where not sent) of a request's events, grouped by type."""
    groups: dict[type, list] = defaultdict(list)
    for ev in events:
        groups[ev.__class__].append(ev)
    cols: dict[str, list] = {c: [] for c in rows.COLUMNS}
    for cls, evs in groups.items():
        src = _sources(cls)
        for column, values in cols.items():
            field = src.get(column)
            if column == "type" and cls is not UnknownEvent:
                values.extend([cls.__struct_config__.tag] * len(evs))
            elif field is None:
                values.extend([None] * len(evs))
            else:
                values.extend(map(attrgetter(field), evs))
    return len(events), cols


def _filled(column: str, values: list) -> list:
    default = rows.default_of(column)
    if column == "received_at":
        return [round(v * 1000) for v in values]
    if column == "occurred_at":
        return values  # replaced by the caller
    if None in values:
        return [default if v is None else v for v in values]
    return values


_NATIVE_FMT = {"Bool": "?", "UInt32": "I", "Int32": "i", "UInt64": "Q", "Float32": "f", "Float64": "d",
               "DateTime64(3, 'UTC')": "q"}


def native_encoder():
    """One Native block per request, written column by column in Python."""
    head = {c: rows.leb128(len(c)) + c.encode() for c in rows.COLUMNS}
    types = {c: ("String" if t == "LowCardinality(String)" else t) for c, t in STORED_COLUMNS.items()}
    tname = {c: rows.leb128(len(t)) + t.encode() for c, t in types.items()}

    def strings(values: list) -> bytes:
        out = []
        for v in values:
            b = ("" if v is None else v if v.__class__ is str else str(v)).encode()
            out += (rows.leb128(len(b)), b)
        return b"".join(out)

    def encode(events: list) -> bytes:
        n, cols = _columns_by_type(events)
        received = [round(v * 1000) for v in cols["received_at"]]
        out = [rows.leb128(len(cols)), rows.leb128(n)]
        for column, values in cols.items():
            out += (head[column], tname[column])
            typ = types[column]
            if column == "received_at":
                values = received
            elif column == "occurred_at":
                values = [r if v is None else round(v * 1000) for v, r in zip(values, received)]
            if typ in _NATIVE_FMT:
                out.append(struct.pack(f"<{n}{_NATIVE_FMT[typ]}", *_filled(column, values)))
            elif typ == "String":
                out.append(strings(values))
            else:  # Map(String, String): offsets, then keys, then values
                offsets, total, keys, vals = [], 0, [], []
                for d in values:
                    total += len(d)
                    offsets.append(total)
                    keys += d.keys()
                    vals += d.values()
                out += (struct.pack(f"<{n}Q", *offsets), strings(keys), strings(vals))
        return b"".join(out)
    return encode


def cc_native_encoder(client):
    """One Native block per request with clickhouse-connect's column encoder (pure Python for chDB)."""
    from clickhouse_connect.driver.transform import NativeTransform

    names = list(rows.COLUMNS)
    type_names = [("String" if STORED_COLUMNS[c] == "LowCardinality(String)" else STORED_COLUMNS[c]) for c in names]

    def encode(events: list) -> bytes:
        n, cols = _columns_by_type(events)
        data = []
        for column in names:
            values = cols[column]
            if column in ("received_at", "occurred_at"):
                values = [None if v is None else v for v in values]
                if column == "occurred_at":
                    values = [r if v is None else v for v, r in zip(values, cols["received_at"])]
                import datetime as dt
                values = [dt.datetime.fromtimestamp(v, dt.timezone.utc) for v in values]
            elif STORED_COLUMNS[column] in _NATIVE_FMT:
                values = _filled(column, values)
            elif column == "extra":
                pass
            else:
                values = ["" if v is None else v if v.__class__ is str else str(v) for v in values]
            data.append(values)
        ctx = client.create_insert_context("raw_events", names, column_type_names=type_names, column_oriented=True,
                                           data=data)
        body = b"".join(NativeTransform.build_insert(ctx))
        return body[body.index(b"\n") + 1:] if body.startswith(b"INSERT") else body
    return encode


def arrow_encoder():
    """pyarrow record batches, one per request (an ArrowStream of many batches; the schema once)."""
    import pyarrow as pa

    pa_types = {"Bool": pa.bool_(), "UInt32": pa.uint32(), "Int32": pa.int32(), "UInt64": pa.uint64(),
                "Float32": pa.float32(), "Float64": pa.float64(), "DateTime64(3, 'UTC')": pa.int64(),
                "String": pa.string(), "LowCardinality(String)": pa.string(),
                "Map(String, String)": pa.map_(pa.string(), pa.string())}
    schema = pa.schema([(c, pa_types[STORED_COLUMNS[c]]) for c in rows.COLUMNS])

    def encode(events: list) -> object:
        n, cols = _columns_by_type(events)
        received = [round(v * 1000) for v in cols["received_at"]]
        arrays = []
        for column, values in cols.items():
            typ = STORED_COLUMNS[column]
            if column == "received_at":
                values = received
            elif column == "occurred_at":
                values = [r if v is None else round(v * 1000) for v, r in zip(values, received)]
            elif column == "extra":
                values = [list(d.items()) for d in values]
            elif typ in _NATIVE_FMT:
                values = _filled(column, values)
            else:
                values = ["" if v is None else v if v.__class__ is str else str(v) for v in values]
            arrays.append(pa.array(values, pa_types[typ]))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def join(batches: list) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        return sink.getvalue().to_pybytes()
    return encode, join


def json_encoder():
    encoder = msgspec.json.Encoder()
    return encoder.encode_lines


# ---- one run -------------------------------------------------------------------------------------

def run_one(args) -> dict:
    variant = args.variant
    layout = "wide" if variant.endswith("-wide") else "narrow"
    granularity = DEFAULT_GRANULARITY_BYTES if variant.endswith("-10mib") else None
    data_dir = Path(tempfile.mkdtemp(prefix="fragstats-formats-"))
    folder = schema_folder(layout, granularity)
    try:
        client = clickhouse_connect.get_client(dsn=f"chdb://{data_dir}")
        migrate_clickhouse(client, folder)
        if variant.endswith("-no-player-map"):
            client.command("DROP VIEW player_map_mv")
        events = make_events(args.rows)
        fmt, columns, settings, join = {
            "json": ("JSONEachRow", None, JSON_SETTINGS, b"".join),
            "compact": ("JSONCompactEachRow", rows.COLUMNS, JSON_SETTINGS, b"".join),
            "rowbinary": ("RowBinary", rows.COLUMNS, {}, b"".join),
            "native": ("Native", None, {}, b"".join),
            "cc": ("Native", None, {}, b"".join),
            "arrow": ("ArrowStream", None, {}, None),
        }[variant.split("-")[0]]
        kind = variant.split("-")[0]
        encode = {"json": json_encoder, "compact": compact_encoder, "rowbinary": lambda: rows.encode,
                  "native": native_encoder, "cc": lambda: cc_native_encoder(client)}.get(kind, lambda: None)()
        if kind == "arrow":
            encode, join = arrow_encoder()
        # Encoding, request by request, as admission does.
        requests = [events[i:i + REQUEST] for i in range(0, len(events), REQUEST)]
        t0 = time.thread_time()
        chunks = [encode(r) for r in requests]
        encode_us = (time.thread_time() - t0) / len(events) * 1e6
        singles = events[:2000]
        t0 = time.thread_time()
        for ev in singles:
            encode([ev])
        encode_us_1 = (time.thread_time() - t0) / len(singles) * 1e6
        per_batch = args.batch // REQUEST
        batches = [join(chunks[i:i + per_batch]) for i in range(0, len(chunks), per_batch)]
        size = sum(len(b) for b in batches) / len(events)
        insert_cpu = 0.0
        client.command("SYSTEM STOP MERGES raw_events")
        for batch in batches:
            before = time.process_time()  # merges are stopped: this is the insert, its views and part writes
            client.raw_insert("raw_events", columns, batch, fmt=fmt,
                              settings=dict(INSERT_SETTINGS, **settings, insert_deduplication_token=uuid.uuid4().hex))
            insert_cpu += time.process_time() - before
        stored = client.query("SELECT count() FROM raw_events").result_rows[0][0]
        assert stored == len(events), (stored, len(events))
        client.command("SYSTEM START MERGES raw_events")
        before = time.process_time()
        client.command("OPTIMIZE TABLE raw_events FINAL")
        merge_cpu = time.process_time() - before
        out = {"variant": variant, "rows": len(events), "bytes_per_row": round(size, 1),
               "encode_us": round(encode_us, 3), "encode_us_1": round(encode_us_1, 3),
               "insert_us": round(insert_cpu / len(events) * 1e6, 3), "merge_us": round(merge_cpu / len(events) * 1e6, 3)}
        out["total_us"] = round(out["encode_us"] + out["insert_us"] + out["merge_us"], 3)
        return out
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


def merge_memory(args) -> dict:
    """Memory and CPU of one merge of 17 parts of `--batch` rows each, for the granule size
    `--granularity-bytes` (narrow table, RowBinary; `--variant wide`: the wide table, JSONEachRow):
    peak of ClickHouse's MemoryTracking and of the merge's own memory_usage (system.merges), polled
    every 20 ms from a second connection."""
    wide = args.variant == "wide"
    data_dir = Path(tempfile.mkdtemp(prefix="fragstats-mergemem-"))
    folder = schema_folder("wide" if wide else "narrow", args.granularity_bytes)
    try:
        client = clickhouse_connect.get_client(dsn=f"chdb://{data_dir}")
        migrate_clickhouse(client, folder)
        events = make_events(args.batch)
        payload = json_encoder()(events) if wide else rows.encode(events)
        fmt, columns, settings = ("JSONEachRow", None, JSON_SETTINGS) if wide else ("RowBinary", rows.COLUMNS, {})
        client.command("SYSTEM STOP MERGES raw_events")
        insert_cpu = 0.0
        for _ in range(17):
            before = time.process_time()
            client.raw_insert("raw_events", columns, payload, fmt=fmt,
                              settings=dict(INSERT_SETTINGS, **settings, insert_deduplication_token=uuid.uuid4().hex))
            insert_cpu += time.process_time() - before
        probe = clickhouse_connect.get_client(dsn=f"chdb://{data_dir}")
        base = probe.query("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'").result_rows[0][0]
        peaks = {"tracked": 0, "merge": 0}
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                tracked = probe.query("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'").result_rows[0][0]
                merge = probe.query("SELECT sum(memory_usage) FROM system.merges").result_rows[0][0] or 0
                peaks["tracked"] = max(peaks["tracked"], tracked - base)
                peaks["merge"] = max(peaks["merge"], merge)
                time.sleep(0.02)
        poller = threading.Thread(target=poll, daemon=True)
        client.command("SYSTEM START MERGES raw_events")
        poller.start()
        before, t0 = time.process_time(), time.perf_counter()
        client.command("OPTIMIZE TABLE raw_events FINAL")
        wall = time.perf_counter() - t0
        merge_cpu = time.process_time() - before  # the poller's queries included: a few ms
        done.set()
        poller.join()
        n = 17 * args.batch
        parts = client.query("SELECT part_type, count() FROM system.parts WHERE active AND table = 'raw_events' "
                             "GROUP BY part_type").result_rows
        marks = client.query("SELECT sum(marks) FROM system.parts WHERE active AND table = 'raw_events'").result_rows[0][0]
        return {"table": "wide" if wide else "narrow", "granularity_bytes": args.granularity_bytes or "default", "rows": n,
                "insert_us": round(insert_cpu / n * 1e6, 3),
                "merge_us": round(merge_cpu / n * 1e6, 3), "merge_wall_s": round(wall, 2),
                "merge_peak_mib": round(peaks["merge"] / 2**20, 1), "tracked_peak_mib": round(peaks["tracked"] / 2**20, 1),
                "parts_after": parts, "marks_after": marks}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.formats")
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--variant", help=argparse.SUPPRESS)  # one run, in this process
    ap.add_argument("--merge-memory", action="store_true")
    ap.add_argument("--granularity-bytes", type=int, default=None)
    args = ap.parse_args()
    if args.merge_memory and args.variant:
        print(json.dumps(merge_memory(args)), flush=True)
        return
    if args.variant:
        print(json.dumps(run_one(args)), flush=True)
        return
    if args.merge_memory:
        order = [("narrow", 1 << 20), ("narrow", DEFAULT_GRANULARITY_BYTES), ("narrow", 2 << 20), ("wide", None),
                 ("narrow", 4 << 20), ("narrow", 256 << 10)]
        plan = [g for r in range(args.repeats) for g in (order if r % 2 == 0 else order[::-1])]
        results = []
        for table, g in plan:
            cmd = [sys.executable, "-m", "bench.formats", "--merge-memory", "--variant", table, "--batch", str(args.batch)]
            if g:
                cmd += ["--granularity-bytes", str(g)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            line = out.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            results.append(json.loads(line))
        return
    variants = args.variants.split(",")
    runs: dict[str, list[dict]] = defaultdict(list)
    for r in range(args.repeats):
        for variant in (variants if r % 2 == 0 else variants[::-1]):
            out = subprocess.run([sys.executable, "-m", "bench.formats", "--variant", variant, "--rows", str(args.rows),
                                  "--batch", str(args.batch)], capture_output=True, text=True)
            if out.returncode:
                print(json.dumps({"variant": variant, "error": out.stderr.strip().splitlines()[-1:]}), flush=True)
                continue
            line = out.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            runs[variant].append(json.loads(line))
    summary = {v: {k: round(statistics.median(r[k] for r in rs), 2) for k in
                   ("bytes_per_row", "encode_us", "encode_us_1", "insert_us", "merge_us", "total_us")}
               for v, rs in runs.items()}
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
