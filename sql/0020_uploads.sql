-- Uploads (uploads/): encounter reports, the damage meter's batches, chunked uploads, realm snapshots.
-- The documents themselves live in the object store (content-addressed by SHA-256, never overwritten);
-- these tables say who sent what, where it is, and how far its parse got. Parsed rows live in ClickHouse
-- (clickhouse/0017_encounters.sql, 0018_snapshots.sql).

-- Upload limits of an API key (NULL: the FRAGSTATS_UPLOAD_* defaults).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS rate_per_minute integer CHECK (rate_per_minute IS NULL OR rate_per_minute > 0);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS daily_bytes bigint CHECK (daily_bytes IS NULL OR daily_bytes > 0);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS daily_uploads integer CHECK (daily_uploads IS NULL OR daily_uploads > 0);

-- What each uploader ('admin' or 'key:<id>') sent per UTC day, for the daily quota.
CREATE TABLE IF NOT EXISTS upload_usage (
    uploader  text NOT NULL,
    day       date NOT NULL,
    bytes     bigint NOT NULL DEFAULT 0,
    uploads   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (uploader, day)
);

-- One encounter report. `id` is the number the damage meter's protocol answers; `code` the short
-- URL-safe id of our API and pages. `format`: 'report' (POST /api/v1/encounters) or 'meter'
-- (POST /api/v1/upload/). Dedup: (uploader, client_encounter_id), checksum, and for the meter its
-- sourceHash (encounter_sources) and fingerprint (scene, bosses, players) within a start-time window.
CREATE TABLE IF NOT EXISTS encounter_reports (
    id                   bigserial PRIMARY KEY,
    code                 text NOT NULL UNIQUE,
    uploader             text NOT NULL,
    format               text NOT NULL CHECK (format IN ('report', 'meter')),
    client_encounter_id  text,
    checksum             text UNIQUE,
    fingerprint          text NOT NULL,
    object_sha256        text NOT NULL,
    started_at_ms        bigint NOT NULL,
    ended_at_ms          bigint NOT NULL,
    duration_ms          integer NOT NULL,
    scene                text NOT NULL DEFAULT '',
    bosses               text[] NOT NULL DEFAULT '{}',
    player_names         text[] NOT NULL DEFAULT '{}',   -- lower-cased, for search
    players              integer NOT NULL,
    total_damage         bigint NOT NULL,
    total_heal           bigint NOT NULL,
    client_version       text NOT NULL DEFAULT '',
    status               text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'parsing', 'ready', 'failed')),
    error                text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (uploader, client_encounter_id)
);
CREATE INDEX IF NOT EXISTS encounter_reports_fingerprint ON encounter_reports (fingerprint, started_at_ms);
CREATE INDEX IF NOT EXISTS encounter_reports_started ON encounter_reports (started_at_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS encounter_reports_players ON encounter_reports USING gin (player_names);
CREATE INDEX IF NOT EXISTS encounter_reports_bosses ON encounter_reports USING gin (bosses);

-- Every meter sourceHash that led to a report: the first upload's and those of the same fight uploaded
-- again (by another player of the group, or after a reinstall), so the preflight knows them all.
CREATE TABLE IF NOT EXISTS encounter_sources (
    source_hash  text PRIMARY KEY,
    report_id    bigint NOT NULL REFERENCES encounter_reports(id) ON DELETE CASCADE,
    uploader     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS encounter_sources_report ON encounter_sources (report_id);

-- A chunked (resumable) upload: initiate, PUT chunks in any order and again, commit; the parts are
-- objects in the object store, named here by their SHA-256.
CREATE TABLE IF NOT EXISTS chunked_uploads (
    id            text PRIMARY KEY,
    uploader      text NOT NULL,
    total_bytes   bigint NOT NULL CHECK (total_bytes > 0),
    chunk_bytes   integer NOT NULL CHECK (chunk_bytes > 0),
    sha256        text NOT NULL,
    gzip          boolean NOT NULL DEFAULT false,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'committed', 'done', 'failed')),
    report_id     bigint REFERENCES encounter_reports(id) ON DELETE SET NULL,
    error         jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS chunked_upload_parts (
    upload_id  text NOT NULL REFERENCES chunked_uploads(id) ON DELETE CASCADE,
    index      integer NOT NULL CHECK (index >= 0),
    sha256     text NOT NULL,
    bytes      integer NOT NULL,
    PRIMARY KEY (upload_id, index)
);

-- One realm snapshot per (realm, date): immutable; the same file again changes nothing.
CREATE TABLE IF NOT EXISTS snapshots (
    realm          text NOT NULL,
    snapshot_date  date NOT NULL,
    run_id         text NOT NULL,
    object_sha256  text NOT NULL,
    file_format    text NOT NULL,
    rows           integer NOT NULL,
    columns        text[] NOT NULL,
    uploader       text NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (realm, snapshot_date)
);

-- The background parse: one job per accepted document (and per reprocess). Accounting, at any time:
-- jobs = done + queued + running + failed (GET /api/v1/uploads/status).
CREATE TABLE IF NOT EXISTS upload_jobs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('encounter', 'chunked', 'snapshot')),
    action       text NOT NULL DEFAULT 'parse' CHECK (action IN ('parse', 'reprocess')),
    report_id    bigint REFERENCES encounter_reports(id) ON DELETE CASCADE,
    upload_id    text REFERENCES chunked_uploads(id) ON DELETE CASCADE,
    realm        text,
    status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    steps        jsonb NOT NULL DEFAULT '[]',            -- [{"step", "ms"}]
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX IF NOT EXISTS upload_jobs_status ON upload_jobs (status, id);
CREATE INDEX IF NOT EXISTS upload_jobs_report ON upload_jobs (report_id);
