-- Every event as the client sent it: typed columns for the known keys (named as on the wire),
-- the rest in `extra`. Both clocks: `timestamp` (game clock, s since map load) and `received_at`;
-- `occurred_at` is the sender's wall clock when it sent one, else the receipt time.
-- A position or angle the client did not send is NaN, not NULL: Nullable columns cost about a
-- third of the insert rate here (measured, bench/RESULTS.md), and NaN is as clear a "not sent".
-- LowCardinality only where few values repeat across every row (type, map, game type).
-- Plain MergeTree (a Replacing key would collapse distinct events of the same millisecond);
-- `non_replicated_deduplication_window` makes a retried insert with the same
-- insert_deduplication_token a no-op (measured: without the window the token does nothing here).
CREATE TABLE IF NOT EXISTS raw_events
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
    attacker_name String, attacker_guid String, attacker_smf_id UInt64, attacker_team String, attacker_stance String,
    attacker_x Float32 DEFAULT nan, attacker_y Float32 DEFAULT nan, attacker_z Float32 DEFAULT nan, attacker_pitch Float32 DEFAULT nan, attacker_yaw Float32 DEFAULT nan,
    victim_name String, victim_guid String, victim_smf_id UInt64, victim_team String, victim_stance String,
    victim_x Float32 DEFAULT nan, victim_y Float32 DEFAULT nan, victim_z Float32 DEFAULT nan, victim_pitch Float32 DEFAULT nan, victim_yaw Float32 DEFAULT nan,
    player_name String, player_guid String, player_smf_id UInt64, player_team String, player_stance String,
    player_x Float32 DEFAULT nan, player_y Float32 DEFAULT nan, player_z Float32 DEFAULT nan, player_pitch Float32 DEFAULT nan, player_yaw Float32 DEFAULT nan,
    target_name String, target_guid String, target_smf_id UInt64, target_team String, target_stance String,
    target_x Float32 DEFAULT nan, target_y Float32 DEFAULT nan, target_z Float32 DEFAULT nan, target_pitch Float32 DEFAULT nan, target_yaw Float32 DEFAULT nan,
    killer_name String, killer_guid String, killer_smf_id UInt64, killer_team String, killer_stance String,
    killer_x Float32 DEFAULT nan, killer_y Float32 DEFAULT nan, killer_z Float32 DEFAULT nan, killer_pitch Float32 DEFAULT nan, killer_yaw Float32 DEFAULT nan,
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
    winning_team String,
    duration Float32,
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
    extra Map(String, String),
    attacker_id String MATERIALIZED fragstats_player_id(attacker_guid, attacker_name, server_id),
    victim_id String MATERIALIZED fragstats_player_id(victim_guid, victim_name, server_id),
    player_id String MATERIALIZED fragstats_player_id(player_guid, player_name, server_id),
    target_id String MATERIALIZED fragstats_player_id(target_guid, target_name, server_id),
    killer_id String MATERIALIZED fragstats_player_id(killer_guid, killer_name, server_id),
    -- What a player_kill was, decided once here so every aggregate agrees: a world death (no
    -- attacker, or the world itself), a suicide (attacker is the victim), a team kill (same known
    -- team in a team mode), else a kill. Only `kill` counts as a kill.
    kill_kind LowCardinality(String) MATERIALIZED multiIf(
        type != 'player_kill', '',
        attacker_id = '' OR lower(fragstats_display_name(attacker_name)) IN ('world', '<world>', '<non-client>'), 'world',
        attacker_id = victim_id, 'suicide',
        fragstats_team(attacker_team) = fragstats_team(victim_team)
            AND fragstats_team(attacker_team) NOT IN ('', 'none', 'freeforall', 'free', 'spectator'), 'team_kill',
        'kill'),
    headshot UInt8 MATERIALIZED hitloc IN ('head', 'helmet')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (match_id, server_id, timestamp)
-- Compact parts (all columns in one file) for fresh inserts: with ~110 columns a wide part is
-- ~230 files per insert, and writing them cost more than half the insert time (measured: 71k ->
-- 160k rows/s for 50k-row inserts). Merges turn parts wide once they pass 256 MiB.
SETTINGS non_replicated_deduplication_window = 10000,
         min_bytes_for_wide_part = 268435456,
         min_rows_for_wide_part = 1000000;
