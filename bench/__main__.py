"""`python -m bench run [--quick]`: ingest and query performance, measured against the engine's own
limit in the same run, written to bench/RESULTS.md.

What it measures (against the targets in `targets()`): (a) the engine ceiling (bench/ceiling.py: same events, same DDL and MVs,
straight through the ClickHouse client), run right before each 100-event saturation run; (b) end to end through `fragstats serve` at saturation per
request size (events/s *committed*, read back from the app's reconciliation endpoint); (c) time to
202 at fixed offered rates; (d) 2x overload; (e) query latency over a large store while ingest runs;
(f) reconciliation after every app run (accepted = stored + queued + in flight + spooled +
dead-lettered); (g) the optional peer, Debian's clickhouse-server over its own HTTP interface
(bench/peer.py), at the same request size (100 events); (h) the cost of the write-ahead log:
saturation with `FRAGSTATS_DURABILITY=memory` and `wal`, side by side (`wal_cost`); (i) a bare ASGI
app on the same server stack answering 202 to the same 1-event requests (bench/bare.py), run right
before each 1-event saturation run. The p99 time to 202 is taken at 150k events/s offered, or at 60%
of the saturation rate when 150k is beyond it (the report says which). The load generator is wrk
(C, its own process) with bench/ingest.lua; each figure is min/median/max over the runs.
`--quick` (about 4 minutes) prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from tqdm import tqdm

from bench.harness import App, BareApp, RssSampler, ensure_wrk, run_wrk
from bench.payloads import write_bodies
from bench.peer import INSERT_PATH, Peer, ensure_clickhouse, peer_rows
from bench.peer import version as peer_version

HERE = Path(__file__).resolve().parent
SIZES = (1, 20, 100, 1000)
# Everything after this line in RESULTS.md is hand-written analysis; a new run keeps it.
NOTES_MARKER = "<!-- notes: kept across runs -->"


def mmm(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


class Bench:
    def __init__(self, quick: bool, runs: int, root: Path):
        self.quick = quick
        self.runs = 1 if quick else runs
        self.root = root
        self.wrk = ensure_wrk()
        self.results: dict = {"reconciliation": []}
        self.ceilings: list[tuple[float, float]] = []  # (rows/s, CPU µs per row) per run
        self.lists: dict[int, Path] = {}
        self.bar: tqdm | None = None

    # ---- helpers ---------------------------------------------------------

    def step(self, label: str) -> None:
        if self.bar:
            self.bar.set_description(label)
            self.bar.update(1)

    def bodies(self) -> None:
        for size in SIZES:
            count = {1: 4000, 20: 1000, 100: 400, 1000: 60}[size]
            paths = write_bodies(self.root / "bodies" / str(size), size, count, seed=size)
            listing = self.root / f"list{size}"
            listing.write_text("\n".join(map(str, paths)))
            self.lists[size] = listing

    def reconcile(self, app: App, label: str) -> dict:
        st = app.wait_drained()
        ok = st["accepted"] + st["recovered"] == (st["stored"] + st["queued"] + st["in_flight"] + st["spooled"]
                                                  + st["dead_lettered"])
        entry = {"run": label, **st, "ok": ok}
        self.results["reconciliation"].append(entry)
        return entry

    # ---- (a) engine ceiling ---------------------------------------------

    def ceiling_once(self, i: int) -> None:
        """One ceiling run (its own process). Run right before each 100-event saturation run, so the
        ratio compares figures taken minutes apart: this VM's speed drifts within a full run."""
        out = subprocess.run([sys.executable, "-m", "bench.ceiling", "--data-dir", str(self.root / f"ceiling{i}"),
                              "--batch-size", "100000", "--batches", "3" if self.quick else "6"],
                             capture_output=True, text=True, check=True, cwd=HERE.parent)
        data = json.loads(out.stdout.strip().splitlines()[-1])
        self.ceilings.append((statistics.median(data["rows_per_s"]), statistics.median(data["cpu_us_per_row"])))
        self.results["ceiling_rows_per_s"] = mmm([c[0] for c in self.ceilings])
        self.results["ceiling_cpu_us_per_row"] = mmm([c[1] for c in self.ceilings])
        self.step("engine ceiling")

    # ---- (b) saturation -------------------------------------------------

    def saturate(self, app: App, size: int, seconds: float, connections: int) -> dict:
        st0, cpu0 = app.status(), app.cpu_seconds()
        t0 = time.monotonic()
        w = run_wrk(self.wrk, app, self.lists[size], seconds, connections)
        elapsed = time.monotonic() - t0
        st1, cpu1 = app.status(), app.cpu_seconds()
        committed = st1["committed"] - st0["committed"]
        return {"committed_per_s": committed / elapsed, "accepted_per_s": (st1["accepted"] - st0["accepted"]) / elapsed,
                "requests_per_s": w["requests"] / (w["duration_us"] / 1e6),
                "accepted_requests_per_s": w["statuses"].get("202", 0) / (w["duration_us"] / 1e6),
                "cpu_us_per_event": (cpu1 - cpu0) / max(committed, 1) * 1e6, "wrk": w}

    def bare_once(self, seconds: float) -> float:
        """(i) Requests/s the bare ASGI app answers with 202, 1-event requests, as the app is driven."""
        with BareApp() as bare:
            w = run_wrk(self.wrk, bare, self.lists[1], seconds, 64)
        self.step("bare ASGI app")
        return w["statuses"].get("202", 0) / (w["duration_us"] / 1e6)

    def saturation(self) -> None:
        sizes = (100, 1) if self.quick else SIZES
        seconds = 8 if self.quick else 15
        for size in sizes:
            runs, bare = [], []
            for i in range(self.runs):
                if size == 100:
                    self.ceiling_once(i)
                if size == 1:
                    bare.append(self.bare_once(seconds))
                with App(self.root) as app:
                    runs.append(self.saturate(app, size, seconds, connections=64 if size == 1 else 16))
                    self.reconcile(app, f"saturation {size}-event #{i + 1}")
                self.step(f"saturation {size}-event")
            self.results[f"saturation_{size}"] = {
                "committed_per_s": mmm([r["committed_per_s"] for r in runs]),
                "accepted_requests_per_s": mmm([r["accepted_requests_per_s"] for r in runs]),
                "cpu_us_per_event": mmm([r["cpu_us_per_event"] for r in runs]),
                "p99_ms": mmm([r["wrk"]["p99_us"] / 1000 for r in runs]),
            }
            if size == 100:  # each run against the ceiling measured just before it
                self.results["ratio_to_ceiling"] = mmm([r["committed_per_s"] / c[0] for r, c in zip(runs, self.ceilings)])
            if size == 1:  # each run against the bare app measured just before it
                self.results["bare_asgi_requests_per_s"] = mmm(bare)
                self.results["ratio_to_bare"] = mmm([r["accepted_requests_per_s"] / b for r, b in zip(runs, bare)])

    # ---- (h) the cost of the write-ahead log -----------------------------

    def durability(self) -> None:
        """Committed events/s at saturation (100-event requests) with `FRAGSTATS_DURABILITY=memory`
        and `=wal`, in the order memory, wal, wal, memory so that the VM's drift within the run
        falls on both alike; `wal_cost` = 1 - wal / memory. Also the p99 time to 202 of each."""
        seconds = 8 if self.quick else 15
        rates: dict[str, list[float]] = {"memory": [], "wal": []}
        p99: dict[str, list[float]] = {"memory": [], "wal": []}
        for mode in ("memory", "wal", "wal", "memory"):
            with App(self.root, {"FRAGSTATS_DURABILITY": mode}) as app:
                run = self.saturate(app, 100, seconds, connections=16)
                rates[mode].append(run["committed_per_s"])
                p99[mode].append(run["wrk"]["p99_us"] / 1000)
                self.reconcile(app, f"durability {mode}")
            self.step(f"durability: {mode}")
        memory, wal = statistics.mean(rates["memory"]), statistics.mean(rates["wal"])
        self.results["durability"] = {"memory_committed_per_s": mmm(rates["memory"]), "wal_committed_per_s": mmm(rates["wal"]),
                                      "memory_p99_ms": mmm(p99["memory"]), "wal_p99_ms": mmm(p99["wal"]),
                                      "wal_cost": 1 - wal / memory}

    # ---- (c) latency at fixed offered rates -----------------------------

    def latency_target(self) -> int:
        """The offered rate of the p99 target: 150k events/s, or 60% of the saturation rate (100-event
        requests) when 150k is beyond it."""
        saturation = self.results["saturation_100"]["committed_per_s"]["median"]
        return 150_000 if saturation >= 150_000 else int(round(0.6 * saturation, -3))

    def latency(self) -> None:
        target = self.latency_target()
        self.results["latency_target"] = {"offered_events_per_s": target,
                                          "why": "150k" if target == 150_000 else "60% of the saturation rate"}
        rates = (target,) if self.quick else tuple(sorted({50_000, 100_000, 150_000, target}))
        seconds = 8 if self.quick else 15
        for rate in rates:
            p50, p99, p999, achieved = [], [], [], []
            for i in range(self.runs):
                with App(self.root) as app:
                    connections = 32
                    req_per_s = rate / 100
                    pace_ms = connections / req_per_s * 1000
                    w = run_wrk(self.wrk, app, self.lists[100], seconds, connections, pace_ms=pace_ms)
                    p50.append(w["p50_us"] / 1000)
                    p99.append(w["p99_us"] / 1000)
                    p999.append(w["p999_us"] / 1000)
                    achieved.append(w["statuses"].get("202", 0) * 100 / (w["duration_us"] / 1e6))
                    self.reconcile(app, f"latency {rate} #{i + 1}")
                self.step(f"latency at {rate // 1000}k/s")
            self.results[f"latency_{rate}"] = {"p50_ms": mmm(p50), "p99_ms": mmm(p99), "p999_ms": mmm(p999),
                                                "achieved_events_per_s": mmm(achieved)}

    # ---- (d) overload -----------------------------------------------------

    def overload(self) -> None:
        sustainable = self.results["saturation_100"]["committed_per_s"]["median"]
        seconds = 10 if self.quick else 60
        committed, shed_share, fivexx, timeouts, rss = [], [], [], [], []
        for i in range(self.runs):
            with App(self.root) as app:
                connections = 64
                pace_ms = connections / (2 * sustainable / 100) * 1000
                st0 = app.status()
                t0 = time.monotonic()
                with RssSampler(app.proc.pid) as sampler:
                    w = run_wrk(self.wrk, app, self.lists[100], seconds, connections, pace_ms=pace_ms)
                elapsed = time.monotonic() - t0
                st1 = app.status()
                committed.append((st1["committed"] - st0["committed"]) / elapsed)
                statuses = w["statuses"]
                shed_share.append(statuses.get("429", 0) / max(w["requests"], 1))
                fivexx.append(sum(v for k, v in statuses.items() if k.startswith("5")))
                timeouts.append(w["errors_timeout"])
                rss.append(sampler.peak / 2**20)
                self.reconcile(app, f"overload #{i + 1}")
            self.step("2x overload")
        self.results["overload"] = {"offered_events_per_s": 2 * sustainable, "committed_per_s": mmm(committed),
                                    "share_429": mmm(shed_share), "responses_5xx": mmm(fivexx),
                                    "timeouts": mmm(timeouts), "peak_rss_mb": mmm(rss), "seconds": seconds}

    # ---- (g) the optional peer: Debian's clickhouse-server over HTTP -----

    def peer(self) -> None:
        binary = ensure_clickhouse()
        if not binary:
            self.results["peer"] = {"available": False}
            return
        rows, columns = peer_rows([Path(p) for p in self.lists[100].read_text().split()])
        folder = self.root / "peer-bodies"
        folder.mkdir()
        paths = []
        for i, body in enumerate(rows):
            paths.append(folder / f"{i}.ndjson")
            paths[-1].write_bytes(body)
        listing = self.root / "peer-list"
        listing.write_text("\n".join(map(str, paths)))
        version = peer_version()
        rate, cpu, p99, achieved, errors = [], [], [], [], []
        seconds = 8 if self.quick else 15
        for i in range(self.runs):
            with Peer(binary, self.root / f"peer{i}", columns) as peer:
                proc = psutil.Process(peer.proc.pid)
                cpu0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
                w = run_wrk(self.wrk, peer, listing, seconds, 16, path=INSERT_PATH)
                elapsed = time.monotonic() - t0
                stored = peer.flushed()
                rate.append(stored / elapsed)
                cpu.append((sum(proc.cpu_times()[:2]) - cpu0) / max(stored, 1) * 1e6)
                errors.append(w["requests"] - w["statuses"].get("200", 0))
                if self.quick:  # its rate only; its latency is a full run's figure
                    continue
                connections = 32
                pace_ms = connections / (150_000 / 100) * 1000
                w = run_wrk(self.wrk, peer, listing, 15, connections, pace_ms=pace_ms, path=INSERT_PATH)
                p99.append(w["p99_us"] / 1000)
                achieved.append(w["statuses"].get("200", 0) * 100 / (w["duration_us"] / 1e6))
                errors[-1] += w["requests"] - w["statuses"].get("200", 0)
            self.step("peer: clickhouse-server")
        self.results["peer"] = {"available": True, "version": version, "rows_per_s": mmm(rate),
                                "cpu_us_per_row": mmm(cpu), "non_200": mmm(errors)}
        if p99:
            self.results["peer"].update(p99_ms_at_150k=mmm(p99), achieved_at_150k=mmm(achieved))

    # ---- (e) queries over a large store while ingest runs -----------------

    def queries(self, target_events: int) -> None:
        lat: dict[str, list[float]] = {"leaderboard": [], "player": [], "heatmap": []}
        with App(self.root, {"FRAGSTATS_QUEUE_CAPACITY": "1000000", "FRAGSTATS_BATCH_SIZE": "100000"}) as app:
            while app.status()["stored"] < target_events:
                run_wrk(self.wrk, app, self.lists[1000], 20, 8)
                app.wait_drained()
                if self.bar:
                    self.bar.set_description(f"filling store: {app.status()['stored']:,} events")
            stored = app.status()["stored"]
            stop = threading.Event()

            def background_ingest() -> None:
                while not stop.is_set():
                    run_wrk(self.wrk, app, self.lists[100], 5, 8, pace_ms=8 / 500 * 1000)  # ~50k events/s

            feeder = threading.Thread(target=background_ingest, daemon=True)
            feeder.start()
            time.sleep(1)
            with httpx.Client(base_url=app.url, timeout=30) as c:
                board = c.get("/api/v1/stats/leaderboard?limit=50").json()
                player = board["players"][0]["player_id"]
                prof = c.get(f"/api/v1/stats/player/{player}").json()
                map_name = prof["maps"][0]["map_name"] if prof["maps"] else "dm/mohdm1"
                routes = {"leaderboard": "/api/v1/stats/leaderboard?stat=kills&period=all&limit=50",
                          "player": f"/api/v1/stats/player/{player}",
                          "heatmap": f"/api/v1/stats/player/{player}/heatmap/{map_name}?kind=kills"}
                for _ in range(100 if self.quick else 300):
                    for name, path in routes.items():
                        t0 = time.perf_counter()
                        assert c.get(path).status_code == 200
                        lat[name].append((time.perf_counter() - t0) * 1000)
            stop.set()
            feeder.join()
            self.reconcile(app, "queries")
        self.step("queries over a large store")
        self.results["queries"] = {"stored_events": stored, **{
            name: {"p50_ms": statistics.median(v), "p99_ms": sorted(v)[int(len(v) * 0.99) - 1]} for name, v in lat.items()}}

    # ---- report --------------------------------------------------------------

    def summary(self) -> dict:
        r = self.results
        e2e = r["saturation_100"]["committed_per_s"]["median"]
        ceiling = r["ceiling_rows_per_s"]["median"]
        ov = r["overload"]
        target = r["latency_target"]["offered_events_per_s"]
        peer = r.get("peer", {})
        return {"e2e_events_per_s": round(e2e), "ceiling_events_per_s": round(ceiling),
                "ratio": round(r["ratio_to_ceiling"]["median"], 3),
                "peer_events_per_s": round(peer["rows_per_s"]["median"]) if peer.get("available") else None,
                "bare_asgi_requests_per_s": round(r["bare_asgi_requests_per_s"]["median"]),
                "one_event_requests_per_s": round(r["saturation_1"]["accepted_requests_per_s"]["median"]),
                # at 150k events/s offered, or at `p99_offered_events_per_s` (60% of saturation) below it
                "p99_ms_at_150k": round(r[f"latency_{target}"]["p99_ms"]["median"], 2),
                "p99_offered_events_per_s": target,
                "overload_5xx": int(ov["responses_5xx"]["max"]),
                "overload_peak_rss_mb": round(ov["peak_rss_mb"]["max"], 1),
                "wal_cost": round(r["durability"]["wal_cost"], 3),
                "reconciled": all(x["ok"] for x in r["reconciliation"])}


def speed_probe() -> float:
    """CPU seconds of a fixed 10M-step pure-Python loop. This VM's speed changes by up to 2x within
    an hour (0.44 s and 0.98 s measured 20 minutes apart), so the probe is taken at the start and
    the end of a run; only figures taken in the same run (the ratio to the ceiling) compare cleanly."""
    t0 = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.process_time() - t0, 3)


def targets(r: dict, summary: dict) -> list[str]:
    """The targets of issue 12 (throughput against the peer and the engine ceiling, 1-event requests
    against the bare ASGI app, latency, overload, query latency) and the write-ahead log's cost,
    against this run's medians, as Markdown table rows."""
    def row(name: str, measured: float, goal: float, text: str, higher_is_better: bool = True) -> str:
        met = measured >= goal if higher_is_better else measured <= goal
        gap = "" if met else f" ({(measured - goal) / goal * 100:+.0f}%)"
        return f"| {name} | {text} | {'yes' if met else 'no' + gap} |"

    def med(m: dict) -> float:
        return m["median"]

    ov = r["overload"]
    sat = med(r["saturation_100"]["committed_per_s"])
    rows = ["| target | measured (median of this run) | met? |", "|---|---|---|"]
    peer = r.get("peer", {})
    if peer.get("available"):
        peer_rate = med(peer["rows_per_s"])
        rows.append(row("100-event requests ≥ 1.5x the peer (same run)", sat / peer_rate, 1.5,
                        f"{sat / peer_rate:.2f}x ({sat:,.0f} committed/s, peer {peer_rate:,.0f} rows/s)"))
    rows += [row("100-event requests ≥ 0.8x the engine ceiling (same run)", summary["ratio"], 0.8,
                 f"{summary['ratio']} (ceiling {summary['ceiling_events_per_s']:,} rows/s)"),
             row("moonshot: 100-event requests ≥ 250k events/s", sat, 250_000, f"{sat:,.0f} committed/s")]
    bare = med(r["ratio_to_bare"])
    rows.append(row("1-event requests ≥ 0.5x the bare ASGI app (same run)", bare, 0.5,
                    f"{bare:.2f}x ({med(r['saturation_1']['accepted_requests_per_s']):,.0f} requests/s, bare "
                    f"{med(r['bare_asgi_requests_per_s']):,.0f})"))
    target = r["latency_target"]
    lat = r[f"latency_{target['offered_events_per_s']}"]
    rows.append(row(f"p99 time to 202 ≤ 15 ms at {target['offered_events_per_s']:,} events/s offered "
                    f"({target['why']})", med(lat["p99_ms"]), 15,
                    f"{med(lat['p99_ms']):.1f} ms (achieved {med(lat['achieved_events_per_s']):,.0f} events/s)", False))
    kept = med(ov["committed_per_s"]) / sat
    rows.append(row("2x overload: ≥ 90% of the saturation rate committed", kept, 0.9,
                    f"{kept * 100:.0f}% ({med(ov['committed_per_s']):,.0f} of {sat:,.0f}/s)"))
    failures = ov["responses_5xx"]["max"] + ov["timeouts"]["max"]
    rows.append(f"| 2x overload: only 429s (no 5xx, no timeouts) | {ov['responses_5xx']['max']:.0f} 5xx, "
                f"{ov['timeouts']['max']:.0f} timeouts (worst run); {med(ov['share_429']) * 100:.1f}% of requests "
                f"answered 429 + Retry-After | {'yes' if failures == 0 else 'no'} |")
    rows.append(row("2x overload: app peak RSS ≤ 768 MiB", ov["peak_rss_mb"]["max"], 768,
                    f"{ov['peak_rss_mb']['max']:,.0f} MiB", False))
    if "queries" in r:
        p99 = r["queries"]["leaderboard"]["p99_ms"]
        rows.append(row("leaderboard p99 ≤ 50 ms over 10M events during ingest", p99, 50,
                        f"{p99:.1f} ms over {r['queries']['stored_events']:,} events", False))
    if "durability" in r:
        cost = r["durability"]["wal_cost"]
        rows.append(row("write-ahead log costs ≤ 10% of the committed rate", cost, 0.10,
                        f"wal_cost {cost:.3f}", False))
    return rows


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    import chdb

    return {"cpu": cpu, "cores": os.cpu_count(), "calibration_loop_s": speed_probe(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "chdb": chdb.__version__, "commit": commit or "unknown",
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "load_average_at_start": os.getloadavg()}


def fmt(m: dict, unit: str = "", scale: float = 1.0, digits: int = 0) -> str:
    f = f"{{:,.{digits}f}}"
    return " / ".join(f.format(m[k] * scale) for k in ("min", "median", "max")) + unit


def write_results(path: Path, info: dict, r: dict, summary: dict, quick: bool) -> None:
    lines = [
        "# Benchmark results", "",
        f"Produced by `python -m bench run{' --quick' if quick else ''}` — commit {info['commit']}, {info['date']}.",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}, "
        f"chDB {info['chdb']}; load average at start {tuple(round(x, 2) for x in info['load_average_at_start'])}; "
        f"speed probe (10M-step Python loop, CPU s) {info['calibration_loop_s']} at the start, "
        f"{info.get('calibration_loop_s_end', '?')} at the end.",
        "One app process, embedded engines, wrk (2 threads) on the same machine. Figures: min / median / max "
        f"over {r['saturation_100']['committed_per_s']['n']} run(s).", "",
        "| measure | min / median / max |", "|---|---|",
        f"| (a) engine ceiling: same events, same DDL + all MVs, no HTTP (rows/s) | {fmt(r['ceiling_rows_per_s'])} |",
        f"| (a) engine CPU per row (µs) | {fmt(r['ceiling_cpu_us_per_row'], digits=2)} |",
    ]
    for size in SIZES:
        s = r.get(f"saturation_{size}")
        if not s:
            continue
        lines += [f"| (b) {size}-event requests at saturation: committed events/s | {fmt(s['committed_per_s'])} |",
                  f"| (b) {size}-event requests: accepted requests/s | {fmt(s['accepted_requests_per_s'])} |",
                  f"| (b) {size}-event requests: app CPU per committed event, all in (µs) | {fmt(s['cpu_us_per_event'], digits=2)} |"]
    if "bare_asgi_requests_per_s" in r:
        lines += [f"| (i) bare ASGI app, same server stack, 1-event requests: requests/s answered 202 | "
                  f"{fmt(r['bare_asgi_requests_per_s'])} |",
                  f"| (i) 1-event requests, app / bare ASGI app (each run against the bare run before it) | "
                  f"{fmt(r['ratio_to_bare'], digits=3)} |"]
    for rate in sorted(int(k.split("_")[1]) for k in r if k.startswith("latency_") and k != "latency_target"):
        lat = r.get(f"latency_{rate}")
        if lat:
            lines += [f"| (c) time to 202 at {rate // 1000}k events/s offered: p50 / p99 / p99.9 median (ms) | "
                      f"{lat['p50_ms']['median']:.2f} / {lat['p99_ms']['median']:.2f} / {lat['p999_ms']['median']:.2f} "
                      f"(p99 min/med/max {fmt(lat['p99_ms'], digits=2)}; achieved {fmt(lat['achieved_events_per_s'])} events/s) |"]
    ov = r["overload"]
    lines += [f"| (d) 2x overload ({ov['offered_events_per_s']:,.0f} events/s offered, {ov['seconds']} s): committed events/s | {fmt(ov['committed_per_s'])} |",
              f"| (d) share of requests answered 429 | {fmt(ov['share_429'], digits=3)} |",
              f"| (d) 5xx responses / timeouts | {fmt(ov['responses_5xx'])} / {fmt(ov['timeouts'])} |",
              f"| (d) app peak RSS (MiB) | {fmt(ov['peak_rss_mb'], digits=1)} |"]
    peer = r.get("peer")
    if peer and peer["available"]:
        lines += [f"| (g) peer {peer['version']}: 100-event NDJSON over HTTP into Buffer -> MergeTree, no MVs, "
                  f"no validation: rows/s at saturation | {fmt(peer['rows_per_s'])} |",
                  f"| (g) peer: CPU per row (µs) | {fmt(peer['cpu_us_per_row'], digits=2)} |",
                  f"| (g) peer: non-200 answers | {fmt(peer['non_200'])} |"]
        if "p99_ms_at_150k" in peer:
            lines.insert(-1, f"| (g) peer: p99 at 150k rows/s offered (ms) | {fmt(peer['p99_ms_at_150k'], digits=2)} "
                             f"(achieved {fmt(peer['achieved_at_150k'])} rows/s) |")
    elif peer:
        lines.append("| (g) peer: Debian clickhouse-server | not available on this machine |")
    q = r.get("queries")
    if q:
        for name in ("leaderboard", "player", "heatmap"):
            lines.append(f"| (e) {name} route over {q['stored_events']:,} events during ingest: p50 / p99 (ms) | "
                         f"{q[name]['p50_ms']:.1f} / {q[name]['p99_ms']:.1f} |")
    du = r.get("durability")
    if du:
        lines += [f"| (h) durability `memory`: committed events/s at saturation (100-event requests) | {fmt(du['memory_committed_per_s'])} |",
                  f"| (h) durability `wal` (write-ahead log, group fsync before each 202) | {fmt(du['wal_committed_per_s'])} |",
                  f"| (h) p99 time to 202 at saturation, memory / wal (median, ms) | "
                  f"{du['memory_p99_ms']['median']:.1f} / {du['wal_p99_ms']['median']:.1f} |",
                  f"| (h) **wal_cost** = 1 - wal / memory (runs in the order memory, wal, wal, memory) | {du['wal_cost']:.3f} |"]
    rec = r["reconciliation"]
    lines += [f"| (f) reconciliation (accepted = stored + queued + in flight + spooled + dead-lettered) | "
              f"{sum(x['ok'] for x in rec)} of {len(rec)} runs balanced |", "",
              f"Ratio end-to-end / ceiling (100-event requests; each run against the ceiling measured just before "
              f"it, median of the runs): **{summary['ratio']}** (min / median / max {fmt(r['ratio_to_ceiling'], digits=3)}).", "",
              "```json", json.dumps(summary), "```", "",
              "## Targets", "", *targets(r, summary), ""]
    kept = path.read_text().partition(NOTES_MARKER)[2] if path.exists() else ""
    if kept:
        lines += [NOTES_MARKER + kept.rstrip("\n"), ""]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the benchmarks and write bench/RESULTS.md")
    run.add_argument("--quick", action="store_true", help="about 2 minutes; one run of the key figures")
    run.add_argument("--runs", type=int, default=3)
    run.add_argument("--query-events", type=int, default=10_000_000, help="store size for the query test")
    run.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="fragstats-bench-") as tmp:
        b = Bench(args.quick, args.runs, Path(tmp))
        b.bodies()
        steps = (1 + 1 + 1 + 1 + 1 + 1 + 4 + 1) if args.quick else (b.runs * (1 + len(SIZES) + 1 + 4 + 1 + 1) + 1 + 4)
        with tqdm(total=steps, unit="step", file=sys.stderr) as bar:
            b.bar = bar
            b.saturation()
            b.durability()
            b.latency()
            b.overload()
            b.peer()
            if not args.quick:
                b.queries(args.query_events)
        summary = b.summary()
        info["calibration_loop_s_end"] = speed_probe()
        output = args.output if not args.quick else args.output.with_name("RESULTS-quick.md")
        write_results(output, info, b.results, summary, args.quick)
        (output.with_suffix(".json")).write_text(json.dumps({"machine": info, "results": b.results, "summary": summary},
                                                            indent=2, default=str))
    print(f"wrote {output}", file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
