-- Urban Terror's capture-the-flag events and team scores (ingest/events.py: flag_capture,
-- flag_return, flag_drop; match_end red_score/blue_score; partial on matches the importer saw
-- only part of). Columns added in place: existing parts read their defaults.
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS flag String AFTER old_name;
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS red_score Int32 AFTER flag;
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS blue_score Int32 AFTER red_score;
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS partial Bool AFTER blue_score;
