-- What 0008-0010 replaced: the wide raw_events (now named raw_events_next, its rows copied into
-- the narrow one) and heatmap_cells (copied into heatmap by 0009).
DROP TABLE IF EXISTS raw_events_next;
DROP TABLE IF EXISTS heatmap_cells;
