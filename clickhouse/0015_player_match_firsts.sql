-- When each player first connected and first scored a kill in each match (GET /api/v1/stats/latency,
-- "connect -> first kill"), kept by a view so that percentiles never scan raw_events. NULL: not seen.
-- Filled once from existing raw_events, like 0014.
CREATE TABLE IF NOT EXISTS player_match_firsts
(
    server_id UInt32,
    match_id String,
    player_id String,
    first_connect SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_kill SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC')))
)
ENGINE = AggregatingMergeTree
ORDER BY (server_id, match_id, player_id)
SETTINGS non_replicated_deduplication_window = 10000, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_match_firsts_mv TO player_match_firsts AS
SELECT server_id, match_id, pid AS player_id, first_connect, first_kill FROM (
    SELECT server_id, match_id, if(type = 'connect', player_id, attacker_id) AS pid,
           minIfOrNull(occurred_at, type = 'connect') AS first_connect,
           minIfOrNull(occurred_at, type = 'player_kill') AS first_kill
    FROM raw_events
    WHERE match_id != '' AND ((type = 'connect' AND player_id != '') OR kill_kind = 'kill')
    GROUP BY server_id, match_id, pid);

INSERT INTO player_match_firsts
SELECT server_id, match_id, pid AS player_id, first_connect, first_kill FROM (
    SELECT server_id, match_id, if(type = 'connect', player_id, attacker_id) AS pid,
           minIfOrNull(occurred_at, type = 'connect') AS first_connect,
           minIfOrNull(occurred_at, type = 'player_kill') AS first_kill
    FROM raw_events
    WHERE match_id != '' AND ((type = 'connect' AND player_id != '') OR kill_kind = 'kill')
    GROUP BY server_id, match_id, pid);
