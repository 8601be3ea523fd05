"""Uploads: whole documents handed over by their producers, stored immutably, parsed by a worker.

- Encounter reports of damage meters: our own protocol (`POST /api/v1/encounters`, checksummed with
  RFC 8785 JCS), chunked resumable uploads for large ones (expired with their chunks when abandoned,
  `uploads.expiry`), and the resonance-logs meter's own protocol
  (`POST /api/v1/upload/`, `/upload/check`), deduplicated, parsed into ClickHouse (fights, parses,
  skills, hit timelines) and served as reports and leaderboards with percentiles.
- Realm snapshots of strategy games (CSV, JSON, Excel workbooks of kingdom scanners): normalised,
  scored, stored per realm and date; leaderboards, diffs and Parquet exports.

Raw documents live in a content-addressed object store (`uploads.objects`); Postgres records who sent
what and how far its parse got; a job runner (`uploads.jobs`) parses in worker threads, never on the
event loop. This package stands on the kernel (`fragstats`) and imports no other feature package.
"""
