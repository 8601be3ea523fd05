-- Chunked uploads expire (uploads/expiry.py). An open upload that receives no chunk before
-- `expires_at` (FRAGSTATS_UPLOAD_EXPIRE_S after its start or its last chunk) becomes `expired`; a
-- client may end its own open upload (`aborted`, DELETE /api/v1/uploads/{id}). `ended_at` says when.
-- Open uploads of an older version get their first expiry at the first sweep (expires_at NULL).
ALTER TABLE chunked_uploads ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE chunked_uploads ADD COLUMN IF NOT EXISTS ended_at timestamptz;
ALTER TABLE chunked_uploads DROP CONSTRAINT IF EXISTS chunked_uploads_status_check;
ALTER TABLE chunked_uploads ADD CONSTRAINT chunked_uploads_status_check
    CHECK (status IN ('open', 'committed', 'done', 'failed', 'expired', 'aborted'));

-- Where an upload's parts live: the folder `parts/<upload id>` of the object store, which belongs to
-- that upload alone, so that its bytes can be deleted once the upload has ended (expired, aborted,
-- done or failed: `parts_deleted_at`). NULL: an upload of an older version, whose parts sit in the
-- shared content-addressed store (`sha256/...`), where one object may also be another document or
-- another upload's part: those are never deleted.
ALTER TABLE chunked_uploads ADD COLUMN IF NOT EXISTS parts_under text;
ALTER TABLE chunked_uploads ADD COLUMN IF NOT EXISTS parts_deleted_at timestamptz;

CREATE INDEX IF NOT EXISTS chunked_uploads_open_expiry ON chunked_uploads (expires_at) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS chunked_uploads_parts_to_delete ON chunked_uploads (id)
    WHERE parts_deleted_at IS NULL AND parts_under IS NOT NULL AND status IN ('done', 'failed', 'expired', 'aborted');
CREATE INDEX IF NOT EXISTS chunked_uploads_ended ON chunked_uploads (ended_at) WHERE status IN ('expired', 'aborted');
