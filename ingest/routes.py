"""`POST /api/v1/ingest/events`: the game servers' door; the ingest status and dead-letter redrive.

The route reads a request within its limits and runs the admission steps (ingest/admission.py),
whose `Outcome` it maps to an HTTP answer in one place (`answer`).
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.bodies import BudgetExceeded, read_body
from fragstats.direct import DirectRoute
from fragstats.errors import ApiError
from fragstats.servers import broker_password_hash
from ingest.admission import ACCEPTED, Outcome, gate, refused, take
from ingest.decode import SUPPORTED_TYPES, BodyError, media_type
from ingest.inserter import short_reason
from ingest.mqtt import broker_files, parse_url
from ingest.pipeline import Admission

log = logging.getLogger("fragstats.ingest")

_encode = msgspec.json.encode
IDEMPOTENCY_TTL_S = 86_400
IDEMPOTENCY_PENDING_S = 60


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json", headers=headers)


def answer(state, outcome: Outcome) -> Response:
    """The one place an ingest outcome (ingest/admission.py) becomes an HTTP answer: 202 with the
    counts and the rejected events, or the outcome's status with `{"error", "detail", "events"}`;
    `Retry-After` on 429, 503 and 507, which are also counted as shed requests by status."""
    if outcome.kind == ACCEPTED:
        return _json(202, {"accepted": outcome.accepted, "rejected": len(outcome.errors), "errors": outcome.errors})
    headers = None
    if outcome.status in (429, 503, 507):
        state.metrics.requests_shed.labels(str(outcome.status)).inc()
        headers = {"Retry-After": str(state.settings.retry_after_s)}
    return _json(outcome.status, {"error": outcome.kind, "detail": outcome.detail, "events": outcome.errors}, headers)


async def ingest_events(request: Request) -> Response:
    """Take a batch of game events from a game server.

    Auth: `X-Server-Token: <token>` (or `Authorization: Bearer <token>`); every event is stored
    under that token's server, whatever the body says.

    Body (any of them optionally `Content-Encoding: gzip`):
    `application/json` (an array of event objects, or one object), `application/x-ndjson` (one
    object a line) or `application/x-www-form-urlencoded` (one event a line, `key=value&...`).
    Events follow the OpenMOHAA tracker format (`ingest/events.py`); numbers sent as strings are
    coerced, and each number must fit its column's type (e.g. UInt64 >= 0, Int32, finite floats);
    an unknown `type` with a valid envelope is stored with all its keys. Limits (bytes): the body
    `FRAGSTATS_MAX_BODY_BYTES` (after gzip), one event's JSON text `FRAGSTATS_MAX_EVENT_BYTES`.

    Answers:
    - 202 `{"accepted": n, "rejected": m, "errors": [{"index", "field", "reason"}]}`: the n valid
      events are stored durably before this answer (`FRAGSTATS_DURABILITY=wal`: written and
      fsynced to the write-ahead log; `memory`: queued) and will reach ClickHouse — retried, else
      spooled, and any ClickHouse refuses kept in the dead-letter store, never dropped; the m
      invalid ones are listed by their index in the body;
    - 400 `{"error", "detail", "events": [...]}` when no event is valid (or the body is not
      JSON / is broken gzip);
    - 401 missing, unknown or revoked token;
    - 413 body (or its gzip expansion) over `FRAGSTATS_MAX_BODY_BYTES`;
    - 415 unsupported Content-Type or Content-Encoding;
    - 429 with `Retry-After` (s) when the queue (events or bytes) cannot take all valid events of
      the request, or the bodies being read pass `FRAGSTATS_MAX_READING_BYTES`: then none of them
      is kept (load shedding); when the queue is 99% full the body is not even read;
    - 503 with `Retry-After` while the app drains before exiting;
    - 507 with `Retry-After` while the data dir's disk is (nearly) full or the write-ahead log
      cannot be written: nothing kept; ingest resumes by itself once space is back;
    - with an `Idempotency-Key` header (any string up to 200 characters, e.g. the body's SHA-256; the
      log shipper sends one): a key seen in the last 24 h whose request was stored is answered with
      that 202 again (header `Idempotent-Replayed: true`) and nothing is stored twice; 409 while a
      request with the same key is still being handled (at most `IDEMPOTENCY_PENDING_S` s after a
      crash); 503 when the key store (Redis) cannot be reached.
    """
    state = request.app.state
    retry_after = {"Retry-After": str(state.settings.retry_after_s)}
    if state.draining:
        return answer(state, refused(Admission.DRAINING, state.pipeline))
    server_id = await state.auth.server_for(request)
    key = request.headers.get("idempotency-key")
    if not key:
        return answer(state, await _ingest(request, server_id))
    if len(key) > 200:
        return _json(400, {"error": "invalid_idempotency_key", "detail": "Idempotency-Key is longer than 200 characters",
                           "events": []})
    record = f"fragstats:idem:{server_id}:{key}"
    redis = state.engines.redis
    try:
        # "pending" expires soon: a request cut by a crash must not block its retries for a day.
        fresh = await redis.set(record, "pending", nx=True, ex=IDEMPOTENCY_PENDING_S)
        earlier = None if fresh else await redis.get(record)
    except RedisError as exc:
        raise ApiError(503, "idempotency_unavailable", f"the Idempotency-Key store cannot be reached: {exc}",
                       retry_after) from None
    if not fresh:
        if earlier == "pending":
            return _json(409, {"error": "duplicate_in_progress",
                               "detail": "a request with this Idempotency-Key is being handled", "events": []},
                         retry_after)
        if earlier is not None:
            return Response(earlier, status_code=202, media_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    response = None
    try:
        response = answer(state, await _ingest(request, server_id))
    finally:
        try:
            if response is not None and response.status_code == 202:
                await redis.set(record, response.body, ex=IDEMPOTENCY_TTL_S)
            else:  # not stored: a retry with the same key must be handled afresh
                await redis.delete(record)
        except RedisError:  # the events are stored; a retry may store them again (logged)
            log.warning("could not record Idempotency-Key %r of server %d", key[:40], server_id, exc_info=True)
    return response


async def _ingest(request: Request, server_id: int) -> Outcome:
    """The admission steps for one HTTP request: gate, read (within the limits), take."""
    state = request.app.state
    pipeline = state.pipeline
    early = gate(pipeline)
    if early is not None:
        return early
    mtype = media_type(request.headers.get("content-type"))
    held = [0]  # bytes of the reading budget this request holds
    try:
        if mtype not in SUPPORTED_TYPES:
            raise BodyError(415, "unsupported_media_type",
                            f"Content-Type {mtype or '(none)'!r} is not supported; use one of {sorted(SUPPORTED_TYPES)}")
        raw = await read_body(request, state.settings.max_body_bytes, pipeline.reading, held)
        return await take(pipeline, server_id, raw, mtype, request.headers.get("content-encoding"), held)
    except BodyError as exc:
        state.metrics.events_rejected.labels(exc.code).inc()
        return Outcome(exc.code, exc.status, exc.detail)
    except ApiError as exc:  # 413 from reading the body
        state.metrics.events_rejected.labels(exc.code).inc()
        return Outcome(exc.code, exc.status_code, str(exc.detail))
    except BudgetExceeded:
        return refused(Admission.SHED, pipeline)
    finally:
        pipeline.reading.give(held[0])


async def ingest_status(request: Request) -> Response:
    """`GET /api/v1/ingest/status` (admin): where every acknowledged event is, for reconciliation.

    `{"accepted": events answered 202 since start, "recovered": events found in the write-ahead
    log at start (acknowledged before it, not yet stored), "committed": inserted since start (incl.
    spool replays, isolations, redrives), "queued": waiting in the queue, "in_flight": being
    inserted, "spooled": on disk awaiting replay, "dead_lettered": refused by ClickHouse, in the
    dead-letter store, "stored": rows in raw_events (all time), "durability": "wal"|"memory",
    "wal_bytes": size of the log, "disk_full": bool, "disk_reason": why (or ""), "draining": bool,
    "dead_letter_recent": the newest refused rows `[{"file", "failed_at", "error", "row"}]` (≤ 20)}`.
    On a fresh data dir, with no insert under way:
    accepted + recovered = stored + queued + in_flight + spooled + dead_lettered.
    """
    state = request.app.state
    state.auth.require_admin(request)
    pipeline = state.pipeline
    stored = await state.engines.query("SELECT count() FROM raw_events")
    return _json(200, {"accepted": pipeline.accepted, "recovered": pipeline.recovered, "committed": pipeline.committed,
                       "queued": pipeline.queue.queued, "in_flight": pipeline.in_flight,
                       "spooled": pipeline.spool.pending_events(), "dead_lettered": pipeline.dead_letters.events,
                       "stored": stored[0][0], "durability": state.settings.durability,
                       "wal_bytes": pipeline.wal.bytes_on_disk if pipeline.wal is not None else 0,
                       "disk_full": pipeline.disk.full, "disk_reason": pipeline.disk.reason,
                       "draining": bool(state.draining),
                       "dead_letter_recent": await asyncio.to_thread(pipeline.dead_letters.recent, 20)})


async def redrive_dead_letters(request: Request) -> Response:
    """`POST /api/v1/ingest/dead-letter/redrive` (admin): insert the dead-lettered events again,
    e.g. after a migration that fixes what ClickHouse refused. 200 `{"redriven": events stored,
    "still_refused": events still in the store (with their new error)}`; 503 with `Retry-After`
    when ClickHouse is unwell (nothing is lost: the store is left as it was)."""
    state = request.app.state
    state.auth.require_admin(request)
    try:
        result = await state.pipeline.redrive()
    except Exception as exc:  # the engine is unwell; the dead letters stay where they are
        raise ApiError(503, "clickhouse_unavailable", f"redrive failed, nothing changed: {short_reason(exc)}",
                       {"Retry-After": str(state.settings.retry_after_s)}) from None
    return _json(200, result)


async def mqtt_broker_files(request: Request) -> Response:
    """`GET /api/v1/ingest/mqtt/broker-files` (admin): mosquitto's password and ACL files for MQTT
    ingest, `{"password_file", "acl_file"}` (see `ingest/mqtt.py`): each active game server publishes
    as `server-<id>` with its token, to `openmohaa/events/<id>` only; the user of `FRAGSTATS_MQTT_URL`
    reads them all. Servers made before MQTT support appear once their token is rotated
    (`POST /api/v1/servers/{id}/token`)."""
    state = request.app.state
    state.auth.require_admin(request)
    subscriber = parse_url(state.settings.mqtt_url) if state.settings.mqtt_url else {}
    secret = subscriber.get("password")
    return _json(200, await broker_files(state.engines.pg, subscriber.get("username"),
                                         broker_password_hash(secret) if secret else None))


# The game servers' door is answered below Starlette's routing and middleware (fragstats/direct.py:
# the same handler and answers, less work per request); its Route stays for the OpenAPI document
# and the 405 of other methods.
direct = [DirectRoute("POST", "/api/v1/ingest/events", ingest_events)]

routes = [
    Route("/api/v1/ingest/events", ingest_events, methods=["POST"]),
    Route("/api/v1/ingest/mqtt/broker-files", mqtt_broker_files, methods=["GET"]),
    Route("/api/v1/ingest/status", ingest_status, methods=["GET"]),
    Route("/api/v1/ingest/dead-letter/redrive", redrive_dead_letters, methods=["POST"]),
]
