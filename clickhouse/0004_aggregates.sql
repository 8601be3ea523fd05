-- Aggregate tables kept current by materialized views. Read them with sum()/-Merge and GROUP BY:
-- rows of one key are only merged eventually. Each sets the deduplication window so that a
-- retried insert (same token, deduplicate_blocks_in_dependent_materialized_views=1) counts once.

-- Per player per day (leaderboards with a period and a server filter).
CREATE TABLE IF NOT EXISTS player_daily
(
    day Date,
    server_id UInt32,
    player_id String,
    player_name SimpleAggregateFunction(anyLast, String),
    kills SimpleAggregateFunction(sum, UInt64),
    deaths SimpleAggregateFunction(sum, UInt64),
    suicides SimpleAggregateFunction(sum, UInt64),
    team_kills SimpleAggregateFunction(sum, UInt64),
    world_deaths SimpleAggregateFunction(sum, UInt64),
    headshots SimpleAggregateFunction(sum, UInt64),
    damage_dealt SimpleAggregateFunction(sum, Float64),
    damage_taken SimpleAggregateFunction(sum, Float64),
    shots_fired SimpleAggregateFunction(sum, UInt64),
    shots_hit SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, server_id, player_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_daily_mv TO player_daily AS
SELECT toDate(occurred_at) AS day, server_id, player_id, anyLast(player_name) AS player_name,
       sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides, sum(team_kills) AS team_kills,
       sum(world_deaths) AS world_deaths, sum(headshots) AS headshots, sum(damage_dealt) AS damage_dealt,
       sum(damage_taken) AS damage_taken, sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit
FROM player_events
GROUP BY day, server_id, player_id;

-- Per player per weapon (weapon leaderboards, the weapons of a profile). Deaths here are deaths
-- by that weapon.
CREATE TABLE IF NOT EXISTS player_weapon
(
    server_id UInt32,
    player_id String,
    weapon LowCardinality(String),
    player_name SimpleAggregateFunction(anyLast, String),
    kills SimpleAggregateFunction(sum, UInt64),
    deaths SimpleAggregateFunction(sum, UInt64),
    headshots SimpleAggregateFunction(sum, UInt64),
    damage_dealt SimpleAggregateFunction(sum, Float64),
    shots_fired SimpleAggregateFunction(sum, UInt64),
    shots_hit SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (weapon, server_id, player_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_weapon_mv TO player_weapon AS
SELECT server_id, player_id, weapon, anyLast(player_name) AS player_name,
       sum(kills) AS kills, sum(deaths) AS deaths, sum(headshots) AS headshots,
       sum(damage_dealt) AS damage_dealt, sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit
FROM player_events
WHERE weapon != ''
GROUP BY server_id, player_id, weapon;

-- Per player per map (map leaderboards, the maps of a profile).
CREATE TABLE IF NOT EXISTS player_map
(
    map_name LowCardinality(String),
    server_id UInt32,
    player_id String,
    player_name SimpleAggregateFunction(anyLast, String),
    kills SimpleAggregateFunction(sum, UInt64),
    deaths SimpleAggregateFunction(sum, UInt64),
    suicides SimpleAggregateFunction(sum, UInt64),
    team_kills SimpleAggregateFunction(sum, UInt64),
    world_deaths SimpleAggregateFunction(sum, UInt64),
    headshots SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (map_name, server_id, player_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_map_mv TO player_map AS
SELECT map_name, server_id, player_id, anyLast(player_name) AS player_name,
       sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides,
       sum(team_kills) AS team_kills, sum(world_deaths) AS world_deaths, sum(headshots) AS headshots
FROM player_events
WHERE map_name != ''
GROUP BY map_name, server_id, player_id
HAVING kills + deaths + team_kills > 0;

-- Heatmap cells: kill and death positions per map per player on a fixed 128-unit grid
-- (about 3 m in idTech 3 units); a map-wide heatmap is the sum over players.
CREATE TABLE IF NOT EXISTS heatmap_cells
(
    map_name LowCardinality(String),
    player_id String,
    heat LowCardinality(String),
    cell_x Int32,
    cell_y Int32,
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (map_name, player_id, heat, cell_x, cell_y)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS heatmap_cells_mv TO heatmap_cells AS
SELECT map_name, player_id, heat,
       toInt32(floor(x / 128)) AS cell_x, toInt32(floor(y / 128)) AS cell_y,
       count() AS events
FROM player_events
WHERE heat != '' AND map_name != '' AND NOT isNaN(x) AND NOT isNaN(y)
GROUP BY map_name, player_id, heat, cell_x, cell_y;

-- Per server per hour (activity charts, server pages).
CREATE TABLE IF NOT EXISTS server_hourly
(
    hour DateTime('UTC'),
    server_id UInt32,
    events SimpleAggregateFunction(sum, UInt64),
    kills SimpleAggregateFunction(sum, UInt64),
    matches_started SimpleAggregateFunction(sum, UInt64),
    players AggregateFunction(uniqArray, Array(String))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (server_id, hour)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS server_hourly_mv TO server_hourly AS
SELECT toStartOfHour(occurred_at) AS hour, server_id, count() AS events,
       countIf(kill_kind = 'kill') AS kills, countIf(type = 'match_start') AS matches_started,
       uniqArrayState(arrayFilter(p -> p != '', [attacker_id, victim_id, player_id])) AS players
FROM raw_events
GROUP BY hour, server_id;

-- Per match (match lists; the scoreboard and timeline read raw_events by match_id, its sort key).
CREATE TABLE IF NOT EXISTS matches
(
    server_id UInt32,
    match_id String,
    session_id SimpleAggregateFunction(max, String),
    map_name SimpleAggregateFunction(max, String),
    gametype SimpleAggregateFunction(max, String),
    started_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_event_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    has_end SimpleAggregateFunction(max, UInt8),
    events SimpleAggregateFunction(sum, UInt64),
    kills SimpleAggregateFunction(sum, UInt64),
    players AggregateFunction(uniqArray, Array(String))
)
ENGINE = AggregatingMergeTree
ORDER BY (server_id, match_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS matches_mv TO matches AS
SELECT server_id, match_id, max(session_id) AS session_id, max(map_name) AS map_name,
       max(gametype) AS gametype, min(occurred_at) AS started_at, max(occurred_at) AS last_event_at,
       max(type = 'match_end') AS has_end, count() AS events, countIf(kill_kind = 'kill') AS kills,
       uniqArrayState(arrayFilter(p -> p != '', [attacker_id, victim_id, player_id])) AS players
FROM raw_events
WHERE match_id != ''
GROUP BY server_id, match_id;

-- Per player per match (a profile's recent matches, a match's scoreboard). A bloom filter on
-- match_id lets the scoreboard skip granules without a second copy sorted by match.
CREATE TABLE IF NOT EXISTS player_match
(
    player_id String,
    server_id UInt32,
    match_id String,
    player_name SimpleAggregateFunction(anyLast, String),
    map_name SimpleAggregateFunction(max, String),
    started_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    kills SimpleAggregateFunction(sum, UInt64),
    deaths SimpleAggregateFunction(sum, UInt64),
    suicides SimpleAggregateFunction(sum, UInt64),
    team_kills SimpleAggregateFunction(sum, UInt64),
    world_deaths SimpleAggregateFunction(sum, UInt64),
    headshots SimpleAggregateFunction(sum, UInt64),
    damage_dealt SimpleAggregateFunction(sum, Float64),
    shots_fired SimpleAggregateFunction(sum, UInt64),
    shots_hit SimpleAggregateFunction(sum, UInt64),
    INDEX match_bf match_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = AggregatingMergeTree
ORDER BY (player_id, server_id, match_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_match_mv TO player_match AS
SELECT player_id, server_id, match_id, anyLast(player_name) AS player_name, max(map_name) AS map_name,
       min(occurred_at) AS started_at, sum(kills) AS kills, sum(deaths) AS deaths, sum(suicides) AS suicides,
       sum(team_kills) AS team_kills, sum(world_deaths) AS world_deaths, sum(headshots) AS headshots,
       sum(damage_dealt) AS damage_dealt, sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit
FROM player_events
WHERE match_id != ''
GROUP BY player_id, server_id, match_id;
