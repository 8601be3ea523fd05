-- Encounter reports parsed by the upload worker (uploads/rows.py), from either upload path
-- (POST /api/v1/encounters, the damage meter's POST /api/v1/upload/). `report_id` is
-- encounter_reports.id in Postgres. A parse (or a reprocess) first deletes the report's rows, then
-- inserts them again, so a report is stored once whatever happens. Parses stay small: the hit-by-hit
-- timelines have their own table. Parts are fsynced (as 0006 does for the telemetry tables).

CREATE TABLE IF NOT EXISTS encounter_fights (
    report_id     UInt64,
    code          String,
    fight         UInt16,
    boss          LowCardinality(String),
    bosses        Array(String),
    scene         String,
    started_at    DateTime64(3, 'UTC'),
    duration_ms   UInt32,
    total_damage  Int64,
    total_heal    Int64,
    players       UInt16,
    deaths        UInt32,
    attempts      UInt16,
    defeated      UInt8
)
ENGINE = MergeTree
ORDER BY (report_id, fight)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- One row per player per fight: what a leaderboard ranks. `boss` is the fight's main boss (the one
-- with the most hit points, else the first named), '' when none.
CREATE TABLE IF NOT EXISTS encounter_parses (
    report_id     UInt64,
    code          String,
    fight         UInt16,
    boss          LowCardinality(String),
    started_at    DateTime64(3, 'UTC'),
    duration_ms   UInt32,
    actor_id      Int64,
    name          String,
    class_name    LowCardinality(String),
    class_spec    LowCardinality(String),
    damage        Int64,
    heal          Int64,
    damage_taken  Int64,
    dps           Float64,
    hps           Float64,
    crit_rate     Float64,
    lucky_rate    Float64,
    deaths        UInt32
)
ENGINE = MergeTree
ORDER BY (boss, class_name, class_spec, report_id, actor_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- Per player, per skill totals (damage or heal).
CREATE TABLE IF NOT EXISTS encounter_skills (
    report_id    UInt64,
    fight        UInt16,
    actor_id     Int64,
    kind         Enum8('damage' = 1, 'heal' = 2),
    skill_id     Int64,
    name         String,
    hits         UInt64,
    total        Int64,
    crit_hits    UInt64,
    lucky_hits   UInt64,
    hp_loss      Int64,
    shield_loss  Int64
)
ENGINE = MergeTree
ORDER BY (report_id, actor_id, kind, skill_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- Hit-by-hit timelines: `t_ms` since the encounter's start; `c`/`l` crit and lucky; hp and shield loss.
CREATE TABLE IF NOT EXISTS encounter_hits (
    report_id    UInt64,
    fight        UInt16,
    actor_id     Int64,
    kind         Enum8('damage' = 1, 'heal' = 2),
    skill_id     Int64,
    t_ms         UInt32,
    value        Int64,
    crit         UInt8,
    lucky        UInt8,
    hp_loss      Int64,
    shield_loss  Int64
)
ENGINE = MergeTree
ORDER BY (report_id, actor_id, t_ms)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
