"""Webhooks: an organiser registers a URL; every change of its tournament (each entry of the
append-only `tournament_audit`: match results and status changes, registrations, check-in, the start,
disputes) is POSTed to it, in order, signed, retried with backoff.

A delivery is one event of the public catalogue (`tournaments.catalogue`: `{"type", "version",
"timestamp", "data"}`, e.g. `match.completed`), signed as Standard Webhooks (standardwebhooks.com)
so that a receiver checks it with an off-the-shelf library (`standardwebhooks.Webhook(secret).verify`):
  * `webhook-id`: the delivery id, the same on every retry, so a receiver de-duplicates on it (a
    UUID derived from the webhook id and the audit sequence number);
  * `webhook-timestamp`: Unix seconds when this attempt was signed (receivers refuse old ones);
  * `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` with the webhook's
    secret, `whsec_<base64 key>` (generated, or given in that form when registering). A secret of an
    older webhook that is not in that form is used as the raw key.
For receivers of Tournaments II the old headers still come, deprecated: `X-Fragstats-Event` (the
type), `X-Fragstats-Delivery`, `X-Fragstats-Timestamp` and `X-Fragstats-Signature` (`sha256=` + hex
HMAC-SHA256 with the secret string over `<timestamp>.<body>`).

A 2xx answer is a delivery; 408, 429, 5xx and network errors are retried with exponential backoff
(tenacity; `app.state.webhook_attempts`, default 5, `app.state.webhook_backoff_s`, default 1 s,
doubling, at most 60 s); other answers fail at once. After the last attempt the delivery is recorded
as `failed` and the next one goes out (at-least-once per entry, never stuck on one).

The dispatcher is an asyncio task started by ``kick(app)``, which the store calls once after every
committed change (`tournaments.store.of`); it runs until no webhook has anything left, then ends. A
Postgres advisory lock per webhook keeps two app processes from sending the same entries.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import uuid

import httpx
from standardwebhooks.webhooks import Webhook
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from . import catalogue
from .errors import InvalidSettings

log = logging.getLogger("fragstats.webhooks")
_LOCK = 7264
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)
"""Length of a webhook key in bytes (Standard Webhooks: 24..64 random bytes)."""


class DeliveryFailed(Exception):
    """A non-2xx answer; ``retry`` tells whether another attempt may help."""

    def __init__(self, status: int, retry: bool) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry = status, retry


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The deprecated `X-Fragstats-Signature` value: `sha256=<hex HMAC-SHA256(secret, b"<timestamp>." + body)>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def delivery_id(webhook_id: int, seq: int) -> str:
    """Stable id of the delivery of audit entry ``seq`` to webhook ``webhook_id``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fragstats:webhook:{webhook_id}:{seq}"))


def new_secret() -> str:
    """A new secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> None:
    """Raises ``InvalidSettings`` (422) unless ``secret`` is `whsec_<base64 of 24..64 bytes>`."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]:
        raise InvalidSettings(f"secret must be {SECRET_PREFIX}<base64 of {SECRET_BYTES[0]}..{SECRET_BYTES[1]}"
                              " random bytes> (Standard Webhooks), or left out to get one")


def signer(secret: str) -> Webhook:
    """The Standard Webhooks signer of a webhook's secret (an older secret not in the `whsec_` form
    is the raw key)."""
    return Webhook(secret) if secret.startswith(SECRET_PREFIX) else Webhook(secret.encode())


def payload(tournament_id: int, seq: int, at: dt.datetime, actor: str, action: str, forced: bool,
            match_id: int | None, participant_id: int | None, before, after) -> tuple[str, bytes]:
    """(event type, JSON body) of one audit entry as a catalogue event (`tournaments.catalogue`)."""
    kind = catalogue.event_type(action, match_id, participant_id, before, after)
    body = {"type": kind, "version": catalogue.VERSION,
            "timestamp": at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "data": {"tournament_id": tournament_id, "seq": seq, "at": at.isoformat(), "actor": actor,
                     "action": action, "forced": forced, "match_id": match_id, "participant_id": participant_id,
                     "before": before, "after": after}}
    return kind, json.dumps(body, separators=(",", ":")).encode()


async def register(pool, tournament_id: int, url: str, secret: str | None) -> dict:
    """A new webhook that receives the changes from now on; returns its row incl. the secret
    (``new_secret`` when none is given; a given one must pass ``check_secret``)."""
    if secret is None:
        secret = new_secret()
    check_secret(secret)
    row = await pool.fetchrow(
        "INSERT INTO tournament_webhooks (tournament_id, url, secret, last_seq, created_at)"
        " VALUES ($1, $2, $3, (SELECT coalesce(max(seq), 0) FROM tournament_audit WHERE tournament_id = $1), $4)"
        " RETURNING id, tournament_id, url, secret, last_seq, created_at",
        tournament_id, url, secret, dt.datetime.now(dt.timezone.utc))
    return dict(row)


def kick(app) -> None:
    """Make sure the dispatcher runs and looks again (cheap; call after every change)."""
    state = app.state
    if not hasattr(state, "webhook_wakeup"):
        state.webhook_wakeup = asyncio.Event()
        state.webhook_task = None
    state.webhook_wakeup.set()
    task = state.webhook_task
    if task is None or task.done():
        state.webhook_task = asyncio.get_running_loop().create_task(_dispatch(app), name="webhook-dispatcher")


async def wait_idle(app, timeout: float = 30.0) -> None:
    """Wait until the dispatcher has nothing left to send (for tests and shutdown)."""
    task = getattr(app.state, "webhook_task", None)
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), timeout)


async def _dispatch(app) -> None:
    wake: asyncio.Event = app.state.webhook_wakeup
    while True:
        wake.clear()
        try:
            sent = await _round(app)
        except Exception:
            log.exception("webhook dispatch failed")
            return
        if not sent and not wake.is_set():
            return


async def _round(app) -> int:
    """One pass over every webhook with pending entries; returns how many deliveries were made."""
    pool = app.state.engines.pg
    hooks = await pool.fetch(
        "SELECT w.id, w.tournament_id, w.url, w.secret, w.last_seq FROM tournament_webhooks w"
        " WHERE EXISTS (SELECT 1 FROM tournament_audit a WHERE a.tournament_id = w.tournament_id"
        " AND a.seq > w.last_seq) ORDER BY w.id")
    done = 0
    async with httpx.AsyncClient(timeout=getattr(app.state, "webhook_timeout_s", 10.0)) as client:
        for hook in hooks:
            async with pool.acquire() as conn:
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", _LOCK, hook["id"]):
                    continue
                try:
                    done += await _drain_one(app, conn, client, hook)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1, $2)", _LOCK, hook["id"])
    return done


async def _drain_one(app, conn, client: httpx.AsyncClient, hook) -> int:
    last = await conn.fetchval("SELECT last_seq FROM tournament_webhooks WHERE id = $1", hook["id"])
    rows = await conn.fetch(
        "SELECT seq, at, actor, action, match_id, participant_id, before, after, forced FROM tournament_audit"
        " WHERE tournament_id = $1 AND seq > $2 ORDER BY seq LIMIT 200", hook["tournament_id"], last or 0)
    for r in rows:
        did = delivery_id(hook["id"], r["seq"])
        event, body = payload(hook["tournament_id"], r["seq"], r["at"], r["actor"], r["action"], r["forced"],
                              r["match_id"], r["participant_id"],
                              json.loads(r["before"]) if r["before"] is not None else None,
                              json.loads(r["after"]) if r["after"] is not None else None)
        status, attempts, error = await deliver(app, client, hook["url"], hook["secret"], did, event, body)
        await conn.execute(
            "INSERT INTO tournament_webhook_deliveries (id, webhook_id, seq, event, status, attempts, response_status,"
            " error, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET"
            " status = EXCLUDED.status, attempts = tournament_webhook_deliveries.attempts + EXCLUDED.attempts,"
            " response_status = EXCLUDED.response_status, error = EXCLUDED.error, at = EXCLUDED.at",
            did, hook["id"], r["seq"], event, "delivered" if error is None else "failed", attempts, status, error,
            dt.datetime.now(dt.timezone.utc))
        await conn.execute("UPDATE tournament_webhooks SET last_seq = $2 WHERE id = $1", hook["id"], r["seq"])
    return len(rows)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) or (isinstance(exc, DeliveryFailed) and exc.retry)


async def deliver(app, client: httpx.AsyncClient, url: str, secret: str, did: str, event: str,
                  body: bytes) -> tuple[int | None, int, str | None]:
    """POST one delivery with retries; returns (last HTTP status or None, attempts, error or None)."""
    attempts, status = 0, None
    retrying = AsyncRetrying(
        stop=stop_after_attempt(getattr(app.state, "webhook_attempts", 5)),
        wait=wait_exponential(multiplier=getattr(app.state, "webhook_backoff_s", 1.0), max=60),
        retry=retry_if_exception(_retryable), reraise=True)
    try:
        async for attempt in retrying:
            with attempt:
                attempts += 1
                when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
                ts = int(when.timestamp())
                resp = await client.post(url, content=body, headers={
                    "Content-Type": "application/json", "User-Agent": "fragstats-webhooks/1",
                    "webhook-id": did, "webhook-timestamp": str(ts),
                    "webhook-signature": signer(secret).sign(did, when, body.decode()),
                    # Tournaments II's headers, deprecated
                    "X-Fragstats-Event": event, "X-Fragstats-Delivery": did, "X-Fragstats-Timestamp": str(ts),
                    "X-Fragstats-Signature": sign(secret, ts, body)})
                status = resp.status_code
                if not 200 <= status < 300:
                    raise DeliveryFailed(status, status in (408, 429) or status >= 500)
    except (DeliveryFailed, httpx.HTTPError) as exc:
        return status, attempts, str(exc)[:500] or type(exc).__name__
    return status, attempts, None


async def deliveries(pool, webhook_id: int, limit: int = 100) -> list[dict]:
    """The last deliveries of a webhook, newest first."""
    rows = await pool.fetch("SELECT id, seq, event, status, attempts, response_status, error, at"
                            " FROM tournament_webhook_deliveries WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2",
                            webhook_id, limit)
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]
