"""Rotating a game server's token (`POST /api/v1/servers/{id}/token`) on the real app, Postgres and
ClickHouse: the server keeps its id and data, the old token is refused at once here and within
`FRAGSTATS_TOKEN_CACHE_TTL_S` in another app process (a real `fragstats serve` on the same Postgres),
the MQTT broker files carry the new password, and servers made before MQTT support get one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid

import httpx
import pytest
from conftest import ADMIN, new_server, settle
from helpers import cli

from fragstats.embedded import EmbeddedPostgres

pytestmark = pytest.mark.asyncio(loop_scope="session")


def events(match_id: str) -> list[dict]:
    return [{"type": "match_start", "match_id": match_id, "timestamp": "0", "map_name": "obj/obj_team2"},
            {"type": "player_kill", "match_id": match_id, "timestamp": "3.5", "attacker_name": "Ryan",
             "attacker_guid": "guid-ryan", "victim_name": "Hans", "victim_guid": "guid-hans", "weapon": "Thompson"}]


async def ingest(client, token: str, match_id: str) -> httpx.Response:
    return await client.post("/api/v1/ingest/events", json=events(match_id), headers={"X-Server-Token": token})


async def rotate(client, server_id: int, headers=ADMIN) -> httpx.Response:
    return await client.post(f"/api/v1/servers/{server_id}/token", headers=headers)


async def broker_users(client) -> dict[str, str]:
    """The broker password file as `{user: "$7$..." hash}`."""
    resp = await client.get("/api/v1/ingest/mqtt/broker-files", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return dict(line.split(":", 1) for line in resp.json()["password_file"].splitlines() if line)


def broker_accepts(password_hash: str, password: str) -> bool:
    """What mosquitto does with a `$7$<iterations>$<salt>$<hash>` line (PBKDF2-SHA512)."""
    _, seven, iterations, salt, digest = password_hash.split("$")
    assert seven == "7"
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return got == base64.b64decode(digest)


async def listed(client, server_id: int) -> dict:
    servers = (await client.get("/api/v1/servers", headers=ADMIN)).json()["servers"]
    return next(s for s in servers if s["server_id"] == server_id)


def new_match() -> str:
    return "rot_" + uuid.uuid4().hex[:16]


async def test_rotation_refuses_the_old_token_and_keeps_the_server(client, app, caplog):
    created = (await client.post("/api/v1/servers", json={"name": "rotating", "url": "q3://10.0.0.7"},
                                 headers=ADMIN)).json()
    server_id, old = created["server_id"], created["token"]
    before = new_match()
    assert (await ingest(client, old, before)).status_code == 202  # and the lookup is now cached

    caplog.set_level(logging.INFO, logger="fragstats.servers")
    resp = await rotate(client, server_id)
    assert resp.status_code == 200, resp.text
    rotated = resp.json()
    new = rotated["token"]
    assert set(rotated) == set(created) and new != old and new.startswith("fss_")
    assert {k: rotated[k] for k in ("server_id", "name", "url", "created_at", "revoked_at", "mqtt_password")} == \
        {k: created[k] for k in ("server_id", "name", "url", "created_at", "revoked_at", "mqtt_password")}
    assert created["token_rotated_at"] is None and rotated["token_rotated_at"] is not None
    assert (await listed(client, server_id))["token_rotated_at"] == rotated["token_rotated_at"]

    after = new_match()
    refused = await ingest(client, old, after)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert (await ingest(client, new, after)).status_code == 202
    await settle(app)
    rows = await app.state.engines.query(
        "SELECT match_id, server_id, count() FROM raw_events WHERE match_id IN ({a:String}, {b:String})"
        " GROUP BY match_id, server_id ORDER BY match_id = {a:String} DESC", {"a": before, "b": after})
    assert rows == [(before, server_id, 2), (after, server_id, 2)]

    lines = [r.getMessage() for r in caplog.records if r.name == "fragstats.servers"]
    assert [line for line in lines if "token rotated" in line and f": {server_id} 'rotating'" in line], lines
    assert not any(t in line for t in (old, new) for line in lines)


async def test_a_server_without_a_broker_password_gets_one_by_rotation(client, app):
    server_id, token = await new_server(client, "made before MQTT")
    # What a server registered before sql/0014 looks like: no broker form of its token.
    await app.state.engines.pg.execute("UPDATE servers SET mqtt_password_hash = NULL WHERE id = $1", server_id)
    assert f"server-{server_id}" not in await broker_users(client)
    assert (await listed(client, server_id))["mqtt_password"] is False
    assert (await ingest(client, token, new_match())).status_code == 202  # HTTP ingest never needed it

    rotated = (await rotate(client, server_id)).json()
    assert rotated["mqtt_password"] is True
    users = await broker_users(client)
    assert broker_accepts(users[f"server-{server_id}"], rotated["token"])
    assert not broker_accepts(users[f"server-{server_id}"], token)


async def test_the_broker_files_carry_the_new_password_only(client):
    server_id, old = await new_server(client, "MQTT rotation")
    assert broker_accepts((await broker_users(client))[f"server-{server_id}"], old)
    new = (await rotate(client, server_id)).json()["token"]
    line = (await broker_users(client))[f"server-{server_id}"]
    assert broker_accepts(line, new) and not broker_accepts(line, old)


async def test_only_the_admin_rotates(client):
    server_id, token = await new_server(client, "not yours")
    key = (await client.post("/api/v1/keys", json={"name": "organiser", "scopes": ["tournaments", "upload", "read"]},
                             headers=ADMIN)).json()["key"]
    for headers in ({}, {"Authorization": f"Bearer {key}"}, {"X-Server-Token": token},
                    {"Authorization": f"Bearer {token}"}, {"Authorization": "Bearer fsa_wrong"}):
        resp = await rotate(client, server_id, headers)
        assert resp.status_code in (401, 403), (headers, resp.text)
        assert resp.json()["error"] in ("unauthorized", "forbidden")
    assert (await ingest(client, token, new_match())).status_code == 202  # nothing changed
    assert (await listed(client, server_id))["token_rotated_at"] is None


async def test_unknown_or_revoked_server_is_404(client):
    server_id, token = await new_server(client, "gone")
    assert (await client.delete(f"/api/v1/servers/{server_id}", headers=ADMIN)).status_code == 204
    for target in (server_id, 2**31 - 1, 2**31):
        resp = await rotate(client, target)
        assert resp.status_code == 404 and resp.json()["error"] == "not_found", resp.text
    assert (await ingest(client, token, new_match())).status_code == 401  # revoked stays revoked
    assert (await listed(client, server_id))["token_rotated_at"] is None


async def test_a_lookup_under_way_during_a_rotation_is_not_cached(client, app):
    """A token lookup that read Postgres before a rotation (or revocation) in this process must not
    put the old answer into the cache that the rotation has just cleared: the lookup is held in
    Postgres by a table lock while the cache is cleared, and afterwards the token, revoked behind the
    cache's back (as another process would), must be looked up again, i.e. refused."""
    server_id, token = await new_server(client, "lookup under way")
    pool = app.state.engines.pg
    async with pool.acquire() as warm, pool.acquire():  # two connections: the lookup's is not made under the lock
        await warm.fetchval("SELECT 1")
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("LOCK TABLE servers IN ACCESS EXCLUSIVE MODE")
        lookup = asyncio.create_task(ingest(client, token, new_match()))
        deadline = time.monotonic() + 10
        while not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                      " AND query LIKE 'SELECT id FROM servers WHERE token_hash%'"):
            assert time.monotonic() < deadline, "the lookup never reached Postgres"
            await asyncio.sleep(0.02)
        app.state.auth.forget_servers()  # what a rotation in this process does once it has committed
        await tx.rollback()
    assert (await lookup).status_code == 202  # it began before: it may pass
    await pool.execute("UPDATE servers SET revoked_at = now() WHERE id = $1", server_id)
    assert (await ingest(client, token, new_match())).status_code == 401


async def test_another_process_refuses_the_old_token_within_its_cache_ttl(client, app, serve_factory, tmp_path):
    """A second app process on the same Postgres caches token lookups for FRAGSTATS_TOKEN_CACHE_TTL_S;
    after a rotation made elsewhere it refuses the old token within that time, the new one at once.
    `fragstats server rotate-token` against that process rotates again."""
    ttl = 1.0
    pg = next(e for e in app.state.engines.embedded if isinstance(e, EmbeddedPostgres))
    other = serve_factory({"FRAGSTATS_POSTGRES_URL": f"postgresql://postgres@/postgres?host={pg.socket_dir}",
                           "FRAGSTATS_TOKEN_CACHE_TTL_S": str(ttl), "FRAGSTATS_DURABILITY": "memory"},
                          data_dir=tmp_path / "other")
    await asyncio.to_thread(other.start)
    server_id, old = await new_server(client, "two processes")
    async with httpx.AsyncClient(base_url=other.url, timeout=30) as there:
        assert (await ingest(there, old, new_match())).status_code == 202  # cached there now

        new = (await rotate(client, server_id)).json()["token"]
        rotated_at = time.monotonic()
        assert (await ingest(client, old, new_match())).status_code == 401  # here: at once
        assert (await ingest(there, new, new_match())).status_code == 202  # there: the new one at once
        while (await ingest(there, old, new_match())).status_code == 202:
            assert time.monotonic() - rotated_at < ttl + 2.0, "the old token outlived the cache TTL there"
            await asyncio.sleep(0.05)
        refused_after = time.monotonic() - rotated_at
        assert (await ingest(there, old, new_match())).status_code == 401

        # The CLI, against that process.
        by_cli = json.loads(await asyncio.to_thread(cli, "server", "rotate-token", str(server_id), "--url", other.url))
        assert by_cli["server_id"] == server_id and by_cli["token"] not in (old, new)
        assert (await ingest(there, new, new_match())).status_code == 401
        assert (await ingest(there, by_cli["token"], new_match())).status_code == 202
    print(f"old token refused by the other process {refused_after:.2f} s after the rotation (TTL {ttl} s)")
