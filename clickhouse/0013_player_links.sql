-- Which user owns a telemetry player id: a copy of Postgres `player_links` (the source of truth,
-- identity/claims.py), kept for boards grouped by user (`?by=user`) joined inside ClickHouse.
-- Written on every link and unlink; `linked` 0 is an unlink. Read with FINAL: the newest
-- `version` (epoch ms of the change) of each player id wins.
CREATE TABLE IF NOT EXISTS player_links
(
    player_id String,
    user_id UInt32,
    linked UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY player_id
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
