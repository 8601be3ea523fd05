-- The narrow raw_events built by 0008 takes the name (the old table is raw_events_next until 0011
-- drops it), and the views that read raw_events are re-created on its columns.
--
-- Re-runnable at every point: should the process stop after the EXCHANGE but before this file is
-- recorded, the next start swaps the tables back, the check that follows fails (the old table has
-- no actor_name) and that start stops with its error; the start after it swaps them forward again
-- and goes on. Nothing is lost; it costs one failed start. (ClickHouse DDL has no IF; the swap
-- itself is one atomic statement.)
EXCHANGE TABLES raw_events AND raw_events_next;

SELECT actor_name, target_name FROM raw_events LIMIT 0;

-- One row per player per combat event, with what the event adds to that player's counters: the
-- acting side (the attacker of a kill or damage, the player of a shot or hit) and the receiving
-- side (the victim of a kill or damage). A Null table: nothing is stored; it only feeds the
-- per-player aggregates, so the rules of who gets a kill, a death, a shot are written once.
-- Suicides, team kills and world deaths are their own counters, never kills; every one of them is
-- also a death of the victim. `kind` is the heatmap's: 'kills' where the player stood when it
-- scored a kill, 'deaths' where it fell; `pos_x`, `pos_y` that position (NaN when not sent).
DROP TABLE IF EXISTS player_events;

CREATE TABLE player_events
(
    occurred_at DateTime64(3, 'UTC'),
    server_id UInt32,
    match_id String,
    map_name LowCardinality(String),
    player_id String,
    player_name String,
    weapon LowCardinality(String),
    kills UInt32,
    deaths UInt32,
    suicides UInt32,
    team_kills UInt32,
    world_deaths UInt32,
    headshots UInt32,
    damage_dealt Float64,
    damage_taken Float64,
    shots_fired UInt32,
    shots_hit UInt32,
    kind LowCardinality(String),
    pos_x Float32,
    pos_y Float32
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_events_mv TO player_events AS
SELECT
    occurred_at, server_id, match_id, map_name,
    side.1 AS player_id,
    fragstats_display_name(side.2) AS player_name,
    weapon,
    side.3 AS kills, side.4 AS deaths, side.5 AS suicides, side.6 AS team_kills, side.7 AS world_deaths,
    side.8 AS headshots, side.9 AS damage_dealt, side.10 AS damage_taken, side.11 AS shots_fired,
    side.12 AS shots_hit, side.13 AS kind, side.14 AS pos_x, side.15 AS pos_y
FROM (
SELECT occurred_at, server_id, match_id, map_name, weapon, side
FROM raw_events
ARRAY JOIN [
    -- the acting side: attacker (kills, damage) or player (shots, hits)
    tuple(
        actor_id, actor_name,
        toUInt32(kill_kind = 'kill'), toUInt32(0), toUInt32(0), toUInt32(kill_kind = 'team_kill'), toUInt32(0),
        toUInt32(kill_kind = 'kill' AND headshot),
        toFloat64(if(type = 'damage' AND actor_id != target_id, damage, 0)), toFloat64(0),
        toUInt32(type = 'weapon_fire'), toUInt32(type = 'weapon_hit'),
        if(kill_kind = 'kill', 'kills', ''), actor_x, actor_y),
    -- the receiving side: victim (deaths, damage taken)
    tuple(
        if(type IN ('player_kill', 'damage'), target_id, ''), target_name,
        toUInt32(0), toUInt32(type = 'player_kill'), toUInt32(kill_kind = 'suicide'), toUInt32(0),
        toUInt32(kill_kind = 'world'), toUInt32(0),
        toFloat64(0), toFloat64(if(type = 'damage', damage, 0)),
        toUInt32(0), toUInt32(0),
        if(type = 'player_kill', 'deaths', ''), target_x, target_y)
] AS side
WHERE type IN ('player_kill', 'damage', 'weapon_fire', 'weapon_hit')
)
WHERE player_id != '';

CREATE MATERIALIZED VIEW IF NOT EXISTS heatmap_mv TO heatmap AS
SELECT map_name, player_id, kind,
       toInt32(floor(pos_x / 128)) AS x, toInt32(floor(pos_y / 128)) AS y,
       count() AS count
FROM player_events
WHERE kind != '' AND map_name != '' AND NOT isNaN(pos_x) AND NOT isNaN(pos_y)
GROUP BY map_name, player_id, kind, x, y;

-- The players of an hour or a match: whoever acted, and the victims of kills and damage (a shot's
-- target and a suicide's killer were never counted).
CREATE MATERIALIZED VIEW IF NOT EXISTS server_hourly_mv TO server_hourly AS
SELECT toStartOfHour(occurred_at) AS hour, server_id, count() AS events,
       countIf(kill_kind = 'kill') AS kills, countIf(type = 'match_start') AS matches_started,
       uniqArrayState(arrayFilter(p -> p != '', [actor_id, if(type IN ('player_kill', 'damage'), target_id, '')])) AS players
FROM raw_events
GROUP BY hour, server_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS matches_mv TO matches AS
SELECT server_id, match_id, max(session_id) AS session_id, max(map_name) AS map_name,
       max(gametype) AS gametype, min(occurred_at) AS started_at, max(occurred_at) AS last_event_at,
       max(type = 'match_end') AS has_end, count() AS events, countIf(kill_kind = 'kill') AS kills,
       uniqArrayState(arrayFilter(p -> p != '', [actor_id, if(type IN ('player_kill', 'damage'), target_id, '')])) AS players
FROM raw_events
WHERE match_id != ''
GROUP BY server_id, match_id;
