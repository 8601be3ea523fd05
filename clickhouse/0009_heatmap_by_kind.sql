-- Heatmap cells named as the JSON of GET /api/v1/stats/.../heatmap names them: `kind` is 'kills' or
-- 'deaths' (the route's `kind` parameter and field), `x`, `y` the cell and `count` its events. It
-- replaces heatmap_cells (`heat` 'kill'|'death', `cell_x`, `cell_y`, `events`): one spelling from
-- the column to the JSON. Kill positions are where the killer stood, death positions where the
-- victim fell, on a fixed 128-unit grid; a map-wide heatmap is the sum over players.
-- The copy below can run again after a failure (TRUNCATE first); heatmap_cells is dropped by 0011.
CREATE TABLE IF NOT EXISTS heatmap
(
    map_name LowCardinality(String),
    player_id String,
    kind LowCardinality(String),
    x Int32,
    y Int32,
    count SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (map_name, player_id, kind, x, y)
SETTINGS non_replicated_deduplication_window = 10000,
         fsync_after_insert = 1,
         fsync_part_directory = 1;

DROP VIEW IF EXISTS heatmap_cells_mv;

TRUNCATE TABLE heatmap;

INSERT INTO heatmap (map_name, player_id, kind, x, y, count)
SELECT map_name, player_id, if(heat = 'kill', 'kills', 'deaths'), cell_x, cell_y, events FROM heatmap_cells;
