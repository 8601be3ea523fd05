-- Realm ("kingdom") snapshots: one row per player per snapshot (uploads/snapshots.py). Numeric
-- columns keep their normalised snake_case names as map keys: `ints` holds 64-bit integers (kill
-- points pass 10^10), `floats` the others, `texts` the text columns. `score` is the realm's formula
-- (FRAGSTATS_SNAPSHOT_FORMULAS), NULL without one. Partitioned by realm and date; a snapshot is
-- inserted once under its run id (insert_deduplication_token), so a retried insert is not doubled.
CREATE TABLE IF NOT EXISTS snapshot_rows (
    realm          LowCardinality(String),
    snapshot_date  Date,
    entity_id      String,
    name           String,
    ints           Map(String, Int64),
    floats         Map(String, Float64),
    texts          Map(String, String),
    score          Nullable(Float64),
    row_number     UInt32,
    run_id         String,
    record_hash    String,
    ingested_at    DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY (realm, snapshot_date)
ORDER BY (realm, snapshot_date, entity_id)
SETTINGS non_replicated_deduplication_window = 1000, fsync_after_insert = 1, fsync_part_directory = 1;
