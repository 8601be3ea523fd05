"""Webhooks: an organiser registers a URL; every change of its tournament (each entry of the
append-only `tournament_audit`: match results and status changes, registrations, check-in,
launch, disputes) is POSTed to it, in order, signed, retried with backoff.

A delivery is one JSON object `{"id", "event", "tournament_id", "seq", "at", "actor", "match_id",
"participant_id", "before", "after"}` with headers
  * `X-Fragstats-Event`: `match.<action>`, `registration.<action>`, `participant.<action>` or
    `tournament.<action>` (action as in the audit log, e.g. `match.report_result`);
  * `X-Fragstats-Delivery`: the delivery id, the same on every retry and in the body, so a receiver
    de-duplicates on it (a UUID derived from the webhook id and the audit sequence number);
  * `X-Fragstats-Timestamp`: Unix seconds when this attempt was signed;
  * `X-Fragstats-Signature`: `sha256=` + hex HMAC-SHA256 with the webhook's secret over
    `<timestamp>.<raw body>` (the Stripe scheme: receivers check it and reject old timestamps).
A 2xx answer is a delivery; 408, 429, 5xx and network errors are retried with exponential backoff
(tenacity; `app.state.webhook_attempts`, default 5, `app.state.webhook_backoff_s`, default 1 s,
doubling, at most 60 s); other answers fail at once. After the last attempt the delivery is recorded
as `failed` and the next one goes out (at-least-once per entry, never stuck on one).

The dispatcher is an asyncio task started by ``kick(app)``, which every write route of the event
API and the telemetry hook call; it runs until no webhook has anything left, then ends. A
Postgres advisory lock per webhook keeps two app processes from sending the same entries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

log = logging.getLogger("fragstats.webhooks")
REGISTRATION_ACTIONS = frozenset({"register", "withdraw", "approve", "reject", "checkin", "readmit", "promote",
                                  "no_show"})
_LOCK = 7264


class DeliveryFailed(Exception):
    """A non-2xx answer; ``retry`` tells whether another attempt may help."""

    def __init__(self, status: int, retry: bool) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry = status, retry


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Fragstats-Signature` value: `sha256=<hex HMAC-SHA256(secret, b"<timestamp>." + body)>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def delivery_id(webhook_id: int, seq: int) -> str:
    """Stable id of the delivery of audit entry ``seq`` to webhook ``webhook_id``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fragstats:webhook:{webhook_id}:{seq}"))


def event_name(action: str, match_id: int | None, participant_id: int | None) -> str:
    """`match.x`, `registration.x`, `participant.x` or `tournament.x` for an audit entry."""
    if match_id is not None:
        return f"match.{action}"
    if action in REGISTRATION_ACTIONS:
        return f"registration.{action}"
    if participant_id is not None:
        return f"participant.{action}"
    return f"tournament.{action}"


async def register(pool, tournament_id: int, url: str, secret: str | None) -> dict:
    """A new webhook that receives the changes from now on; returns its row incl. the secret."""
    secret = secret or secrets.token_urlsafe(32)
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
        "SELECT seq, at, actor, action, match_id, participant_id, before, after FROM tournament_audit"
        " WHERE tournament_id = $1 AND seq > $2 ORDER BY seq LIMIT 200", hook["tournament_id"], last or 0)
    for r in rows:
        did = delivery_id(hook["id"], r["seq"])
        event = event_name(r["action"], r["match_id"], r["participant_id"])
        body = json.dumps({"id": did, "event": event, "tournament_id": hook["tournament_id"], "seq": r["seq"],
                           "at": r["at"].isoformat(), "actor": r["actor"], "match_id": r["match_id"],
                           "participant_id": r["participant_id"],
                           "before": json.loads(r["before"]) if r["before"] is not None else None,
                           "after": json.loads(r["after"]) if r["after"] is not None else None},
                          separators=(",", ":")).encode()
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
                ts = int(time.time())
                resp = await client.post(url, content=body, headers={
                    "Content-Type": "application/json", "X-Fragstats-Event": event, "X-Fragstats-Delivery": did,
                    "X-Fragstats-Timestamp": str(ts), "X-Fragstats-Signature": sign(secret, ts, body),
                    "User-Agent": "fragstats-webhooks/1"})
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
