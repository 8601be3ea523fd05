"""RFC 8628, the OAuth 2.0 device authorization grant: signing in a game (or any device without a
browser) through a person's browser.

1. The device posts `POST /api/v1/auth/device/init` and gets a `device_code` (256 bits, kept secret
   by the device), a `user_code` (`identity.codes`: 8 symbols, 40 bits), the `verification_uri`
   (`<site>/device`), `expires_in` (`FRAGSTATS_CODE_TTL_S`, 600 s) and `interval`
   (`FRAGSTATS_DEVICE_POLL_INTERVAL_S`).
2. The person opens the page, signs in, types the user code and approves (or denies).
3. The device polls `POST /api/v1/auth/device/poll` no faster than `interval` and gets, per §3.5,
   400 `authorization_pending`, `slow_down` (it polled too fast: its interval grows by 5 s for good),
   `expired_token`, `access_denied`, or 200 with the tokens (`identity.sessions`), once: the grant is
   then used up and a further poll is 400 `invalid_grant`, as is an unknown device code.

`poll_outcome` is the pure decision; `poll` does the one locked read and write around it.
"""

from __future__ import annotations

import datetime as dt
import secrets

from fragstats.auth import token_hash
from fragstats.errors import ApiError
from identity.codes import code_hash, new_code, normalize, pretty

SLOW_DOWN_STEP_S = 5  # RFC 8628 §3.5


def poll_outcome(status: str, expires_at: dt.datetime, last_poll_at: dt.datetime | None, interval_s: int,
                 now: dt.datetime) -> tuple[str, int]:
    """(outcome, interval to keep) of one poll of a grant in `status`. Outcome: `granted`,
    `authorization_pending`, `slow_down`, `expired_token`, `access_denied` or `invalid_grant` (used)."""
    if status == "used":
        return "invalid_grant", interval_s
    if now >= expires_at:
        return "expired_token", interval_s
    if status == "denied":
        return "access_denied", interval_s
    if status == "approved":
        return "granted", interval_s
    if last_poll_at is not None and (now - last_poll_at).total_seconds() < interval_s:
        return "slow_down", interval_s + SLOW_DOWN_STEP_S
    return "authorization_pending", interval_s


async def start(ident, client: str, verification_uri: str) -> dict:
    """A new grant: `{"device_code", "user_code", "verification_uri", "verification_uri_complete",
    "expires_in" (s), "interval" (s)}`."""
    device_code = secrets.token_urlsafe(32)
    user_code = new_code()
    ttl, interval = ident.settings.code_ttl_s, ident.settings.device_poll_interval_s
    await ident.pool.execute("DELETE FROM device_grants WHERE expires_at < now() - interval '1 day'")
    await ident.pool.execute(
        "INSERT INTO device_grants (device_code_hash, user_code_hash, client, interval_s, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)", token_hash(device_code), code_hash(ident.secret, user_code), client[:200],
        interval, dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=ttl))
    shown = pretty(user_code)
    return {"device_code": device_code, "user_code": shown, "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={shown}", "expires_in": ttl,
            "interval": interval}


async def poll(ident, device_code: str, limit_key: str) -> dict:
    """One poll: the tokens (`identity.sessions.Sessions.issue_tokens`) once approved; else raises
    ApiError 400 with the RFC 8628 error code, or 429 when `limit_key` sent too many unknown device
    codes (then the code is not looked up)."""
    ident.guard.check(limit_key, "device_code")
    now = dt.datetime.now(dt.timezone.utc)
    async with ident.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, status, user_id, expires_at, last_poll_at, interval_s, client FROM device_grants"
            " WHERE device_code_hash = $1 FOR UPDATE", token_hash(device_code))
        if row is None:
            raise ident.guard.wrong(limit_key, "device_code", 400, "invalid_grant", "unknown device_code")
        outcome, interval = poll_outcome(row["status"], row["expires_at"], row["last_poll_at"], row["interval_s"], now)
        await conn.execute("UPDATE device_grants SET last_poll_at = $2, interval_s = $3,"
                           " status = CASE WHEN $4 THEN 'used' ELSE status END WHERE id = $1",
                           row["id"], now, interval, outcome == "granted")
        if outcome == "granted":
            return await ident.sessions.issue_tokens(row["user_id"], row["client"] or "device", conn)
    raise ApiError(400, outcome, {"authorization_pending": "the person has not approved yet",
                                  "slow_down": f"polling too fast; wait {interval} s between polls",
                                  "expired_token": "the device code expired; start again",
                                  "access_denied": "the person denied the request",
                                  "invalid_grant": "this device code was already used"}[outcome],
                   {"Retry-After": str(interval)} if outcome == "slow_down" else None)


async def decide(ident, user_id: int, typed_user_code: str, approve: bool, limit_key: str) -> dict:
    """The signed-in person approves (or denies) the grant of a user code: `{"status": "approved"|
    "denied", "client"}`. Raises ApiError 429 (too many wrong codes: not checked), 400 `invalid_code`
    (unknown, expired or already decided)."""
    ident.guard.check(limit_key, "user_code")
    code = normalize(typed_user_code)
    row = None
    if code is not None:
        row = await ident.pool.fetchrow(
            "UPDATE device_grants SET status = $3, user_id = $2 WHERE user_code_hash = $1 AND status = 'pending'"
            " AND expires_at > now() RETURNING client", code_hash(ident.secret, code), user_id,
            "approved" if approve else "denied")
    if row is None:
        raise ident.guard.wrong(limit_key, "user_code", 400, "invalid_code", "unknown, expired or already used code")
    return {"status": "approved" if approve else "denied", "client": row["client"]}
