-- raw_events, narrower (issue 12, measured in bench/RESULTS.md "Row format and table layout"):
-- a player is stored in one of two roles instead of one block of columns per wire prefix. The
-- first player block an event type declares is its actor, the second its target
-- (ingest/events.py STORAGE):
--   player_kill, damage: attacker -> actor_*, victim -> target_*
--   weapon_hit: player -> actor_*, target -> target_*
--   player_suicide: player -> actor_*, killer -> target_*
--   every other type with a player: player -> actor_*
-- A player_kill's third block (killer_*) is kept in `extra` under its wire keys, as text.
-- Every other column keeps its name, type and meaning (clickhouse/0002, 0007); every aggregate is
-- computed as before (clickhouse/0010 re-creates the views on the new columns).
--
-- This file builds the new table beside the old one and copies the rows; 0009 renames the heatmap's
-- columns, 0010 swaps the two tables and re-creates the views, 0011 drops the old tables.
-- Re-running this file after a failure starts the copy over (TRUNCATE): the old table is
-- untouched until 0010.
--
-- Insert and merge costs grow with the column count: 68 written columns instead of 110.
-- `index_granularity_bytes` (read-only once a table exists, hence set here): granules of at most
-- 1 MiB instead of 10 MiB. A merge of compact parts (the usual background merge here: parts stay
-- compact below 256 MiB) holds about a granule per column per part it reads. Measured
-- (`python -m bench.formats --merge-memory --batch 40000`, 17 parts into one): 73-77 MiB with
-- 1 MiB granules, 171-175 MiB with the default (10 MiB, and 4 MiB alike), 240 MiB for the old wide
-- table; for ~0.4 µs more merge CPU per row (4.3 against 3.6-4.0 µs), on ClickHouse's merge
-- threads, not the event loop; insert CPU alike. 256 KiB: 47 MiB but 6.3-6.5 µs per row.
-- The other settings are those 0002, 0005 and 0006 set on the old table.
CREATE TABLE IF NOT EXISTS raw_events_next
(
    server_id UInt32,
    received_at DateTime64(3, 'UTC'),
    occurred_at DateTime64(3, 'UTC') DEFAULT received_at,
    type LowCardinality(String),
    match_id String,
    session_id String,
    timestamp Float64,
    map_name LowCardinality(String),
    gametype LowCardinality(String),
    actor_name String, actor_guid String, actor_team String,
    actor_x Float32 DEFAULT nan, actor_y Float32 DEFAULT nan, actor_z Float32 DEFAULT nan,
    target_name String, target_guid String, target_team String,
    target_x Float32 DEFAULT nan, target_y Float32 DEFAULT nan, target_z Float32 DEFAULT nan,
    weapon String,
    damage Float32,
    hitloc String,
    mod String,
    ammo_remaining Int32,
    old_weapon String,
    new_weapon String,
    jump_height Float32,
    walked Float32,
    distance Float32,
    total_distance Float32,
    smf_member_id UInt64,
    smf_member_name String,
    round_number Int32,
    allies_score Int32,
    axis_score Int32,
    player_count Int32,
    timelimit Float32,
    fraglimit Int32,
    maxclients Int32,
    hostname String,
    partial Bool,
    winning_team String,
    duration Float32,
    red_score Int32,
    blue_score Int32,
    total_rounds Int32,
    reason String,
    old_team String,
    new_team String,
    message String,
    team_only Bool,
    item String,
    projectile String,
    score Int32,
    ping Int32,
    old_name String,
    flag String,
    -- Sent with most events, read by no aggregate or page.
    actor_pitch Float32 DEFAULT nan, actor_yaw Float32 DEFAULT nan, actor_stance String, actor_smf_id UInt64,
    target_pitch Float32 DEFAULT nan, target_yaw Float32 DEFAULT nan, target_stance String, target_smf_id UInt64,
    extra Map(String, String),
    actor_id String MATERIALIZED fragstats_player_id(actor_guid, actor_name, server_id),
    target_id String MATERIALIZED fragstats_player_id(target_guid, target_name, server_id),
    -- What a player_kill was, decided once here so every aggregate agrees: a world death (no
    -- attacker, or the world itself), a suicide (attacker is the victim), a team kill (same known
    -- team in a team mode), else a kill. Only `kill` counts as a kill.
    kill_kind LowCardinality(String) MATERIALIZED multiIf(
        type != 'player_kill', '',
        actor_id = '' OR lower(fragstats_display_name(actor_name)) IN ('world', '<world>', '<non-client>'), 'world',
        actor_id = target_id, 'suicide',
        fragstats_team(actor_team) = fragstats_team(target_team)
            AND fragstats_team(actor_team) NOT IN ('', 'none', 'freeforall', 'free', 'spectator'), 'team_kill',
        'kill'),
    headshot UInt8 MATERIALIZED hitloc IN ('head', 'helmet'),
    -- The wire's names of the player blocks, computed when read (never stored, nothing on insert or
    -- merge): queries and views written against the wire's spelling read the roles through them.
    -- A hit's target_* is the target role itself; for other types target_* holds their target role
    -- (a kill's victim, a suicide's killer).
    attacker_name String ALIAS if(type IN ('player_kill', 'damage'), actor_name, ''),
    attacker_guid String ALIAS if(type IN ('player_kill', 'damage'), actor_guid, ''),
    attacker_smf_id UInt64 ALIAS if(type IN ('player_kill', 'damage'), actor_smf_id, 0),
    attacker_team String ALIAS if(type IN ('player_kill', 'damage'), actor_team, ''),
    attacker_x Float32 ALIAS if(type IN ('player_kill', 'damage'), actor_x, nan),
    attacker_y Float32 ALIAS if(type IN ('player_kill', 'damage'), actor_y, nan),
    attacker_z Float32 ALIAS if(type IN ('player_kill', 'damage'), actor_z, nan),
    attacker_pitch Float32 ALIAS if(type IN ('player_kill', 'damage'), actor_pitch, nan),
    attacker_yaw Float32 ALIAS if(type IN ('player_kill', 'damage'), actor_yaw, nan),
    attacker_stance String ALIAS if(type IN ('player_kill', 'damage'), actor_stance, ''),
    victim_name String ALIAS if(type IN ('player_kill', 'damage'), target_name, ''),
    victim_guid String ALIAS if(type IN ('player_kill', 'damage'), target_guid, ''),
    victim_smf_id UInt64 ALIAS if(type IN ('player_kill', 'damage'), target_smf_id, 0),
    victim_team String ALIAS if(type IN ('player_kill', 'damage'), target_team, ''),
    victim_x Float32 ALIAS if(type IN ('player_kill', 'damage'), target_x, nan),
    victim_y Float32 ALIAS if(type IN ('player_kill', 'damage'), target_y, nan),
    victim_z Float32 ALIAS if(type IN ('player_kill', 'damage'), target_z, nan),
    victim_pitch Float32 ALIAS if(type IN ('player_kill', 'damage'), target_pitch, nan),
    victim_yaw Float32 ALIAS if(type IN ('player_kill', 'damage'), target_yaw, nan),
    victim_stance String ALIAS if(type IN ('player_kill', 'damage'), target_stance, ''),
    player_name String ALIAS if(type IN ('player_kill', 'damage'), '', actor_name),
    player_guid String ALIAS if(type IN ('player_kill', 'damage'), '', actor_guid),
    player_smf_id UInt64 ALIAS if(type IN ('player_kill', 'damage'), 0, actor_smf_id),
    player_team String ALIAS if(type IN ('player_kill', 'damage'), '', actor_team),
    player_x Float32 ALIAS if(type IN ('player_kill', 'damage'), nan, actor_x),
    player_y Float32 ALIAS if(type IN ('player_kill', 'damage'), nan, actor_y),
    player_z Float32 ALIAS if(type IN ('player_kill', 'damage'), nan, actor_z),
    player_pitch Float32 ALIAS if(type IN ('player_kill', 'damage'), nan, actor_pitch),
    player_yaw Float32 ALIAS if(type IN ('player_kill', 'damage'), nan, actor_yaw),
    player_stance String ALIAS if(type IN ('player_kill', 'damage'), '', actor_stance),
    killer_name String ALIAS multiIf(type = 'player_suicide', target_name, type = 'player_kill', extra['killer_name'], ''),
    killer_guid String ALIAS multiIf(type = 'player_suicide', target_guid, type = 'player_kill', extra['killer_guid'], ''),
    killer_smf_id UInt64 ALIAS multiIf(type = 'player_suicide', target_smf_id, type = 'player_kill', ifNull(toUInt64OrNull(extra['killer_smf_id']), 0), 0),
    killer_team String ALIAS multiIf(type = 'player_suicide', target_team, type = 'player_kill', extra['killer_team'], ''),
    killer_x Float32 ALIAS multiIf(type = 'player_suicide', target_x, type = 'player_kill', ifNull(toFloat32OrNull(extra['killer_x']), nan), nan),
    killer_y Float32 ALIAS multiIf(type = 'player_suicide', target_y, type = 'player_kill', ifNull(toFloat32OrNull(extra['killer_y']), nan), nan),
    killer_z Float32 ALIAS multiIf(type = 'player_suicide', target_z, type = 'player_kill', ifNull(toFloat32OrNull(extra['killer_z']), nan), nan),
    killer_pitch Float32 ALIAS multiIf(type = 'player_suicide', target_pitch, type = 'player_kill', ifNull(toFloat32OrNull(extra['killer_pitch']), nan), nan),
    killer_yaw Float32 ALIAS multiIf(type = 'player_suicide', target_yaw, type = 'player_kill', ifNull(toFloat32OrNull(extra['killer_yaw']), nan), nan),
    killer_stance String ALIAS multiIf(type = 'player_suicide', target_stance, type = 'player_kill', extra['killer_stance'], ''),
    attacker_id String ALIAS if(type IN ('player_kill', 'damage'), actor_id, ''),
    victim_id String ALIAS if(type IN ('player_kill', 'damage'), target_id, ''),
    player_id String ALIAS if(type IN ('player_kill', 'damage'), '', actor_id),
    killer_id String ALIAS fragstats_player_id(killer_guid, killer_name, server_id)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (match_id, server_id, timestamp)
SETTINGS non_replicated_deduplication_window = 10000,
         min_bytes_for_wide_part = 268435456,
         min_rows_for_wide_part = 1000000,
         merge_selector_base = 20,
         fsync_after_insert = 1,
         fsync_part_directory = 1,
         index_granularity_bytes = 1048576;

-- The views that read raw_events stop here and are re-created on the new table by 0011 (the copy
-- below must not count its rows in the aggregates a second time).
DROP VIEW IF EXISTS player_events_mv;
DROP VIEW IF EXISTS server_hourly_mv;
DROP VIEW IF EXISTS matches_mv;

TRUNCATE TABLE raw_events_next;

INSERT INTO raw_events_next
    (server_id, received_at, occurred_at, type, match_id, session_id, timestamp, map_name, gametype,
     actor_name, actor_guid, actor_team, actor_x, actor_y, actor_z,
     target_name, target_guid, target_team, target_x, target_y, target_z,
     weapon, damage, hitloc, mod, ammo_remaining, old_weapon, new_weapon, jump_height, walked, distance,
     total_distance, smf_member_id, smf_member_name, round_number, allies_score, axis_score, player_count,
     timelimit, fraglimit, maxclients, hostname, partial, winning_team, duration, red_score, blue_score,
     total_rounds, reason, old_team, new_team, message, team_only, item, projectile, score, ping, old_name, flag,
     actor_pitch, actor_yaw, actor_stance, actor_smf_id, target_pitch, target_yaw, target_stance, target_smf_id,
     extra)
SELECT server_id, received_at, occurred_at, type, match_id, session_id, timestamp, map_name, gametype,
       if(by_attacker, attacker_name, player_name), if(by_attacker, attacker_guid, player_guid),
       if(by_attacker, attacker_team, player_team),
       if(by_attacker, attacker_x, player_x), if(by_attacker, attacker_y, player_y), if(by_attacker, attacker_z, player_z),
       multiIf(by_attacker, victim_name, by_killer, killer_name, target_name),
       multiIf(by_attacker, victim_guid, by_killer, killer_guid, target_guid),
       multiIf(by_attacker, victim_team, by_killer, killer_team, target_team),
       multiIf(by_attacker, victim_x, by_killer, killer_x, target_x),
       multiIf(by_attacker, victim_y, by_killer, killer_y, target_y),
       multiIf(by_attacker, victim_z, by_killer, killer_z, target_z),
       weapon, damage, hitloc, mod, ammo_remaining, old_weapon, new_weapon, jump_height, walked, distance,
       total_distance, smf_member_id, smf_member_name, round_number, allies_score, axis_score, player_count,
       timelimit, fraglimit, maxclients, hostname, partial, winning_team, duration, red_score, blue_score,
       total_rounds, reason, old_team, new_team, message, team_only, item, projectile, score, ping, old_name, flag,
       if(by_attacker, attacker_pitch, player_pitch), if(by_attacker, attacker_yaw, player_yaw),
       if(by_attacker, attacker_stance, player_stance), if(by_attacker, attacker_smf_id, player_smf_id),
       multiIf(by_attacker, victim_pitch, by_killer, killer_pitch, target_pitch),
       multiIf(by_attacker, victim_yaw, by_killer, killer_yaw, target_yaw),
       multiIf(by_attacker, victim_stance, by_killer, killer_stance, target_stance),
       multiIf(by_attacker, victim_smf_id, by_killer, killer_smf_id, target_smf_id),
       -- A kill's killer block: the values the old columns held other than their defaults.
       if(type = 'player_kill',
          mapConcat(extra, mapFilter((k, v) -> v != '', map(
              'killer_name', killer_name, 'killer_guid', killer_guid, 'killer_team', killer_team,
              'killer_stance', killer_stance,
              'killer_smf_id', if(killer_smf_id = 0, '', toString(killer_smf_id)),
              'killer_x', if(isNaN(killer_x), '', toString(killer_x)),
              'killer_y', if(isNaN(killer_y), '', toString(killer_y)),
              'killer_z', if(isNaN(killer_z), '', toString(killer_z)),
              'killer_pitch', if(isNaN(killer_pitch), '', toString(killer_pitch)),
              'killer_yaw', if(isNaN(killer_yaw), '', toString(killer_yaw))))),
          extra)
FROM (SELECT *, type IN ('player_kill', 'damage') AS by_attacker, type = 'player_suicide' AS by_killer FROM raw_events)
SETTINGS max_threads = 1, max_insert_threads = 1;
