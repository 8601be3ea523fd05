"""The event loop's lag is measured: a callback that holds the loop shows in
fragstats_event_loop_lag_seconds (what an operator reads when the p99 time to 202 is high but
the disk is not)."""

from __future__ import annotations

import asyncio
import re
import time


def buckets(text: str) -> dict[str, float]:
    rows = re.findall(r'^fragstats_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)', text, re.M)
    return {le: float(count) for le, count in rows}


async def test_a_loop_held_for_300_ms_is_seen_as_lag(client):
    await asyncio.sleep(0.12)  # the watch has run a couple of times
    before = buckets((await client.get("/metrics")).text)
    assert before["+Inf"] >= 1
    time.sleep(0.3)  # holds the loop, as a long synchronous callback would  # noqa: ASYNC251
    await asyncio.sleep(0.12)
    after = buckets((await client.get("/metrics")).text)
    late = (after["+Inf"] - after["0.25"]) - (before["+Inf"] - before["0.25"])
    assert late == 1, after  # one timer fired over 250 ms late: this one
    assert after["0.1"] - before["0.1"] >= 1  # and the others within 100 ms
