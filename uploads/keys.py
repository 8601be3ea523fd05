"""Who uploads, and how much they may: API keys with the `upload` / `read` / `admin` scopes, a rate
limit per key and a daily quota per key.

- Authentication is the kernel's (`fragstats.auth`): `X-API-Key: <key>` (the damage meter's header)
  or `Authorization: Bearer <key>`; the admin token passes everything and has no limits.
- Rate: `rate_per_minute` upload requests per key in any 60 s (a moving window kept in Redis by the
  `limits` library, so every app process shares it); over it: 429 with `Retry-After` = seconds until
  the oldest request of the window leaves it.
- Quota: bytes and documents per key per UTC day, counted in Postgres (`upload_usage`) by one
  conditional upsert, so concurrent uploads cannot pass it together; over it: 429 with `Retry-After`
  = seconds until midnight UTC. What counts: every body read (bytes, after gzip) and every document
  taken (a report, each encounter of a meter batch, a snapshot, a chunked upload at commit). A
  chunk's bytes count when it is received, and stay counted for that day when its upload expires or
  is aborted: the quota bounds what a key sends per day, not what it holds (what an ended upload held
  is deleted, `uploads.expiry`); giving bytes back would let a key send without end by aborting.
- A key's own limits (columns of `api_keys`, set by `POST /api/v1/keys`) override the defaults
  `FRAGSTATS_UPLOAD_RATE_PER_MINUTE`, `FRAGSTATS_UPLOAD_DAILY_BYTES`, `FRAGSTATS_UPLOAD_DAILY_UPLOADS`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from fragstats.errors import ApiError
from fragstats.settings import Settings


@dataclass(frozen=True)
class Uploader:
    """An authenticated uploader: `label` is `admin` or `key:<id>` (stored with each upload)."""

    label: str
    key_id: int | None
    admin: bool
    rate_per_minute: int
    daily_bytes: int
    daily_uploads: int


def seconds_to_midnight(now: dt.datetime | None = None) -> int:
    """Whole seconds until the next UTC midnight (at least 1): when a daily quota starts again."""
    now = now or dt.datetime.now(dt.timezone.utc)
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


class Limits:
    """Rate limit (Redis) and daily quota (Postgres) of uploaders."""

    def __init__(self, settings: Settings, pg, redis):
        self.settings = settings
        self.pg = pg
        # The app's own Redis connections (embedded or configured) through the limits library: the URL
        # is a placeholder the library requires, the pool is what it uses.
        storage = RedisStorage("async+redis://localhost:6379", implementation="redispy",
                               connection_pool=redis.connection_pool, key_prefix="fragstats_upload_rate")
        self.limiter = MovingWindowRateLimiter(storage)

    async def authenticate(self, request: Request, scope: str) -> Uploader:
        """The caller, holding `scope` (or the `admin` scope), with its limits. Raises ApiError 401/403
        (and 429 after too many failed attempts from one address: the kernel's)."""
        principal = await request.app.state.auth.require_scope(request, scope, "admin")
        s = self.settings
        if principal.is_admin:
            return Uploader("admin", None, True, 0, 0, 0)
        row = await self.pg.fetchrow(
            "SELECT rate_per_minute, daily_bytes, daily_uploads FROM api_keys WHERE id = $1", principal.key_id)
        return Uploader(f"key:{principal.key_id}", principal.key_id, "admin" in principal.scopes,
                        row["rate_per_minute"] or s.upload_rate_per_minute, row["daily_bytes"] or s.upload_daily_bytes,
                        row["daily_uploads"] or s.upload_daily_uploads)

    async def hit(self, who: Uploader) -> None:
        """Count one request against the key's rate; raises ApiError 429 `rate_limited` with
        `Retry-After` when the key has used its requests of the last minute."""
        if who.key_id is None:
            return
        item = RateLimitItemPerMinute(who.rate_per_minute)
        if await self.limiter.hit(item, who.label):
            return
        stats = await self.limiter.get_window_stats(item, who.label)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(429, "rate_limited", f"this key may make {who.rate_per_minute} upload requests a minute",
                       {"Retry-After": str(wait)})

    async def charge(self, who: Uploader, nbytes: int, documents: int) -> None:
        """Add `nbytes` and `documents` to the key's use of today (UTC), or raise ApiError 429
        `quota_exceeded` with `Retry-After` (until midnight UTC) and count nothing."""
        if who.key_id is None:
            return
        refused = ApiError(429, "quota_exceeded",
                           f"this key's daily quota is {who.daily_bytes} bytes and {who.daily_uploads} documents (UTC day)",
                           {"Retry-After": str(seconds_to_midnight())})
        if nbytes > who.daily_bytes or documents > who.daily_uploads:
            raise refused
        row = await self.pg.fetchrow(
            "INSERT INTO upload_usage AS u (uploader, day, bytes, uploads) VALUES ($1, (now() AT TIME ZONE 'UTC')::date, $2, $3)"
            " ON CONFLICT (uploader, day) DO UPDATE SET bytes = u.bytes + EXCLUDED.bytes, uploads = u.uploads + EXCLUDED.uploads"
            " WHERE u.bytes + EXCLUDED.bytes <= $4 AND u.uploads + EXCLUDED.uploads <= $5 RETURNING bytes",
            who.label, nbytes, documents, who.daily_bytes, who.daily_uploads)
        if row is None:
            raise refused

    async def usage(self, who: Uploader) -> dict:
        """Today's use: `{"day", "bytes", "uploads", "daily_bytes", "daily_uploads", "rate_per_minute"}`."""
        row = await self.pg.fetchrow(
            "SELECT day, bytes, uploads FROM upload_usage WHERE uploader = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
            who.label)
        return {"day": dt.datetime.now(dt.timezone.utc).date().isoformat(), "bytes": row["bytes"] if row else 0,
                "uploads": row["uploads"] if row else 0, "daily_bytes": who.daily_bytes or None,
                "daily_uploads": who.daily_uploads or None, "rate_per_minute": who.rate_per_minute or None}
