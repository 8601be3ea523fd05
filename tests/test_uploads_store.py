"""The object store on local disk and on a real S3-protocol server (moto's server mode, started here),
and a chunked upload resumed after a dropped connection, against a real `fragstats serve` whose
documents live in that S3 bucket."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import subprocess
import sys
import time

import boto3
import httpx
import pytest

from conftest import ADMIN, free_port, stop_process
from uploads.objects import ObjectStore, digest_of, key_of
from uploads_data import body, encounter

BUCKET = "fragstats-test"


@pytest.fixture(scope="module")
def s3():
    """A real S3-protocol server on loopback (moto_server), with an empty bucket."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                              region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield {"endpoint": endpoint, "client": client,
               "options": {"endpoint": endpoint, "region": "us-east-1", "access_key_id": "test",
                           "secret_access_key": "test", "allow_http": "true"}}
    finally:
        stop_process(proc, 10)


async def check_store(store: ObjectStore) -> None:
    data = b'{"hello": "world"}'
    digest = await store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await store.put(data) == digest  # a second put of the same bytes is a no-op, not an error
    assert await store.get(digest) == data and store.get_sync(digest) == data
    assert await store.exists(digest) and not await store.exists("0" * 64)
    with pytest.raises(FileNotFoundError):
        await store.get("f" * 64)


async def test_local_store_is_content_addressed_and_never_overwrites(tmp_path):
    store = ObjectStore.open(None, {}, tmp_path)
    await check_store(store)
    digest = digest_of(b'{"hello": "world"}')
    path = tmp_path / "objects" / key_of(digest)
    assert path.read_bytes() == b'{"hello": "world"}'
    # Whatever sits under a name stays: a put of the same name never replaces it.
    path.chmod(0o444)
    assert await store.put(b'{"hello": "world"}') == digest


async def test_s3_store_is_content_addressed_and_never_overwrites(s3):
    store = ObjectStore.open(f"s3://{BUCKET}/unit", s3["options"], None)
    await check_store(store)
    digest = digest_of(b'{"hello": "world"}')
    listed = s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="unit/")["Contents"]
    assert [o["Key"] for o in listed] == [f"unit/{key_of(digest)}"]


PART = b'{"part": 1}'


async def check_folder_delete(store: ObjectStore) -> None:
    """A chunked upload's parts live in a folder of their own; deleting it leaves the shared store
    (the same bytes as a document) and other folders alone."""
    data = PART
    digest = await store.put(data)
    assert await store.put(data, "parts/up1") == digest and await store.put(b"other", "parts/up1") != digest
    await store.put(data, "parts/up10")  # a folder whose name starts like the other's
    assert store.get_sync(digest, "parts/up1") == data
    assert await store.delete_under("parts/up1") == 2
    assert await store.delete_under("parts/up1") == 0  # again: nothing there, no error
    with pytest.raises(FileNotFoundError):
        store.get_sync(digest, "parts/up1")
    assert await store.get(digest) == data and store.get_sync(digest, "parts/up10") == data
    await store.delete(digest, "parts/up10")
    await store.delete(digest, "parts/up10")  # gone already: no error
    assert await store.delete_under("parts/up10") == 0


async def test_a_folder_of_parts_is_deleted_on_local_disk_and_s3(tmp_path, s3):
    local = ObjectStore.open(None, {}, tmp_path)
    await check_folder_delete(local)
    assert not (tmp_path / "objects" / "parts" / "up1").exists()
    await check_folder_delete(ObjectStore.open(f"s3://{BUCKET}/folders", s3["options"], None))
    listed = s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="folders/")["Contents"]
    assert [o["Key"] for o in listed] == [f"folders/{key_of(digest_of(PART))}"]


def drop_mid_body(url: str, path: str, key: str, total: int, sent: bytes) -> None:
    """Send a PUT's headers and part of its body, then close the connection (a dropped upload)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\nContent-Length: {total}\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + sent)
        time.sleep(0.3)


def test_chunked_upload_resumes_after_a_dropped_connection_on_s3(serve_factory, s3):
    serve = serve_factory({"FRAGSTATS_UPLOAD_STORE_URL": f"s3://{BUCKET}/app",
                           "FRAGSTATS_UPLOAD_STORE_OPTIONS": json.dumps(s3["options"]),
                           "FRAGSTATS_UPLOAD_CHUNK_BYTES": "16384"}).start()
    with httpx.Client(base_url=serve.url, timeout=30) as c:
        key = c.post("/api/v1/keys", json={"name": "big-logs", "scopes": ["upload", "read"]}, headers=ADMIN).json()["key"]
        hdr = {"X-API-Key": key}
        doc = encounter("chunked-1", seed=900, players=8, skills=6, hits=120)
        raw = gzip.compress(body(doc))
        assert len(raw) > 3 * 16384
        up = c.post("/api/v1/uploads", json={"totalBytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
                                             "gzip": True}, headers=hdr)
        assert up.status_code == 201, up.text
        up = up.json()
        n, size = up["chunks"], up["chunkBytes"]
        assert up["missing"] == list(range(n))
        chunks = [raw[i * size:(i + 1) * size] for i in range(n)]
        path = f"/api/v1/uploads/{up['uploadId']}/chunks/"
        assert c.put(path + "0", content=chunks[0], headers=hdr).status_code == 200
        drop_mid_body(serve.url, path + "1", key, len(chunks[1]), chunks[1][: len(chunks[1]) // 2])
        state = c.get(f"/api/v1/uploads/{up['uploadId']}", headers=hdr).json()
        assert state["received"] == [0] and state["missing"] == list(range(1, n))
        early = c.post(f"/api/v1/uploads/{up['uploadId']}/commit", headers=hdr)
        assert early.status_code == 409 and early.json()["error"] == "chunks_missing"
        for i in reversed(range(1, n)):  # resume, in any order
            assert c.put(path + str(i), content=chunks[i], headers=hdr).status_code == 200
        assert c.put(path + "0", content=chunks[0], headers=hdr).status_code == 200  # the same bytes again: fine
        assert c.put(path + "0", content=chunks[1][:size], headers=hdr).status_code == 409  # other bytes: refused
        assert c.put(path + str(n), content=b"x", headers=hdr).status_code == 404
        held = s3["client"].list_objects_v2(Bucket=BUCKET, Prefix=f"app/parts/{up['uploadId']}/")
        assert held["KeyCount"] >= n  # (and the refused other bytes of chunk 0, deleted with the folder)
        done = c.post(f"/api/v1/uploads/{up['uploadId']}/commit", headers=hdr)
        assert done.status_code == 202, done.text
        deadline = time.monotonic() + 60
        while (state := c.get(f"/api/v1/uploads/{up['uploadId']}", headers=hdr).json())["status"] == "committed":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert state["status"] == "done", state
        # Its parts had a folder of their own in the bucket; the document is stored whole, they are gone.
        parts = s3["client"].list_objects_v2(Bucket=BUCKET, Prefix=f"app/parts/{up['uploadId']}/")
        assert parts["KeyCount"] == 0, parts.get("Contents")
        while (report := c.get(f"/api/v1/encounters/{state['reportId']}").json())["status"] != "ready":
            assert report["status"] in ("queued", "parsing") and time.monotonic() < deadline, report
            time.sleep(0.2)
        assert report["totalDamage"] == doc["totalDamage"] and len(report["parses"]) == 8
        # The same document posted whole is the same report (checksum), and the raw is in the bucket.
        again = c.post("/api/v1/encounters", content=body(doc), headers=hdr)
        assert again.status_code == 200 and again.json()["reportId"] == state["reportId"]
        raw_doc = c.get(f"/api/v1/encounters/{state['reportId']}/raw", headers=hdr)
        digest = raw_doc.headers["X-Object-SHA256"]
        stored = s3["client"].get_object(Bucket=BUCKET, Key=f"app/{key_of(digest)}")["Body"].read()
        assert stored == raw_doc.content and json.loads(stored) == doc

        # A chunked upload whose document is bad fails with the field named, and makes no report.
        bad = body({**doc, "durationMs": 0})
        up = c.post("/api/v1/uploads", json={"totalBytes": len(bad), "sha256": hashlib.sha256(bad).hexdigest()},
                    headers=hdr).json()
        for i in range(up["chunks"]):
            assert c.put(f"/api/v1/uploads/{up['uploadId']}/chunks/{i}", content=bad[i * size:(i + 1) * size],
                         headers=hdr).status_code == 200
        assert c.post(f"/api/v1/uploads/{up['uploadId']}/commit", headers=hdr).status_code == 202
        while (state := c.get(f"/api/v1/uploads/{up['uploadId']}", headers=hdr).json())["status"] == "committed":
            assert time.monotonic() < deadline + 30
            time.sleep(0.2)
        assert state["status"] == "failed" and state["reportId"] is None
        assert "$.durationMs" in [e["field"] for e in state["error"]["events"]]
        jobs = c.get("/api/v1/uploads/jobs?kind=chunked", headers=hdr).json()["jobs"]
        assert [j["status"] for j in jobs] == ["failed", "done"]
        status = c.get("/api/v1/uploads/status", headers=ADMIN).json()
        assert status["accepted"] == status["stored"] + status["queued"] + status["in_flight"] + status["failed"]
        assert status["failed"] == 1
