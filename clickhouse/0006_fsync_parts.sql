-- A batch is deleted from the write-ahead log once ClickHouse has committed it, so the committed
-- part must survive a power cut too: by default ClickHouse writes parts without fsync and a
-- machine crash can lose the last seconds of inserts after we dropped our copy. One fsync of the
-- part (and of its directory) per batch and per view target: I/O wait in the writer's thread,
-- about one batch a second, not CPU of the event loop (bench: `wal_cost` includes it).
ALTER TABLE raw_events MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE player_daily MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE player_weapon MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE player_map MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE heatmap_cells MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE server_hourly MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE matches MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE player_match MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
