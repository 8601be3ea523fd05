"""The write path against the real engine: a retried insert counts once, a batch that keeps failing
is spooled and replayed, the queue's admission is all or nothing, the DDL matches the Structs."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
from helpers import eventually

from fragstats.migrations import migrate_clickhouse, migrate_postgres
from ingest import rows
from ingest.decode import validate
from ingest.events import STORAGE, STRUCTS, UnknownEvent
from ingest.pipeline import Stored
from ingest.queue import Chunk, EventQueue

pytestmark = pytest.mark.asyncio(loop_scope="session")


def kills(match_id: str, n: int) -> list:
    items = [{"type": "player_kill", "match_id": match_id, "timestamp": i, "attacker_name": "Ann",
              "victim_name": f"V{i}", "weapon": "Kar98", "hitloc": "head", "map_name": "dm/mohdm6"}
             for i in range(n)]
    verdicts = validate(items, server_id=4242)
    assert not verdicts.rejected
    return verdicts.accepted


async def counts(app, match_id: str) -> tuple[int, int]:
    engines = app.state.engines
    raw = await engines.query("SELECT count() FROM raw_events WHERE match_id = {m:String}", {"m": match_id})
    agg = await engines.query("SELECT sum(kills) FROM player_match WHERE match_id = {m:String}", {"m": match_id})
    return raw[0][0], agg[0][0]


async def test_retried_insert_with_same_token_counts_once_in_raw_and_views(app):
    pipeline = app.state.pipeline
    m = "match_" + uuid.uuid4().hex[:16]
    payload = rows.encode(kills(m, 3))
    token = uuid.uuid4().hex
    for _ in range(3):  # e.g. the first attempt committed but its answer was lost
        await pipeline.inserter.insert_once(pipeline.client, payload, token, 3)
    assert await counts(app, m) == (3, 3)
    await pipeline.inserter.insert_once(pipeline.client, payload, uuid.uuid4().hex, 3)  # a different batch is not a duplicate
    assert await counts(app, m) == (6, 6)


async def test_failing_insert_is_spooled_then_replayed(app):
    pipeline = app.state.pipeline
    engines = app.state.engines
    m = "match_" + uuid.uuid4().hex[:16]
    batch = kills(m, 5)
    failures_before = pipeline.metrics.insert_failures._value.get()
    # A real failure of the real engine: the table is gone while the batch is written.
    await engines.query("RENAME TABLE raw_events TO raw_events_away")
    try:
        stored = await pipeline.flush([pipeline.prepare(batch)])
    finally:
        await engines.query("RENAME TABLE raw_events_away TO raw_events")
    assert stored is Stored.SPOOLED
    assert pipeline.metrics.insert_failures._value.get() >= failures_before + 2  # first try + retry
    spooled = [e for e in pipeline.spool.entries() if e.events == 5]
    assert spooled, "batch not in the spool"
    assert m.encode() in pipeline.spool.read(spooled[0])
    # ClickHouse answers again: the background replayer (every 100 ms here) re-inserts the batch.
    await eventually(lambda: not pipeline.spool.entries())
    assert await counts(app, m) == (5, 5)
    assert await pipeline.replay_spool() == 0  # nothing left to replay


def chunk(n: int, tag: int = 0) -> Chunk:
    return Chunk(n, b"x" * n, [], {(1, f"m{tag}"): 0.0})


async def test_queue_admission_is_all_or_nothing():
    queue = EventQueue(capacity=10, batch_size=4)
    first, second, third = chunk(3, 1), chunk(3, 2), chunk(4, 3)
    assert queue.offer(first) and queue.offer(second)
    assert not queue.offer(chunk(5))  # would overflow: nothing of it is kept
    assert queue.size == 6
    assert queue.offer(third)
    # Whole chunks only: a batch stops before the chunk that would pass batch_size, unless empty.
    assert await queue.take(0.01) == [first]
    assert await queue.take(0.01) == [second]
    queue.close()
    assert not queue.offer(chunk(1))
    assert await queue.take(0.01) == [third]
    assert await queue.take(0.01) == []


async def test_take_waits_for_the_flush_interval_then_returns_a_partial_batch():
    queue = EventQueue(capacity=100, batch_size=50)
    loop = asyncio.get_running_loop()
    small = chunk(2)
    queue.offer(small)
    start = loop.time()
    assert await queue.take(0.1) == [small]
    assert loop.time() - start >= 0.09


async def test_prepare_keeps_notable_events_and_touched_matches(app):
    events = kills("match_" + uuid.uuid4().hex[:16], 3) + validate(
        [{"type": "weapon_fire", "match_id": "m-fire", "player_name": "F"}], 4242).accepted
    prepared = app.state.pipeline.prepare(events)
    assert prepared.events == 4 and len(rows.split(prepared.payload)) == 4
    assert prepared.notable == events[:3]  # the kills, not the shot
    assert set(prepared.touched) == {(4242, events[0].match_id), (4242, "m-fire")}


async def test_migrations_are_idempotent(app):
    engines = app.state.engines
    assert await migrate_postgres(engines.pg) == []
    assert await asyncio.to_thread(migrate_clickhouse, engines.ch_writer) == []


async def test_raw_events_merges_with_lower_write_amplification(app):
    """0005 applies to an existing raw_events (an ALTER, not a new table): merge_selector_base 20."""
    rows = await app.state.engines.query(
        "SELECT create_table_query FROM system.tables WHERE name = 'raw_events' AND database = currentDatabase()")
    assert "merge_selector_base = 20" in rows[0][0]
    other = await app.state.engines.query(
        "SELECT create_table_query FROM system.tables WHERE name = 'player_match' AND database = currentDatabase()")
    assert "merge_selector_base" not in other[0][0]


async def test_every_struct_field_is_stored_in_a_raw_events_column(app):
    """A Struct field with no place to go would be lost, a column the DDL lacks would make every batch
    fail; catch both here. Each field has a column (under its role's name for a player block,
    ingest/events.py STORAGE) or is kept in `extra`, and every column the rows write exists."""
    found = await app.state.engines.query(
        "SELECT name FROM system.columns WHERE table = 'raw_events' AND database = currentDatabase()")
    columns = {r[0] for r in found}
    assert set(rows.COLUMNS) <= columns
    for etype, cls in STRUCTS.items():
        stored, in_extra = STORAGE[etype]
        assert set(stored) <= columns, etype
        placed = set(stored.values()) | set(in_extra) | {"extra"}
        assert placed == set(cls.__struct_fields__), f"{etype}: {set(cls.__struct_fields__) ^ placed}"
    assert set(UnknownEvent.__struct_fields__) <= columns


async def test_ingest_status_reconciles(client, app):
    from conftest import ADMIN, new_server, settle

    _, token = await new_server(client, "reconcile")
    m = "match_" + uuid.uuid4().hex[:16]
    before = (await client.get("/api/v1/ingest/status", headers=ADMIN)).json()
    resp = await client.post("/api/v1/ingest/events", json=[{"type": "jump", "match_id": m, "player_name": "J",
                                                            "jump_height": "12"}] * 7, headers={"X-Server-Token": token})
    assert resp.status_code == 202
    await settle(app)
    after = (await client.get("/api/v1/ingest/status", headers=ADMIN)).json()
    assert after["accepted"] - before["accepted"] == 7
    assert after["stored"] - before["stored"] == 7
    assert after["queued"] == after["in_flight"] == 0
    assert (await client.get("/api/v1/ingest/status")).status_code == 401


async def test_committed_parts_are_fsynced_so_the_write_ahead_log_may_let_them_go(app):
    """0006: a batch leaves the write-ahead log once committed; its parts must survive a power cut."""
    rows = await app.state.engines.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'")
    assert len(rows) >= 8
    for name, ddl in rows:
        assert "fsync_after_insert = 1" in ddl and "fsync_part_directory = 1" in ddl, name


async def test_a_slow_after_commit_hook_does_not_slow_inserts(app):
    """Hooks run on their own task: the writer hands a committed batch over and goes on."""
    pipeline = app.state.pipeline
    release = asyncio.Event()
    seen: list[int] = []

    async def slow_tournament_hook(notable: list, touched: dict) -> None:
        await release.wait()  # e.g. a tournament transaction stuck behind a lock
        seen.append(len(notable))

    pipeline.after_commit.append(slow_tournament_hook)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(3):
            assert await pipeline.flush([pipeline.prepare(kills("match_" + uuid.uuid4().hex[:16], 4))]) is Stored.COMMITTED
        assert loop.time() - start < 1.5  # three inserts, none waiting for the hook
        assert seen == [] and pipeline.hooks_pending >= 3
        release.set()
        await eventually(lambda: sum(seen) == 12)
        # Every committed event reached the hook once: the first batch alone (the hook was waiting
        # with it), the two that queued meanwhile in one call (a hook behind catches up at once).
        assert seen == [4, 8]
    finally:
        pipeline.after_commit.remove(slow_tournament_hook)


async def test_a_hook_that_falls_too_far_behind_loses_its_oldest_batches_counted(app):
    from ingest.pipeline import HookRunner

    dropped: list[str] = []
    release = asyncio.Event()
    got: list = []

    async def stuck(notable: list, touched: dict) -> None:
        await release.wait()
        got.append(notable)

    runner = HookRunner(stuck, capacity=2, on_drop=dropped.append)
    for i in range(5):
        runner.offer([i], {})
        await asyncio.sleep(0)  # the first item is taken by the hook's task and waits there
    assert dropped == ["stuck", "stuck"]
    release.set()
    await runner.close(5)
    assert got == [[0], [3, 4]]  # the two kept, in one call


async def test_a_hook_behind_holds_at_most_its_event_bound_and_gets_the_rest_merged():
    from ingest.pipeline import HookRunner

    dropped: list[str] = []
    release = asyncio.Event()
    got: list = []

    async def stuck(notable: list, touched: dict) -> None:
        await release.wait()
        got.append((notable, touched))

    runner = HookRunner(stuck, capacity=1000, on_drop=dropped.append, capacity_events=250)
    runner.offer(list(range(100)), {(1, "m"): 1.0})
    await asyncio.sleep(0)  # taken by the hook, which waits
    for start, at in ((100, 2.0), (200, 3.0), (300, 2.5)):
        runner.offer(list(range(start, start + 100)), {(1, "m"): at, (2, f"n{start}"): at})
    assert dropped == ["stuck"]  # 300 events queued > 250: the oldest batch went
    release.set()
    await runner.close(5)
    assert got[0][0] == list(range(100))
    merged, touched = got[1]
    assert merged == list(range(200, 400))  # commit order kept
    assert touched == {(1, "m"): 3.0, (2, "n200"): 3.0, (2, "n300"): 2.5}  # the latest receipt time wins


async def test_a_chunk_record_keeps_rows_notable_events_and_matches_and_reads_the_old_format(app):
    """The write-ahead log keeps a chunk's record: its rows, its notable events exactly (a match_end
    without scores is not a 0:0 after a crash), its matches. A record of the release before
    clickhouse/0008 (JSONEachRow lines) reads as the same chunk."""
    items = [{"type": "match_end", "match_id": "m-rec", "map_name": "dm/x"},
             {"type": "player_kill", "match_id": "m-rec", "attacker_name": "A", "victim_name": "B", "killer_name": "K"},
             {"type": "weapon_fire", "match_id": "m-other", "player_name": "F"},
             {"type": "bomb_planted", "match_id": "m-rec", "site": "A"}]
    events = validate(items, server_id=77).accepted
    chunk = app.state.pipeline.prepare(events)
    again = Chunk.from_record(4, chunk.record(), lsn=9)
    assert again.payload == chunk.payload and again.lsn == 9 and not again.legacy
    assert again.notable == chunk.notable == events[:2]
    assert again.notable[0].allies_score is None and again.notable[1].killer_name == "K"
    assert again.touched == chunk.touched == {(77, "m-rec"): events[0].received_at, (77, "m-other"): events[0].received_at}
    old = Chunk.from_record(4, msgspec.json.Encoder().encode_lines(events), lsn=3)
    assert old.legacy and old.payload == chunk.payload and old.notable == events[:2] and old.touched == chunk.touched
