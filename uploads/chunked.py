"""Chunked, resumable uploads of large encounter documents: initiate, PUT chunks (any order, again
after a dropped connection), commit; then a background job assembles the parts, checks their size
and SHA-256, and admits the document like `POST /api/v1/encounters`.

Each chunk is an object of the object store (named by its own SHA-256) and a row of
`chunked_upload_parts`, written only once its whole body has arrived: a connection that drops
mid-chunk leaves nothing, and the status lists that chunk as missing. A chunk sent again with the same
bytes is accepted (idempotent); with other bytes it is refused (409).

An open upload expires after `FRAGSTATS_UPLOAD_EXPIRE_S` without a chunk, and its client may abort
it (`uploads.expiry`); either way its parts are deleted, and a later chunk or commit answers 410
(`upload_expired`, `upload_aborted`). The parts of an upload live in an object-store folder of its
own (`parts/<upload id>`), so deleting them never touches a document or another upload.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import math
import secrets

import msgspec

from fragstats.errors import ApiError
from uploads.admission import admit_report
from uploads.bodies import BodyProblem, gunzip
from uploads.expiry import delete_parts_quietly, end_upload


class NewUpload(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Body of `POST /api/v1/uploads`: the whole document's size (bytes, as sent: gzipped when
    `gzip`), its lowercase hex SHA-256, and whether it is gzip."""

    total_bytes: int
    sha256: str
    gzip: bool = False


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z") if t else None


def _status_json(row, parts: list) -> dict:
    n = math.ceil(row["total_bytes"] / row["chunk_bytes"])
    have = sorted(p["index"] for p in parts)
    expires = row["expires_at"] if row["status"] in ("open", "expired") else None
    return {"uploadId": row["id"], "status": row["status"], "totalBytes": row["total_bytes"],
            "chunkBytes": row["chunk_bytes"], "chunks": n, "received": have,
            "missing": sorted(set(range(n)) - set(have)), "receivedBytes": sum(p["bytes"] for p in parts),
            "expiresAt": _iso(expires), "reportId": row["code"],
            "error": msgspec.json.decode(row["error"]) if row["error"] else None}


def expiry_headers(state: dict) -> dict:
    """tus's `Upload-Expires` (an RFC 9110 HTTP-date) for the answer about an open upload, else none."""
    if state["status"] != "open" or not state["expiresAt"]:
        return {}
    when = dt.datetime.fromisoformat(state["expiresAt"].replace("Z", "+00:00"))
    return {"Upload-Expires": email.utils.format_datetime(when, usegmt=True)}


def _refuse(row) -> None:
    """Raise the answer for a chunk or commit of an upload that is no longer open: 410 once expired
    or aborted (its parts are gone), 409 once committed."""
    if row["status"] == "expired":
        raise ApiError(410, "upload_expired", f"upload {row['id']} expired at {_iso(row['expires_at'])}: no chunk came"
                       " in time and its chunks are deleted; start a new upload")
    if row["status"] == "aborted":
        raise ApiError(410, "upload_aborted", f"upload {row['id']} was aborted and its chunks are deleted; start a new upload")
    raise ApiError(409, "conflict", f"upload {row['id']} is {row['status']}; chunks can no longer change")


class Chunked:
    def __init__(self, svc):
        self.svc = svc

    async def _load(self, upload_id: str, uploader: str | None = None):
        """The upload's row (an open one past its expiry is expired now). 404 for an unknown upload or
        one of another key (the admin sees every upload)."""
        for _ in range(2):
            row = await self.svc.pg.fetchrow(
                "SELECT u.id, u.uploader, u.total_bytes, u.chunk_bytes, u.sha256, u.gzip, u.status, u.report_id,"
                " u.error::text AS error, r.code, u.expires_at, u.parts_under, u.expires_at <= now() AS due"
                " FROM chunked_uploads u LEFT JOIN encounter_reports r ON r.id = u.report_id WHERE u.id = $1", upload_id)
            if row is None or (uploader is not None and uploader != "admin" and row["uploader"] != uploader):
                raise ApiError(404, "not_found", f"no upload {upload_id[:80]!r}")
            if not (row["status"] == "open" and row["due"]):
                return row
            # Due, and the sweep has not come yet: end it here, as the sweep would (once, in any process).
            await end_upload(self.svc, upload_id, "expired")
        return row

    async def initiate(self, uploader: str, spec: NewUpload) -> dict:
        s = self.svc.settings
        if not 1 <= spec.total_bytes <= s.upload_max_raw_bytes:
            raise BodyProblem(422, "invalid_body", [{"index": 0, "field": "$.totalBytes",
                                                     "reason": f"must be 1..{s.upload_max_raw_bytes}"}])
        if len(spec.sha256) != 64 or spec.sha256.strip("0123456789abcdef"):
            raise BodyProblem(422, "invalid_body", [{"index": 0, "field": "$.sha256",
                                                     "reason": "must be 64 lowercase hex digits"}])
        upload_id = secrets.token_urlsafe(12)  # URL-safe: also the name of its parts' folder
        await self.svc.pg.execute(
            "INSERT INTO chunked_uploads (id, uploader, total_bytes, chunk_bytes, sha256, gzip, parts_under, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))",
            upload_id, uploader, spec.total_bytes, s.upload_chunk_bytes, spec.sha256, spec.gzip,
            f"parts/{upload_id}", float(s.upload_expire_s))
        return await self.status(upload_id, uploader)

    async def status(self, upload_id: str, uploader: str | None = None) -> dict:
        row = await self._load(upload_id, uploader)
        parts = await self.svc.pg.fetch("SELECT index, bytes FROM chunked_upload_parts WHERE upload_id = $1", upload_id)
        return _status_json(row, parts)

    async def put_chunk(self, upload_id: str, uploader: str, index: int, data: bytes) -> dict:
        """Store chunk `index` (0-based) and move the upload's expiry forward. Sizes: every chunk but
        the last is exactly `chunkBytes`. Raises ApiError 404 (unknown upload or index), 409
        (committed; other bytes than before), 410 (expired, aborted), 422 (wrong size)."""
        row = await self._load(upload_id, uploader)
        if row["status"] != "open":
            _refuse(row)
        n = math.ceil(row["total_bytes"] / row["chunk_bytes"])
        if not 0 <= index < n:
            raise ApiError(404, "not_found", f"chunk {index} does not exist: this upload has chunks 0..{n - 1}")
        size = row["chunk_bytes"] if index < n - 1 else row["total_bytes"] - row["chunk_bytes"] * (n - 1)
        if len(data) != size:
            raise ApiError(422, "invalid_body", f"chunk {index} must be {size} bytes, got {len(data)}")
        digest = await self.svc.objects.put(data, row["parts_under"])
        # The part counts only if the upload is still open and not due, checked under its row lock:
        # the sweep, an abort or a commit that came first wins, and this chunk is refused.
        async with self.svc.pg.acquire() as conn, conn.transaction():
            alive = await conn.fetchval(
                "UPDATE chunked_uploads SET expires_at = now() + make_interval(secs => $2) WHERE id = $1"
                " AND status = 'open' AND (expires_at IS NULL OR expires_at > now()) RETURNING id",
                upload_id, float(self.svc.settings.upload_expire_s))
            if alive is not None:
                stored = await conn.fetchval(
                    "INSERT INTO chunked_upload_parts (upload_id, index, sha256, bytes) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (upload_id, index) DO UPDATE SET bytes = EXCLUDED.bytes"
                    " WHERE chunked_upload_parts.sha256 = EXCLUDED.sha256 RETURNING sha256",
                    upload_id, index, digest, len(data))
                if stored is None:
                    raise ApiError(409, "conflict", f"chunk {index} was received before with other bytes")
        if alive is None:
            row = await self._load(upload_id, uploader)
            if row["status"] in ("expired", "aborted") and row["parts_under"]:
                await self.svc.objects.delete(digest, row["parts_under"])  # its parts may be deleted already
            _refuse(row)
        return await self.status(upload_id, uploader)

    async def abort(self, upload_id: str, uploader: str) -> None:
        """End an open upload at its client's request (`aborted`) and delete its parts. An upload
        expired or aborted already: nothing to do. Raises ApiError 404 (unknown, or another key's),
        409 once committed (its document is taken: a report is deleted by the admin)."""
        row = await self._load(upload_id, uploader)
        if row["status"] == "open" and await end_upload(self.svc, upload_id, "aborted"):
            return
        row = await self._load(upload_id, uploader)
        if row["status"] not in ("expired", "aborted"):
            raise ApiError(409, "conflict", f"upload {upload_id} is {row['status']}; only an open upload can be aborted")

    async def commit(self, upload_id: str, uploader: str) -> tuple[dict, int | None]:
        """Close the upload and queue its assembly; (status, job id). 409 while chunks are missing."""
        state = await self.status(upload_id, uploader)
        if state["status"] in ("expired", "aborted"):
            _refuse(await self._load(upload_id, uploader))
        if state["status"] != "open":
            return state, None
        if state["missing"]:
            raise ApiError(409, "chunks_missing", f"chunks missing: {state['missing'][:50]}")
        async with self.svc.pg.acquire() as conn, conn.transaction():
            done = await conn.fetchval("UPDATE chunked_uploads SET status = 'committed' WHERE id = $1"
                                       " AND status = 'open' AND (expires_at IS NULL OR expires_at > now()) RETURNING id",
                                       upload_id)
            job = await conn.fetchval("INSERT INTO upload_jobs (kind, upload_id) VALUES ('chunked', $1) RETURNING id",
                                      upload_id) if done else None
        if job is not None:
            self.svc.runner.submit(job)
        state = await self.status(upload_id, uploader)
        if state["status"] in ("expired", "aborted"):  # it ended while this commit came
            _refuse(await self._load(upload_id, uploader))
        return state, job

    async def assemble_and_admit(self, upload_id: str, steps) -> None:
        """The job of a committed upload: parts -> document -> admission. Records the outcome on the
        upload (`done` with its report, or `failed` with the problems), deletes the parts (the
        document is stored whole, or refused), and raises on failure."""
        row = await self._load(upload_id)
        parts = await self.svc.pg.fetch("SELECT sha256 FROM chunked_upload_parts WHERE upload_id = $1 ORDER BY index",
                                        upload_id)
        runner = self.svc.runner
        body = b"".join([await runner.in_thread(self.svc.objects.get_sync, p["sha256"], row["parts_under"])
                         for p in parts])
        steps.done("assemble")
        try:
            if len(body) != row["total_bytes"] or hashlib.sha256(body).hexdigest() != row["sha256"]:
                raise BodyProblem(422, "checksum_mismatch", [{"index": 0, "field": "$", "reason":
                                  "the assembled chunks do not match totalBytes and sha256 given at initiate"}])
            if row["gzip"]:
                body = await runner.in_thread(gunzip, body, self.svc.settings.upload_max_raw_bytes)
            admitted = await admit_report(self.svc, row["uploader"], body, upload_id=upload_id)
            steps.done("admit")
        except ApiError as exc:
            problems = getattr(exc, "events", None) or [{"index": 0, "field": "$", "reason": str(exc.detail)}]
            await self.svc.pg.execute("UPDATE chunked_uploads SET status = 'failed', error = $2::jsonb WHERE id = $1",
                                      upload_id, msgspec.json.encode({"error": exc.code, "events": problems}).decode())
            await delete_parts_quietly(self.svc, upload_id)  # a refused document keeps nothing
            raise
        await self.svc.pg.execute("UPDATE chunked_uploads SET status = 'done', report_id = $2 WHERE id = $1",
                                  upload_id, admitted.report["id"])
        await delete_parts_quietly(self.svc, upload_id)  # the document is stored whole now
