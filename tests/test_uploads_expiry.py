"""Chunked uploads expire and may be aborted (uploads/expiry.py), on the real engines: the session app
(Postgres, local object store) with a short `FRAGSTATS_UPLOAD_EXPIRE_S` and a sweep triggered by the
test, and a real `fragstats serve` whose own background sweep expires an abandoned upload.

What a client of S3's multipart uploads (with an AbortIncompleteMultipartUpload rule) or of tus's
expiration extension expects: an abandoned upload goes, with its bytes; a living one stays; a later
request for the gone upload answers 410; the client may abort its own upload, no other key may."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import hashlib
import os
import time
from pathlib import Path

import httpx

from conftest import ADMIN
from helpers import ok
from uploads_data import body, encounter

CHUNK = 1024  # FRAGSTATS_UPLOAD_CHUNK_BYTES' smallest value


async def new_key(client, name: str) -> str:
    resp = await client.post("/api/v1/keys", json={"name": name, "scopes": ["upload", "read"]}, headers=ADMIN)
    return (await ok(resp, 201))["key"]


def when(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def start(client, key: str, raw: bytes) -> dict:
    resp = await client.post("/api/v1/uploads", json={"totalBytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()},
                             headers={"X-API-Key": key})
    up = await ok(resp, 201)
    # tus's Upload-Expires (an HTTP-date, whole seconds) names the same time as expiresAt.
    assert email.utils.parsedate_to_datetime(resp.headers["Upload-Expires"]) == when(up["expiresAt"]).replace(microsecond=0)
    return up


async def put(client, key: str, up: dict, raw: bytes, index: int):
    return await client.put(f"/api/v1/uploads/{up['uploadId']}/chunks/{index}", content=raw[index * CHUNK:(index + 1) * CHUNK],
                            headers={"X-API-Key": key})


def parts_on_disk(app, upload_id: str) -> list[str]:
    folder = app.state.uploads.objects.local_root / "parts" / upload_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def counter(app, name: str) -> float:
    return app.state.metrics.registry.get_sample_value(name) or 0.0


async def test_an_abandoned_upload_expires_with_its_chunks_and_a_living_one_stays(client, app, monkeypatch):
    settings = app.state.uploads.settings
    monkeypatch.setattr(settings, "upload_chunk_bytes", CHUNK)
    monkeypatch.setattr(settings, "upload_expire_s", 2)
    key = await new_key(client, "expiry")
    hdr = {"X-API-Key": key}
    raw_a, raw_b = os.urandom(3 * CHUNK - 100), os.urandom(3 * CHUNK - 100)
    a, b = await start(client, key, raw_a), await start(client, key, raw_b)
    now = dt.datetime.now(dt.timezone.utc)
    assert now < when(a["expiresAt"]) <= now + dt.timedelta(seconds=2.1)
    assert (await put(client, key, a, raw_a, 0)).status_code == 200
    assert (await put(client, key, b, raw_b, 0)).status_code == 200
    assert len(parts_on_disk(app, a["uploadId"])) == 1
    a_expires = when((await client.get(f"/api/v1/uploads/{a['uploadId']}", headers=hdr)).json()["expiresAt"])

    await asyncio.sleep(1.0)
    kept = await ok(await put(client, key, b, raw_b, 1))  # a chunk moves the expiry forward
    b_expires = when(kept["expiresAt"])
    assert b_expires > a_expires + dt.timedelta(seconds=0.9)
    await asyncio.sleep(max(0.0, (a_expires - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.2)

    before = counter(app, "fragstats_uploads_expired_total")
    swept = await app.state.uploads.sweeper.sweep()
    assert dt.datetime.now(dt.timezone.utc) < b_expires, "the machine was too slow for this test's timing"
    assert a["uploadId"] in swept["expired"] and b["uploadId"] not in swept["expired"]
    assert counter(app, "fragstats_uploads_expired_total") - before == len(swept["expired"])
    assert parts_on_disk(app, a["uploadId"]) == [] and len(parts_on_disk(app, b["uploadId"])) == 2

    gone = await client.get(f"/api/v1/uploads/{a['uploadId']}", headers=hdr)
    assert gone.json()["status"] == "expired" and "Upload-Expires" not in gone.headers
    late = await put(client, key, a, raw_a, 1)
    assert late.status_code == 410 and late.json()["error"] == "upload_expired", late.text
    commit = await client.post(f"/api/v1/uploads/{a['uploadId']}/commit", headers=hdr)
    assert commit.status_code == 410 and commit.json()["error"] == "upload_expired"
    assert parts_on_disk(app, a["uploadId"]) == []  # the refused chunk is not kept either

    alive = await ok(await client.get(f"/api/v1/uploads/{b['uploadId']}", headers=hdr))
    assert alive["status"] == "open" and alive["received"] == [0, 1]
    assert (await put(client, key, b, raw_b, 2)).status_code == 200

    # Past its expiry, an upload the sweep has not reached yet answers as expired at once.
    b_expires = when((await client.get(f"/api/v1/uploads/{b['uploadId']}", headers=hdr)).json()["expiresAt"])
    await asyncio.sleep((b_expires - dt.datetime.now(dt.timezone.utc)).total_seconds() + 0.2)
    before = counter(app, "fragstats_uploads_expired_total")
    late = await put(client, key, b, raw_b, 0)
    assert late.status_code == 410 and late.json()["error"] == "upload_expired"
    assert counter(app, "fragstats_uploads_expired_total") - before == 1
    assert parts_on_disk(app, b["uploadId"]) == []

    # The record of an ended upload is kept FRAGSTATS_UPLOAD_ENDED_KEEP_S, then forgotten.
    monkeypatch.setattr(settings, "upload_ended_keep_s", 0)
    await asyncio.sleep(0.05)
    assert (await app.state.uploads.sweeper.sweep())["forgotten"] >= 2
    assert (await client.get(f"/api/v1/uploads/{a['uploadId']}", headers=hdr)).status_code == 404


async def test_a_client_aborts_its_own_upload_and_no_other_key_can(client, app, monkeypatch):
    monkeypatch.setattr(app.state.uploads.settings, "upload_chunk_bytes", CHUNK)
    owner, other = await new_key(client, "abort-owner"), await new_key(client, "abort-other")
    raw = os.urandom(2 * CHUNK + 10)
    up = await start(client, owner, raw)
    url = f"/api/v1/uploads/{up['uploadId']}"
    assert (await put(client, owner, up, raw, 0)).status_code == 200

    refused = await client.delete(url, headers={"X-API-Key": other})
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert (await client.get(url, headers={"X-API-Key": owner})).json()["status"] == "open"
    assert len(parts_on_disk(app, up["uploadId"])) == 1

    before = counter(app, "fragstats_uploads_aborted_total")
    assert (await client.delete(url, headers={"X-API-Key": owner})).status_code == 204
    assert counter(app, "fragstats_uploads_aborted_total") - before == 1
    assert parts_on_disk(app, up["uploadId"]) == []
    state = await ok(await client.get(url, headers={"X-API-Key": owner}))
    assert state["status"] == "aborted" and state["expiresAt"] is None
    late = await put(client, owner, up, raw, 1)
    assert late.status_code == 410 and late.json()["error"] == "upload_aborted"
    commit = await client.post(url + "/commit", headers={"X-API-Key": owner})
    assert commit.status_code == 410 and commit.json()["error"] == "upload_aborted"
    assert (await client.delete(url, headers={"X-API-Key": owner})).status_code == 204  # again: nothing to do
    assert counter(app, "fragstats_uploads_aborted_total") - before == 1

    # The admin may abort any key's upload.
    up2 = await start(client, owner, raw)
    assert (await client.delete(f"/api/v1/uploads/{up2['uploadId']}", headers=ADMIN)).status_code == 204
    assert (await client.delete("/api/v1/uploads/no-such-upload", headers={"X-API-Key": owner})).status_code == 404


async def test_a_committed_upload_cannot_be_aborted_and_its_parts_go_once_it_is_done(client, app, monkeypatch):
    monkeypatch.setattr(app.state.uploads.settings, "upload_chunk_bytes", CHUNK)
    key = await new_key(client, "commit-then-abort")
    hdr = {"X-API-Key": key}
    raw = body(encounter("expiry-committed", seed=31, players=2, skills=2, hits=12))
    up = await start(client, key, raw)
    for i in range(up["chunks"]):
        assert (await put(client, key, up, raw, i)).status_code == 200
    assert len(parts_on_disk(app, up["uploadId"])) == up["chunks"]
    url = f"/api/v1/uploads/{up['uploadId']}"
    assert (await client.post(url + "/commit", headers=hdr)).status_code == 202
    refused = await client.delete(url, headers=hdr)
    assert refused.status_code == 409 and refused.json()["error"] == "conflict"
    for _ in range(600):
        state = (await client.get(url, headers=hdr)).json()
        if state["status"] != "committed":
            break
        await asyncio.sleep(0.1)
    assert state["status"] == "done" and state["reportId"], state
    # The document is stored whole; the parts, no longer needed, are gone.
    assert parts_on_disk(app, up["uploadId"]) == []
    raw_doc = await client.get(f"/api/v1/encounters/{state['reportId']}/raw", headers=hdr)
    assert raw_doc.content == raw


def test_the_background_sweep_of_a_served_app_expires_an_abandoned_upload(serve_factory, tmp_path):
    data_dir = tmp_path / "served"
    serve = serve_factory({"FRAGSTATS_UPLOAD_EXPIRE_S": "1", "FRAGSTATS_UPLOAD_SWEEP_INTERVAL_S": "0.2",
                           "FRAGSTATS_UPLOAD_CHUNK_BYTES": str(CHUNK)}, data_dir=data_dir).start()
    with httpx.Client(base_url=serve.url, timeout=30) as c:
        key = c.post("/api/v1/keys", json={"name": "abandoner", "scopes": ["upload"]}, headers=ADMIN).json()["key"]
        hdr = {"X-API-Key": key}
        raw = os.urandom(CHUNK + 1)
        up = c.post("/api/v1/uploads", json={"totalBytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()},
                    headers=hdr).json()
        assert c.put(f"/api/v1/uploads/{up['uploadId']}/chunks/0", content=raw[:CHUNK], headers=hdr).status_code == 200
        folder = Path(data_dir) / "objects" / "parts" / up["uploadId"]
        assert len(list(folder.iterdir())) == 1
        deadline = time.monotonic() + 30
        while "fragstats_uploads_expired_total 1.0" not in c.get("/metrics").text:  # nobody asks: the sweep does it
            assert time.monotonic() < deadline, "the background sweep did not expire the upload"
            time.sleep(0.2)
        assert not folder.exists()
        assert c.get(f"/api/v1/uploads/{up['uploadId']}", headers=hdr).json()["status"] == "expired"
        late = c.put(f"/api/v1/uploads/{up['uploadId']}/chunks/1", content=raw[CHUNK:], headers=hdr)
        assert late.status_code == 410 and late.json()["error"] == "upload_expired"
