-- Background merges of raw_events rewrite every one of its ~110 columns: ~4 µs of CPU per row per
-- merge on this machine, as much as the insert itself. With the default merge_selector_base (5)
-- each row was rewritten ~4 times within the first 10M rows (merge threads 10.3 µs/row, against
-- 4.1 µs/row with 20: 100 inserts of 100k rows, `python -m bench.merges --base 5` vs `--base 20`). A higher base
-- merges wider sets of parts less often — lower write amplification for more, larger parts
-- (22 active parts after those 10M rows instead of 12, far below parts_to_delay_insert).
-- The aggregate tables are small and keep the default.
ALTER TABLE raw_events MODIFY SETTING merge_selector_base = 20;
