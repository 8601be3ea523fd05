"""`POST /api/v1/ingest/events`: the game servers' door."""

from __future__ import annotations

from collections import Counter

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.errors import ApiError
from ingest.decode import SUPPORTED_TYPES, BodyError, decode_events, decompress, media_type

_encode = msgspec.json.encode
IDEMPOTENCY_TTL_S = 86_400


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json", headers=headers)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, "body_too_large", f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, "body_too_large", f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def ingest_events(request: Request) -> Response:
    """Take a batch of game events from a game server.

    Auth: `X-Server-Token: <token>` (or `Authorization: Bearer <token>`); every event is stored
    under that token's server, whatever the body says.

    Body (any of them optionally `Content-Encoding: gzip`):
    `application/json` (an array of event objects, or one object), `application/x-ndjson` (one
    object a line) or `application/x-www-form-urlencoded` (one event a line, `key=value&...`).
    Events follow the OpenMOHAA tracker format (`ingest/events.py`); numbers sent as strings are
    coerced; an unknown `type` with a valid envelope is stored with all its keys.

    Answers:
    - 202 `{"accepted": n, "rejected": m, "errors": [{"index", "field", "reason"}]}`: the n valid
      events are validated and queued (they will be stored: retried, else spooled, never dropped);
      the m invalid ones are listed by their index in the body;
    - 400 `{"error", "detail", "events": [...]}` when no event is valid (or the body is not
      JSON / is broken gzip);
    - 401 missing, unknown or revoked token;
    - 413 body (or its gzip expansion) over `FRAGSTATS_MAX_BODY_BYTES`;
    - 415 unsupported Content-Type or Content-Encoding;
    - 429 with `Retry-After` (s) when the queue cannot take all valid events of the request:
      then none of them is kept (load shedding); when the queue is 99% full the body is not even
      read;
    - 503 with `Retry-After` while the app drains before exiting;
    - with an `Idempotency-Key` header (any string up to 200 characters, e.g. the body's SHA-256; the
      log shipper sends one): a key seen in the last 24 h whose request was stored is answered with
      that 202 again (header `Idempotent-Replayed: true`) and nothing is stored twice; 409 while a
      request with the same key is still being handled.
    """
    state = request.app.state
    retry_after = {"Retry-After": str(state.settings.retry_after_s)}
    if state.draining:
        state.metrics.requests_shed.labels("503").inc()
        raise ApiError(503, "draining", "server is shutting down; retry shortly", retry_after)
    server_id = await state.auth.server_for(request)
    key = request.headers.get("idempotency-key")
    if not key:
        return await _ingest(request, server_id, retry_after)
    if len(key) > 200:
        return _json(400, {"error": "invalid_idempotency_key", "detail": "Idempotency-Key is longer than 200 characters",
                           "events": []})
    record = f"fragstats:idem:{server_id}:{key}"
    redis = state.engines.redis
    if not await redis.set(record, "pending", nx=True, ex=IDEMPOTENCY_TTL_S):
        earlier = await redis.get(record)
        if earlier == "pending":
            return _json(409, {"error": "duplicate_in_progress",
                               "detail": "a request with this Idempotency-Key is being handled", "events": []},
                         retry_after)
        return Response(earlier, status_code=202, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    response = None
    try:
        response = await _ingest(request, server_id, retry_after)
    finally:
        if response is not None and response.status_code == 202:
            await redis.set(record, response.body, ex=IDEMPOTENCY_TTL_S)
        else:  # not stored: a retry with the same key must be handled afresh
            await redis.delete(record)
    return response


async def _ingest(request: Request, server_id: int, retry_after: dict) -> Response:
    state = request.app.state
    metrics = state.metrics
    if state.pipeline.nearly_full():
        # Under overload, decoding bodies that cannot be queued would burn the CPU the batch
        # writers need: shed before reading the body.
        metrics.requests_shed.labels("429").inc()
        return _json(429, {"error": "overloaded", "detail": "ingest queue is full; nothing of this request was kept",
                           "events": []}, retry_after)
    mtype = media_type(request.headers.get("content-type"))
    try:
        if mtype not in SUPPORTED_TYPES:
            raise BodyError(415, "unsupported_media_type",
                            f"Content-Type {mtype or '(none)'!r} is not supported; use one of {sorted(SUPPORTED_TYPES)}")
        limit = state.settings.max_body_bytes
        body = await _read_limited(request, limit)
        body = decompress(body, request.headers.get("content-encoding"), limit)
        n_items, verdicts = decode_events(body, mtype, server_id)
    except BodyError as exc:
        metrics.events_rejected.labels(exc.code).inc()
        return _json(exc.status, {"error": exc.code, "detail": exc.detail, "events": []})
    metrics.events_received.inc(n_items)
    if verdicts.rejected:
        for reason, n in Counter(r.reason_code for r in verdicts.rejected).items():
            metrics.events_rejected.labels(reason).inc(n)
    errors = [r.to_json() for r in verdicts.rejected]
    if not verdicts.accepted:
        detail = "body holds no events" if not n_items else "no valid event in the body"
        return _json(400, {"error": "no_valid_events", "detail": detail, "events": errors})
    if not await state.pipeline.admit(verdicts.accepted):
        if state.draining:  # the queue closed while this request was being read
            metrics.requests_shed.labels("503").inc()
            raise ApiError(503, "draining", "server is shutting down; retry shortly", retry_after)
        metrics.events_shed.inc(len(verdicts.accepted))
        metrics.requests_shed.labels("429").inc()
        return _json(429, {"error": "overloaded", "detail": "ingest queue is full; nothing of this request was kept",
                           "events": []}, retry_after)
    metrics.events_accepted.inc(len(verdicts.accepted))
    return _json(202, {"accepted": len(verdicts.accepted), "rejected": len(errors), "errors": errors})


async def ingest_status(request: Request) -> Response:
    """`GET /api/v1/ingest/status` (admin): where every acknowledged event is, for reconciliation.

    `{"accepted": events answered 202 since start, "committed": inserted since start (incl. spool
    replays), "queued": waiting in the queue, "in_flight": being inserted, "spooled": on disk awaiting
    replay, "stored": rows in raw_events (all time), "draining": bool}`. On a fresh data dir, with no
    insert under way, accepted = stored + queued + in_flight + spooled.
    """
    state = request.app.state
    state.auth.require_admin(request)
    pipeline = state.pipeline
    stored = await state.engines.query("SELECT count() FROM raw_events")
    return _json(200, {"accepted": pipeline.accepted, "committed": pipeline.committed,
                       "queued": pipeline.queue.size, "in_flight": pipeline.in_flight,
                       "spooled": pipeline.spool.pending_events(), "stored": stored[0][0],
                       "draining": bool(state.draining)})


routes = [
    Route("/api/v1/ingest/events", ingest_events, methods=["POST"]),
    Route("/api/v1/ingest/status", ingest_status, methods=["GET"]),
]
