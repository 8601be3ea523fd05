"""Long per-event work gives the event loop a turn between slices (fragstats/cooperative.py)."""

from __future__ import annotations

import asyncio

from fragstats.cooperative import mapped, slices


async def test_mapped_is_the_list_comprehension_and_lets_the_loop_run_between_slices():
    turns = 0
    stop = False

    async def ticker():
        nonlocal turns
        while not stop:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = turns
    items = list(range(5000))
    out = await mapped(lambda x: x * 2 if x % 3 else None, items, size=512)
    during = turns - start
    stop = True
    await task
    assert out == [x * 2 for x in items if x % 3]
    assert during >= 5000 // 512  # one turn before every slice but the first (10 slices)


async def test_slices_cover_every_item_once_in_order():
    items = list(range(1025))
    seen = [x async for part in slices(items, 512) for x in part]
    assert seen == items
    assert [len(p) async for p in slices(items, 512)] == [512, 512, 1]
    assert [p async for p in slices([], 512)] == []
