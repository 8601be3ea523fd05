"""Upload load test: N concurrent encounter uploads of realistic size against a real `fragstats serve`
on loopback (embedded engines, local object store), all sent at once.

    python -m bench.uploads                  # 1,000 uploads, 1,000 at once; prints a JSON summary
    python -m bench.uploads --append         # ... and appends a section to bench/RESULTS.md

Measures: time to answer each upload (p50 / p99 / max, client side, from the request's start to
the whole answer), answers by status, the app process's peak RSS (sampled every 100 ms, the app
alone and with its embedded Postgres/Redis children), the time until every upload was parsed into
ClickHouse by the background workers, and the accounting of `GET /api/v1/uploads/status`.

A document: `--players` players, each with `--skills` damage skills of `--hits` hits and a heal skill
of 20 hits (8 x 8 x 80: ~5,300 hits, ~0.36 MB of JSON), sent uncompressed with `X-API-Key`; every
upload has its own encounterId and checksum (RFC 8785, computed as the server does), so each makes a
new report.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.harness import ADMIN, App, RssSampler
from uploads.jcs import checksum

RESULTS = Path(__file__).with_name("RESULTS.md")


def document(seed: int, players: int, skills: int, hits: int) -> dict:
    """An encounter of our format without `encounterId`/`checksum` (added per upload)."""
    rng = random.Random(seed)
    duration = 240_000
    out = []
    for i in range(players):
        damage_skills = [{"skillId": 1000 + s, "name": f"Skill {s}", "timeline": [
            {"t": int((h + rng.random()) * duration / hits) % duration, "v": rng.randint(1_000, 90_000),
             "c": rng.random() < 0.3, "l": rng.random() < 0.1, "h": rng.randint(0, 50_000), "s": 0}
            for h in range(hits)]} for s in range(skills)]
        heal = [{"t": h * duration // 20, "v": rng.randint(100, 5_000), "c": False, "l": False, "h": 0, "s": 0}
                for h in range(20)]
        dmg = sum(h["v"] for s in damage_skills for h in s["timeline"])
        out.append({"actorId": 10_000 + i, "name": f"Player {seed}-{i}", "className": f"Class {i % 5}",
                    "classSpec": f"Spec {i % 2}", "totalDamage": dmg, "totalHeal": sum(h["v"] for h in heal),
                    "damageTaken": rng.randint(0, 10**6), "dps": dmg / (duration / 1000), "hps": 10.5,
                    "critRate": 0.3, "luckyRate": 0.1, "damageSkills": damage_skills,
                    "healSkills": [{"skillId": 9000, "timeline": heal}]})
    return {"schemaVersion": 1, "startedAtMs": 1_767_225_600_000, "endedAtMs": 1_767_225_600_000 + duration,
            "durationMs": duration, "totalDamage": sum(p["totalDamage"] for p in out),
            "totalHeal": sum(p["totalHeal"] for p in out), "sceneName": "Bench Spire", "meterVersion": "bench",
            "bosses": [{"name": "Bench Dragon", "maxHp": 10**9, "defeated": True}], "players": out}


def bodies(n: int, players: int, skills: int, hits: int) -> list[bytes]:
    """`n` distinct upload bodies from 10 base documents (new encounterId and start time each)."""
    import msgspec

    bases = [document(seed, players, skills, hits) for seed in range(10)]
    out = []
    for i in range(n):
        doc = {**bases[i % 10], "encounterId": f"bench-{i}", "startedAtMs": 1_767_225_600_000 + i * 1000}
        doc["endedAtMs"] = doc["startedAtMs"] + doc["durationMs"]
        raw = msgspec.json.encode(doc)
        doc["checksum"] = checksum(raw, drop=None)
        out.append(msgspec.json.encode(doc))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def fire(url: str, key: str, payloads: list[bytes], concurrency: int) -> tuple[list[float], dict]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []
    statuses: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=900) as client:
        async def one(body: bytes) -> None:
            async with gate:
                t0 = time.perf_counter()
                try:
                    resp = await client.post("/api/v1/encounters", content=body,
                                             headers={"X-API-Key": key, "Content-Type": "application/json"})
                    status = str(resp.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                times.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(one(b) for b in payloads))
    return times, statuses


def tree_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


def run(args) -> dict:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    t_prep = time.perf_counter()
    payloads = bodies(args.uploads, args.players, args.skills, args.hits)
    prep = time.perf_counter() - t_prep
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as root, App(Path(root)) as app:
        key = httpx.post(app.url + "/api/v1/keys", headers=admin, timeout=30, json={
            "name": "bench", "scopes": ["upload"], "rate_per_minute": 10**6, "daily_uploads": 10**6,
            "daily_bytes": 10**12}).json()["key"]
        peak_tree = [0]

        def sample_tree():
            while not done[0]:
                try:
                    peak_tree[0] = max(peak_tree[0], tree_rss(app.proc.pid))
                except psutil.Error:
                    return
                time.sleep(0.1)

        import threading

        done = [False]
        sampler_thread = threading.Thread(target=sample_tree, daemon=True)
        sampler_thread.start()
        cpu0 = app.cpu_seconds()
        with RssSampler(app.proc.pid) as sampler:
            t0 = time.perf_counter()
            times, statuses = asyncio.run(fire(app.url, key, payloads, args.concurrency))
            answered = time.perf_counter() - t0
            deadline = time.monotonic() + 1800
            while True:
                st = httpx.get(app.url + "/api/v1/uploads/status", headers=admin, timeout=60).json()
                if st["queued"] == 0 and st["in_flight"] == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            parsed = time.perf_counter() - t0
        done[0] = True
        sampler_thread.join()
        cpu = app.cpu_seconds() - cpu0
    sizes = [len(p) for p in payloads]
    return {
        "uploads": args.uploads, "concurrency": args.concurrency,
        "document": {"players": args.players, "skills": args.skills, "hits_per_skill": args.hits,
                     "hits": args.players * (args.skills * args.hits + 20), "bytes_median": statistics.median(sizes)},
        "statuses": statuses, "answer_seconds": {"p50": pct(times, 0.5), "p99": pct(times, 0.99), "max": max(times)},
        "all_answered_s": answered, "all_parsed_s": parsed, "uploads_per_s": args.uploads / answered,
        "parsed_per_s": args.uploads / parsed, "app_cpu_s": cpu,
        "peak_rss_mib": sampler.peak / 2**20, "peak_rss_tree_mib": peak_tree[0] / 2**20,
        "accounting": st, "prepare_s": prep,
    }


def markdown(r: dict, commit: str) -> str:
    d = r["document"]
    acc = r["accounting"]
    balanced = acc["accepted"] == acc["stored"] + acc["queued"] + acc["in_flight"] + acc["failed"]
    return "\n".join([
        "", "## Uploads: concurrent encounter uploads (`python -m bench.uploads`)", "",
        f"Commit {commit}, {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; one app process, embedded engines, local object store, "
        f"`FRAGSTATS_UPLOAD_WORKERS=1`; the load generator (httpx, asyncio) on the same machine.",
        f"{r['uploads']:,} uploads of `POST /api/v1/encounters`, {r['concurrency']:,} at once; each a distinct report of "
        f"{d['players']} players x {d['skills']} damage skills x {d['hits_per_skill']} hits (+ a heal skill): "
        f"{d['hits']:,} hits, {d['bytes_median'] / 2**20:.2f} MiB of JSON, with its RFC 8785 checksum.", "",
        "| measure | value |", "|---|---|",
        f"| answers | {', '.join(f'{k}: {v:,}' for k, v in sorted(r['statuses'].items()))} |",
        f"| time to answer an upload: p50 / p99 / max (s) | {r['answer_seconds']['p50']:.2f} / "
        f"{r['answer_seconds']['p99']:.2f} / {r['answer_seconds']['max']:.2f} |",
        f"| all {r['uploads']:,} answered after (s) | {r['all_answered_s']:.1f} ({r['uploads_per_s']:.1f} uploads/s) |",
        f"| all parsed into ClickHouse after (s) | {r['all_parsed_s']:.1f} ({r['parsed_per_s']:.1f} reports/s) |",
        f"| app CPU, all in (s) | {r['app_cpu_s']:.1f} |",
        f"| peak RSS: app process / with its embedded engines (MiB) | {r['peak_rss_mib']:,.0f} / {r['peak_rss_tree_mib']:,.0f} |",
        f"| accounting (accepted = stored + queued + in flight + failed) | {acc['accepted']:,} = {acc['stored']:,} + "
        f"{acc['queued']} + {acc['in_flight']} + {acc['failed']}: {'balanced' if balanced else 'NOT balanced'} |", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--players", type=int, default=8)
    parser.add_argument("--skills", type=int, default=8)
    parser.add_argument("--hits", type=int, default=80)
    parser.add_argument("--append", action="store_true", help="append a section to bench/RESULTS.md")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.append:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
        with open(RESULTS, "a") as fh:
            fh.write(markdown(result, commit))
    sys.exit(0 if set(result["statuses"]) == {"201"} else 1)


if __name__ == "__main__":
    main()
