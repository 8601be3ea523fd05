"""The end of chunked uploads, and the background sweep that ends the abandoned ones.

An open upload ends by a commit (then `done` or `failed`, by its job), by an abort of its client
(`aborted`: `DELETE /api/v1/uploads/{id}`), or by expiry (`expired`): no chunk for
`FRAGSTATS_UPLOAD_EXPIRE_S`. The rule is tus's expiration extension (the server names the time in
`Upload-Expires`, each chunk renews it, a later request for the upload answers 410 Gone), and does
what an `AbortIncompleteMultipartUpload` lifecycle rule does to S3's multipart uploads (S3 counts from
initiation; we count from the last chunk, so a slow upload that is alive is never cut).

Once an upload has ended, its parts are deleted from the object store: they live in a folder of that
upload alone (`parts/<upload id>`, `uploads.objects`); a done upload's document is stored whole, a
failed or abandoned one keeps nothing. The record of an expired or aborted upload stays for
`FRAGSTATS_UPLOAD_ENDED_KEEP_S` (its status answers `expired` / `aborted`), then goes (404).

Every step is one conditional UPDATE, so any number of app processes may sweep at once: one of them
ends (and counts) an upload; a chunk that arrives meanwhile either renews the expiry first (the
upload stays open) or finds the upload ended (410): the row's lock decides.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("fragstats.uploads")

ENDED = "('done', 'failed', 'expired', 'aborted')"  # the states after which no part is needed, as SQL
BATCH = 500  # uploads one sweep step handles; the next sweep takes the rest


async def end_upload(svc, upload_id: str, status: str) -> bool:
    """Mark an open upload `expired` (only once its expiry has passed) or `aborted`, count it and
    delete its parts. True when this call ended it; False when it was not open (or not yet due)."""
    due = " AND expires_at <= now()" if status == "expired" else ""
    ended = await svc.pg.fetchval(
        f"UPDATE chunked_uploads SET status = $2, ended_at = now() WHERE id = $1 AND status = 'open'{due} RETURNING id",
        upload_id, status)
    if ended is None:
        return False
    (svc.metrics.expired if status == "expired" else svc.metrics.aborted).inc()
    await delete_parts(svc, upload_id)
    return True


async def delete_parts(svc, upload_id: str) -> int:
    """Delete the parts of an ended upload from the object store (once; an upload of an older
    version, whose parts sit in the shared content-addressed store, keeps them). Returns how many
    objects went. Raises the store's errors; the sweep tries again."""
    under = await svc.pg.fetchval(
        "SELECT parts_under FROM chunked_uploads WHERE id = $1 AND parts_deleted_at IS NULL"
        f" AND status IN {ENDED}", upload_id)
    if under is None:
        return 0
    deleted = await svc.objects.delete_under(under)
    await svc.pg.execute("UPDATE chunked_uploads SET parts_deleted_at = now() WHERE id = $1", upload_id)
    svc.metrics.parts_deleted.inc(deleted)
    return deleted


async def delete_parts_quietly(svc, upload_id: str) -> None:
    """`delete_parts` where a failure must not change the answer (after a job): the sweep retries."""
    try:
        await delete_parts(svc, upload_id)
    except Exception:  # the object store failing here leaves the parts to the next sweep
        log.exception("deleting the parts of chunked upload %s", upload_id)


class Sweeper:
    """Every `FRAGSTATS_UPLOAD_SWEEP_INTERVAL_S`: expire the open uploads past their expiry, delete the
    parts of ended uploads, forget expired and aborted uploads older than `FRAGSTATS_UPLOAD_ENDED_KEEP_S`.
    Started and stopped with the upload service (`uploads.service`)."""

    def __init__(self, svc):
        self.svc = svc
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="upload-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # Postgres or the store failing now: the sweep must live to try again
                log.exception("sweeping chunked uploads")
            await asyncio.sleep(self.svc.settings.upload_sweep_interval_s)

    async def sweep(self) -> dict:
        """One sweep; `{"expired": [upload ids], "parts_deleted": objects, "forgotten": records}`."""
        svc, s = self.svc, self.svc.settings
        # Open uploads of an older version had no expiry: it counts from their first sweep.
        await svc.pg.execute("UPDATE chunked_uploads SET expires_at = now() + make_interval(secs => $1)"
                             " WHERE status = 'open' AND expires_at IS NULL", float(s.upload_expire_s))
        rows = await svc.pg.fetch(
            "UPDATE chunked_uploads SET status = 'expired', ended_at = now() WHERE status = 'open'"
            " AND expires_at <= now() AND id IN (SELECT id FROM chunked_uploads WHERE status = 'open'"
            " AND expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id", BATCH)
        expired = [r["id"] for r in rows]
        svc.metrics.expired.inc(len(expired))
        pending = await svc.pg.fetch(
            "SELECT id FROM chunked_uploads WHERE parts_deleted_at IS NULL AND parts_under IS NOT NULL"
            f" AND status IN {ENDED} ORDER BY id LIMIT $1", BATCH)
        deleted = 0
        for row in pending:
            deleted += await delete_parts(svc, row["id"])
        forgotten = await svc.pg.fetch(
            "DELETE FROM chunked_uploads WHERE status IN ('expired', 'aborted')"
            " AND ended_at < now() - make_interval(secs => $1) AND (parts_deleted_at IS NOT NULL OR parts_under IS NULL)"
            " RETURNING id", float(s.upload_ended_keep_s))
        if expired or forgotten:
            log.info("chunked uploads: %d expired, %d part objects deleted, %d records forgotten",
                     len(expired), deleted, len(forgotten))
        return {"expired": expired, "parts_deleted": deleted, "forgotten": len(forgotten)}
