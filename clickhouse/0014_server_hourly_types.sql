-- Events per server per UTC hour per event type: the dashboard's counts over time
-- (GET /api/v1/stats/timeseries) read this small table, never raw_events. The view feeds it from
-- now on; the INSERT below fills it once from what raw_events already holds (migrations run before
-- ingest starts, so nothing is counted twice).
CREATE TABLE IF NOT EXISTS server_hourly_types
(
    hour DateTime('UTC'),
    server_id UInt32,
    type LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, server_id, type)
SETTINGS non_replicated_deduplication_window = 10000, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS server_hourly_types_mv TO server_hourly_types AS
SELECT toStartOfHour(occurred_at) AS hour, server_id, type, count() AS events
FROM raw_events
GROUP BY hour, server_id, type;

INSERT INTO server_hourly_types
SELECT toStartOfHour(occurred_at) AS hour, server_id, type, count() AS events
FROM raw_events
GROUP BY hour, server_id, type;
