"""A batch ClickHouse refuses never blocks: the refused events are isolated into the dead-letter
store, the rest is stored, spool replay never stops at one entry, and a redrive after the fix
stores them.

The refusal is real: a CHECK constraint added to the real raw_events (as a migration the running
code does not match would) makes chDB refuse chosen rows with VIOLATED_CONSTRAINT.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
from conftest import ADMIN, new_server, settle
from helpers import eventually

from ingest import rows
from ingest.decode import validate
from ingest.pipeline import Stored

pytestmark = pytest.mark.asyncio(loop_scope="session")


def kills(match_id: str, n: int, weapon: str = "Kar98") -> list:
    items = [{"type": "player_kill", "match_id": match_id, "timestamp": i, "attacker_name": f"A{i % 3}",
              "victim_name": f"V{i}", "weapon": weapon, "hitloc": "head", "map_name": "dm/mohdm6"} for i in range(n)]
    verdicts = validate(items, server_id=4545)
    assert not verdicts.rejected
    return verdicts.accepted


@contextlib.asynccontextmanager
async def refusing(app, weapon: str):
    """raw_events refuses rows whose weapon is `weapon` while inside."""
    name = "poison_" + uuid.uuid4().hex[:8]
    await app.state.engines.query(f"ALTER TABLE raw_events ADD CONSTRAINT {name} CHECK weapon != '{weapon}'")
    try:
        yield
    finally:
        await app.state.engines.query(f"ALTER TABLE raw_events DROP CONSTRAINT {name}")


async def count(app, match_id: str) -> tuple[int, int]:
    engines = app.state.engines
    raw = await engines.query("SELECT count() FROM raw_events WHERE match_id = {m:String}", {"m": match_id})
    agg = await engines.query("SELECT sum(kills) FROM player_match WHERE match_id = {m:String}", {"m": match_id})
    return raw[0][0], agg[0][0] or 0


async def test_refused_rows_are_isolated_the_rest_stored_then_redriven(app, client):
    pipeline = app.state.pipeline
    m = "dl_" + uuid.uuid4().hex[:12]
    poison = "poison-" + uuid.uuid4().hex[:6]
    events = kills(m, 40)
    events[7:8] = kills(m, 1, weapon=poison)
    events[30:31] = kills(m, 1, weapon=poison)
    letters_before = pipeline.dead_letters.events
    async with refusing(app, poison):
        stored = await pipeline.flush([pipeline.prepare(events)])
        assert stored is Stored.COMMITTED
        assert await count(app, m) == (38, 38)  # the rest, counted once in the table and the view
        assert pipeline.dead_letters.events == letters_before + 2
        assert not [e for e in pipeline.spool.entries()]
        status = (await client.get("/api/v1/ingest/status", headers=ADMIN)).json()
        assert status["dead_lettered"] == pipeline.dead_letters.events
        newest = status["dead_letter_recent"][:2]
        assert all(poison in row["row"] and "VIOLATED_CONSTRAINT" in row["error"] for row in newest)
        metrics = (await client.get("/metrics")).text
        assert f"fragstats_dead_letter_events {float(pipeline.dead_letters.events)}" in metrics
        # A redrive before the fix changes nothing and loses nothing.
        again = (await client.post("/api/v1/ingest/dead-letter/redrive", headers=ADMIN)).json()
        assert again["redriven"] == 0 and again["still_refused"] == pipeline.dead_letters.events
    # The fix (the constraint gone): the redrive stores them, once.
    done = (await client.post("/api/v1/ingest/dead-letter/redrive", headers=ADMIN)).json()
    assert done["still_refused"] == 0 and done["redriven"] >= 2
    assert await count(app, m) == (40, 40)
    assert pipeline.dead_letters.events == 0
    assert (await client.post("/api/v1/ingest/dead-letter/redrive")).status_code == 401


async def test_spool_replay_isolates_a_poisoned_entry_and_goes_on_to_the_next(app):
    """The issue's wedge: replay stopped at a bad spooled batch for ever, healthy ones stuck behind."""
    pipeline = app.state.pipeline
    bad_m, good_m = "dl_" + uuid.uuid4().hex[:12], "dl_" + uuid.uuid4().hex[:12]
    poison = "poison-" + uuid.uuid4().hex[:6]
    mixed = kills(bad_m, 10) + kills(bad_m, 1, weapon=poison)
    letters_before = pipeline.dead_letters.events
    async with refusing(app, poison):
        # Oldest first: the poisoned batch, then a healthy one behind it. The background replayer
        # (every 100 ms here) must get through both.
        pipeline.spool.write(rows.encode(mixed), uuid.uuid4().hex, len(mixed))
        pipeline.spool.write(rows.encode(kills(good_m, 5)), uuid.uuid4().hex, 5)
        await eventually(lambda: not pipeline.spool.entries())
    assert await count(app, bad_m) == (10, 10)
    assert await count(app, good_m) == (5, 5)
    assert pipeline.dead_letters.events == letters_before + 1
    await pipeline.redrive()
    assert await count(app, bad_m) == (11, 11)


async def test_a_refused_event_beside_good_requests_through_the_api(client, app):
    """End to end: a request whose events ClickHouse refuses does not hold back its batch mates."""
    _, token = await new_server(client, "dead letters")
    poison = "poison-" + uuid.uuid4().hex[:6]
    m = "dl_" + uuid.uuid4().hex[:12]
    headers = {"X-Server-Token": token}
    async with refusing(app, poison):
        for weapon in ("Kar98", poison, "MP40"):
            body = [{"type": "player_kill", "match_id": m, "attacker_name": "A", "victim_name": "B", "weapon": weapon}]
            assert (await client.post("/api/v1/ingest/events", json=body, headers=headers)).status_code == 202
        await settle(app)
        assert (await count(app, m))[0] == 2
    status = (await client.get("/api/v1/ingest/status", headers=ADMIN)).json()
    assert status["spooled"] == 0 and status["dead_lettered"] >= 1
    await client.post("/api/v1/ingest/dead-letter/redrive", headers=ADMIN)
    assert (await count(app, m))[0] == 3
