-- One row per player per combat event, with what the event adds to that player's counters.
-- A Null table: nothing is stored; it only feeds the per-player aggregates below, so the rules
-- of who gets a kill, a death, a shot are written once. Suicides, team kills and world deaths are
-- their own counters, never kills; every one of them is also a death of the victim.
CREATE TABLE IF NOT EXISTS player_events
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
    -- Where the player stood when it scored a kill (heat = 'kill') or died (heat = 'death'); NaN when not sent.
    heat LowCardinality(String),
    x Float32,
    y Float32
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_events_mv TO player_events AS
-- The outer SELECT names the tuple's parts; done in an outer query because its aliases
-- (player_id, player_name) would otherwise shadow raw_events' columns of the same name.
SELECT
    occurred_at, server_id, match_id, map_name,
    side.1 AS player_id,
    fragstats_display_name(side.2) AS player_name,
    weapon,
    side.3 AS kills, side.4 AS deaths, side.5 AS suicides, side.6 AS team_kills, side.7 AS world_deaths,
    side.8 AS headshots, side.9 AS damage_dealt, side.10 AS damage_taken, side.11 AS shots_fired,
    side.12 AS shots_hit, side.13 AS heat, side.14 AS x, side.15 AS y
FROM (
SELECT occurred_at, server_id, match_id, map_name, weapon, side
FROM raw_events
ARRAY JOIN [
    -- the acting side: attacker (kills, damage) or player (shots)
    tuple(
        if(type IN ('weapon_fire', 'weapon_hit'), player_id, attacker_id),
        if(type IN ('weapon_fire', 'weapon_hit'), player_name, attacker_name),
        toUInt32(kill_kind = 'kill'), toUInt32(0), toUInt32(0), toUInt32(kill_kind = 'team_kill'), toUInt32(0),
        toUInt32(kill_kind = 'kill' AND headshot),
        toFloat64(if(type = 'damage' AND attacker_id != victim_id, damage, 0)), toFloat64(0),
        toUInt32(type = 'weapon_fire'), toUInt32(type = 'weapon_hit'),
        if(kill_kind = 'kill', 'kill', ''), attacker_x, attacker_y),
    -- the receiving side: victim (deaths, damage taken)
    tuple(
        if(type IN ('player_kill', 'damage'), victim_id, ''),
        victim_name,
        toUInt32(0), toUInt32(type = 'player_kill'), toUInt32(kill_kind = 'suicide'), toUInt32(0),
        toUInt32(kill_kind = 'world'), toUInt32(0),
        toFloat64(0), toFloat64(if(type = 'damage', damage, 0)),
        toUInt32(0), toUInt32(0),
        if(type = 'player_kill', 'death', ''), victim_x, victim_y)
] AS side
WHERE type IN ('player_kill', 'damage', 'weapon_fire', 'weapon_hit')
)
WHERE player_id != '';
