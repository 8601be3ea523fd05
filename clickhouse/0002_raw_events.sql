-- Every event as the client sent it: typed columns for the known keys (named as on the wire),
-- the rest in `extra`. Both clocks: `timestamp` (game clock, s since map load) and `received_at`;
-- `occurred_at` is the sender's wall clock when it sent one, else the receipt time.
-- Plain MergeTree (a Replacing key would collapse distinct events of the same millisecond);
-- `non_replicated_deduplication_window` makes a retried insert with the same
-- insert_deduplication_token a no-op (DESIGN.md, measured).
CREATE TABLE IF NOT EXISTS raw_events
(
    server_id UInt32,
    received_at DateTime64(3, 'UTC'),
    occurred_at DateTime64(3, 'UTC'),
    type LowCardinality(String),
    match_id String,
    session_id String,
    timestamp Float64,
    map_name LowCardinality(String),
    gametype LowCardinality(String),
    attacker_name String, attacker_guid String, attacker_smf_id UInt64, attacker_team LowCardinality(String), attacker_stance LowCardinality(String),
    attacker_x Nullable(Float32), attacker_y Nullable(Float32), attacker_z Nullable(Float32), attacker_pitch Nullable(Float32), attacker_yaw Nullable(Float32),
    victim_name String, victim_guid String, victim_smf_id UInt64, victim_team LowCardinality(String), victim_stance LowCardinality(String),
    victim_x Nullable(Float32), victim_y Nullable(Float32), victim_z Nullable(Float32), victim_pitch Nullable(Float32), victim_yaw Nullable(Float32),
    player_name String, player_guid String, player_smf_id UInt64, player_team LowCardinality(String), player_stance LowCardinality(String),
    player_x Nullable(Float32), player_y Nullable(Float32), player_z Nullable(Float32), player_pitch Nullable(Float32), player_yaw Nullable(Float32),
    target_name String, target_guid String, target_smf_id UInt64, target_team LowCardinality(String), target_stance LowCardinality(String),
    target_x Nullable(Float32), target_y Nullable(Float32), target_z Nullable(Float32), target_pitch Nullable(Float32), target_yaw Nullable(Float32),
    killer_name String, killer_guid String, killer_smf_id UInt64, killer_team LowCardinality(String), killer_stance LowCardinality(String),
    killer_x Nullable(Float32), killer_y Nullable(Float32), killer_z Nullable(Float32), killer_pitch Nullable(Float32), killer_yaw Nullable(Float32),
    weapon LowCardinality(String),
    damage Float32,
    hitloc LowCardinality(String),
    mod LowCardinality(String),
    ammo_remaining Int32,
    old_weapon LowCardinality(String),
    new_weapon LowCardinality(String),
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
    winning_team LowCardinality(String),
    duration Float32,
    total_rounds Int32,
    reason String,
    old_team LowCardinality(String),
    new_team LowCardinality(String),
    message String,
    team_only Bool,
    item LowCardinality(String),
    projectile LowCardinality(String),
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
SETTINGS non_replicated_deduplication_window = 10000;
