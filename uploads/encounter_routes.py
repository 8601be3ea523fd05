"""JSON routes of encounter reports: our protocol and the damage meter's, chunked uploads, the job list
and accounting, report queries and leaderboards.

Who may call: uploads need an API key with the `upload` scope (`X-API-Key` or `Authorization:
Bearer`); the job list and raw documents the `read` scope; reprocess and delete the `admin` scope;
the admin token passes everywhere. Reading reports and leaderboards is public, like every stat.
Upload answers carry `X-API-Version: 1`; a request naming another version is refused (400).
"""

from __future__ import annotations

import datetime as dt
import math

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.errors import ApiError
from fragstats.bodies import body_of
from fragstats.params import MAX_OFFSET, decimal_digits, int_param
from uploads import queries, store
from uploads.admission import admit_meter_batch, admit_report
from uploads.bodies import BodyProblem, convert, decode_json, problem, read_upload
from uploads.chunked import NewUpload, expiry_headers
from uploads.http import (
    base_url,
    choice,
    json_response,
    text_param,
    upload_route,
    uploader,
)
from uploads.meter import MeterBatch, MeterCheck
from uploads.report import Encounter

# --- our protocol ------------------------------------------------------------------------------


@upload_route("encounter")
@body_of("application/json", Encounter)
async def create_encounter(request: Request) -> Response:
    """`POST /api/v1/encounters` (upload scope): one encounter report (JSON, gzip allowed; the format in
    `uploads/report.py`: camelCase members, hit timelines, an RFC 8785 checksum).

    Answers 201 `{"reportId", "reportUrl", "createdAt", "status": "queued", ...}` for a new report (its
    parse runs in the background: `status` becomes `ready`), 200 with the existing report when the same
    key sent this `encounterId` before or any key sent a body with this checksum. Refusals store
    nothing: 400 (not JSON, too deep, bad gzip), 413 over `FRAGSTATS_UPLOAD_MAX_BODY_BYTES`, 422
    `invalid_body` / `checksum_mismatch` with `events: [{"index", "field": "$.players[0].dps",
    "reason"}]`, 401/403 without a key holding `upload`, 429 + `Retry-After` over the key's rate or
    daily quota. Header `X-API-Version: 1`.
    """
    svc, who = await uploader(request)
    body = await read_upload(request)
    svc.metrics.payload.labels("encounter").observe(len(body))
    await svc.limits.charge(who, len(body), 1)
    admitted = await admit_report(svc, who.label, body)
    request.state.client_version = admitted.report["client_version"]
    request.state.created = admitted.created
    return json_response(store.report_json(admitted.report, base_url(request)), admitted.status)


# --- the damage meter's protocol -----------------------------------------------------------------


@upload_route("meter")
@body_of("application/json", MeterBatch)
async def meter_upload(request: Request) -> Response:
    """`POST /api/v1/upload/` (also without the slash; upload scope, `X-Api-Key`): the resonance-logs
    damage meter's batch `{"schemaVersion"?, "clientVersion"?, "encounters": [≤ 10]}`, in its own
    format (`uploads/meter.py`).

    Answers 200 `{"ingested": n, "ids": [report number of each encounter, in order]}`, as the meter
    expects; an encounter we hold already (same `sourceHash`, or the same fight uploaded by another
    player of the group: same scene, bosses and players within `FRAGSTATS_UPLOAD_DEDUP_WINDOW_MS`)
    answers the existing report's number and is not stored again. 422 naming the field
    (`$.encounters[2].actorEncounterStats[0].actorId`) stores nothing of the batch; 401/403/429 as
    for `POST /api/v1/encounters`.
    """
    svc, who = await uploader(request)
    body = await read_upload(request)
    svc.metrics.payload.labels("meter").observe(len(body))
    head = decode_json(body, svc.settings.upload_max_json_depth)
    count = len(head.get("encounters") or []) if isinstance(head, dict) and isinstance(head.get("encounters"), list) else 1
    await svc.limits.charge(who, len(body), max(1, count))
    if isinstance(head, dict) and isinstance(head.get("clientVersion"), str):
        request.state.client_version = head["clientVersion"]
    ids, created = await admit_meter_batch(svc, who.label, body)
    request.state.created = created > 0
    return json_response({"ingested": len(ids), "ids": ids})


@upload_route("meter")
@body_of("application/json", MeterCheck)
async def meter_check(request: Request) -> Response:
    """`POST /api/v1/upload/check` (upload scope): the meter's preflight `{"hashes": [≤ 50 sourceHash]}`.

    Answers 200 `{"duplicates": [{"hash", "encounterId": report number}], "missing": [hash, ...]}`: a
    hash is a duplicate when an upload with that `sourceHash` led to a report (its own, or one it was
    deduplicated into). 400 for no hashes, 422 for more than `FRAGSTATS_UPLOAD_METER_MAX_HASHES`.
    """
    svc, _ = await uploader(request)
    body = await read_upload(request, svc.settings.max_api_body_bytes)
    check = convert(decode_json(body, svc.settings.upload_max_json_depth), MeterCheck)
    if not check.hashes:
        raise ApiError(400, "invalid_body", "no hashes given")
    if len(check.hashes) > svc.settings.upload_meter_max_hashes:
        raise BodyProblem(422, "invalid_body", [problem("$.hashes", f"at most {svc.settings.upload_meter_max_hashes} hashes")])
    rows = await svc.pg.fetch("SELECT source_hash, report_id FROM encounter_sources WHERE source_hash = ANY($1::text[])",
                              check.hashes)
    found = {r["source_hash"]: r["report_id"] for r in rows}
    request.state.created = False
    return json_response({"duplicates": [{"hash": h, "encounterId": i} for h, i in found.items()],
                          "missing": [h for h in dict.fromkeys(check.hashes) if h not in found]})


# --- chunked uploads ------------------------------------------------------------------------------


@upload_route("chunked")
@body_of("application/json", NewUpload)
async def initiate_upload(request: Request) -> Response:
    """`POST /api/v1/uploads` (upload scope): start a chunked, resumable upload of one large encounter
    document. Body `{"totalBytes": int, "sha256": hex of the whole document as sent, "gzip": bool}`.

    201 `{"uploadId", "status": "open", "totalBytes", "chunkBytes", "chunks", "received": [],
    "missing": [0..n-1], "receivedBytes", "expiresAt", "reportId": null, "error": null}`; then `PUT
    .../chunks/{index}` each chunk (any order; again after a dropped connection), `GET` the status to
    see what is missing, `POST .../commit`, or `DELETE` it to abort. 422 naming the field for a bad
    size or hash.

    Expiry (tus's expiration extension): `expiresAt` (ISO-8601 UTC, ms) and the header
    `Upload-Expires` (HTTP-date) say when the upload expires unless a chunk comes:
    `FRAGSTATS_UPLOAD_EXPIRE_S` after the start or the last chunk received. Once expired its chunks are
    deleted, its status is `expired`, and a chunk or commit answers 410 `upload_expired`.
    """
    svc, who = await uploader(request)
    spec = convert(decode_json(await read_upload(request, svc.settings.max_api_body_bytes),
                               svc.settings.upload_max_json_depth), NewUpload)
    state = await svc.chunked.initiate(who.label, spec)
    return json_response(state, 201, expiry_headers(state))


@upload_route("chunked")
@body_of("application/octet-stream", {"type": "string", "format": "binary"})
async def put_chunk(request: Request) -> Response:
    """`PUT /api/v1/uploads/{upload_id}/chunks/{index}` (upload scope): one chunk's raw bytes (0-based
    index; every chunk but the last exactly `chunkBytes`). 200 with the upload's status, its
    `expiresAt` and `Upload-Expires` moved forward (`FRAGSTATS_UPLOAD_EXPIRE_S` from now); 404 for an
    unknown upload or index, 409 when the upload is committed or the chunk came before with other
    bytes, 410 `upload_expired` / `upload_aborted` once the upload has expired or was aborted (its
    chunks are gone: start a new upload), 422 for a wrong size. A chunk whose connection drops is not
    kept. Its bytes count against the key's daily byte quota (also when refused)."""
    svc, who = await uploader(request)
    index = request.path_params["index"]
    data = await read_upload(request, svc.settings.upload_chunk_bytes)
    svc.metrics.payload.labels("chunked").observe(len(data))
    await svc.limits.charge(who, len(data), 0)
    state = await svc.chunked.put_chunk(request.path_params["upload_id"], who.label, index, data)
    return json_response(state, 200, expiry_headers(state))


async def upload_status(request: Request) -> Response:
    """`GET /api/v1/uploads/{upload_id}` (upload scope): a chunked upload's status: `received` and
    `missing` chunk indexes, `status` open|committed|done|failed|expired|aborted, `expiresAt`
    (ISO-8601 UTC; while open, also the header `Upload-Expires`; once expired, when it did), `reportId`
    once done, `error` (with `events` naming each field) once failed. 404 for an upload of another key,
    and for an expired or aborted upload after `FRAGSTATS_UPLOAD_ENDED_KEEP_S`."""
    svc, who = await uploader(request)
    state = await svc.chunked.status(request.path_params["upload_id"], who.label)
    return json_response(state, 200, expiry_headers(state))


async def abort_upload(request: Request) -> Response:
    """`DELETE /api/v1/uploads/{upload_id}` (upload scope): abort an open chunked upload (tus's
    termination, S3's AbortMultipartUpload). 204: its chunks are deleted, its status is `aborted`, and
    a chunk or commit answers 410 `upload_aborted`; 204 again for an upload already aborted or
    expired. 404 for an unknown upload or one of another key (the admin may abort any); 409 once
    committed (its document is taken: `DELETE /api/v1/encounters/{id}` removes a report). The chunk
    bytes already counted against the key's daily quota stay counted."""
    svc, who = await uploader(request)
    await svc.chunked.abort(request.path_params["upload_id"], who.label)
    return Response(status_code=204)


@upload_route("chunked")
async def commit_upload(request: Request) -> Response:
    """`POST /api/v1/uploads/{upload_id}/commit` (upload scope): every chunk is there; assemble, check
    and parse in the background. 202 with the status (`committed`; poll `GET /api/v1/uploads/{id}`
    until `done` with `reportId`, or `failed` with the problems; either way the chunks are deleted
    then); 409 `chunks_missing` listing them; 410 `upload_expired` / `upload_aborted`; 429 over the
    daily quota (the document counts now)."""
    svc, who = await uploader(request)
    state = await svc.chunked.status(request.path_params["upload_id"], who.label)
    if state["status"] == "open" and not state["missing"]:
        await svc.limits.charge(who, 0, 1)
    state, _ = await svc.chunked.commit(request.path_params["upload_id"], who.label)
    return json_response(state, 202)


# --- jobs, accounting, usage ------------------------------------------------------------------------


async def list_jobs(request: Request) -> Response:
    """`GET /api/v1/uploads/jobs?status=queued|running|done|failed&kind=encounter|chunked|snapshot&limit=1..100&offset=`
    (read scope): parse jobs, newest first, with step timings: `{"total", "jobs": [{"id", "kind",
    "action", "reportId", "uploadId", "realm", "status", "steps": [{"step", "ms"}], "error",
    "createdAt", "startedAt", "finishedAt"}]}` (ISO-8601 UTC)."""
    svc = request.app.state.uploads
    await svc.limits.authenticate(request, "read")
    q = request.query_params
    status = choice(q, "status", ["any", "queued", "running", "done", "failed"], "any")
    kind = choice(q, "kind", ["any", "encounter", "chunked", "snapshot"], "any")
    limit = int_param(q, "limit", 50, lo=1, hi=100)
    offset = int_param(q, "offset", 0, lo=0, hi=MAX_OFFSET)
    where = "($1 = 'any' OR j.status = $1) AND ($2 = 'any' OR j.kind = $2)"
    total = await svc.pg.fetchval(f"SELECT count(*) FROM upload_jobs j WHERE {where}", status, kind)
    rows = await svc.pg.fetch(
        "SELECT j.id, j.kind, j.action, r.code, j.upload_id, j.realm, j.status, j.steps::text AS steps, j.error,"
        " j.created_at, j.started_at, j.finished_at FROM upload_jobs j LEFT JOIN encounter_reports r ON r.id = j.report_id"
        f" WHERE {where} ORDER BY j.id DESC LIMIT $3 OFFSET $4", status, kind, limit, offset)

    def iso(t):
        return t.isoformat().replace("+00:00", "Z") if t else None

    return json_response({"total": total, "limit": limit, "offset": offset, "jobs": [
        {"id": r["id"], "kind": r["kind"], "action": r["action"], "reportId": r["code"], "uploadId": r["upload_id"],
         "realm": r["realm"], "status": r["status"], "steps": msgspec.json.decode(r["steps"]), "error": r["error"],
         "createdAt": iso(r["created_at"]), "startedAt": iso(r["started_at"]), "finishedAt": iso(r["finished_at"])}
        for r in rows]})


async def uploads_status(request: Request) -> Response:
    """`GET /api/v1/uploads/status` (admin): where every accepted document is, for reconciliation:
    `{"accepted", "stored", "queued", "in_flight", "failed", "reports_in_clickhouse",
    "queued_here", "running_here"}`; always accepted = stored + queued + in_flight + failed
    (parse jobs in Postgres); `reports_in_clickhouse` counts reports with rows."""
    request.app.state.auth.require_admin(request)
    svc = request.app.state.uploads
    counts = await store.accounting(svc.pg)
    counts["reports_in_clickhouse"] = await queries.stored_reports(svc.engines)
    counts["queued_here"], counts["running_here"] = svc.runner.queue.qsize(), svc.runner.running
    return json_response(counts)


async def my_usage(request: Request) -> Response:
    """`GET /api/v1/uploads/usage` (upload scope): this key's use of today (UTC) and its limits:
    `{"day", "bytes", "uploads", "daily_bytes", "daily_uploads", "rate_per_minute"}` (null: no limit,
    the admin)."""
    svc = request.app.state.uploads
    who = await svc.limits.authenticate(request, "upload")
    return json_response(await svc.limits.usage(who))


# --- reports -------------------------------------------------------------------------------------


async def _report(request: Request):
    code = request.path_params["report_id"]
    row = await store.find_report(request.app.state.uploads.pg, code=code[:64])
    if row is None:
        raise ApiError(404, "not_found", f"no report {code[:64]!r}")
    return row


async def report_detail(engines, row, base: str = "") -> dict:
    """One report as `GET /api/v1/encounters/{id}` shows it (also the report page's data)."""
    body = store.report_json(row, base)
    ready = row["status"] == "ready"
    body["fights"] = await queries.fights(engines, row["id"]) if ready else []
    body["parses"] = await queries.report_parses(engines, row["id"]) if ready else []
    return body


async def get_encounter(request: Request) -> Response:
    """`GET /api/v1/encounters/{report_id}`: one report: its upload record (`reportId`, `status`
    queued|parsing|ready|failed, times in epoch ms, `createdAt` ISO-8601), and once ready its
    `fights` (aggregates) and `parses` (per player: damage, heal, dps, hps, crit and lucky rates,
    `percentile` within boss × class × spec, all time). 404 for an unknown id."""
    row = await _report(request)
    return json_response(await report_detail(request.app.state.engines, row, base_url(request)))


def search_params(q) -> dict:
    """The report search of the list route and the reports page: player, boss, from/to (epoch ms or
    ISO-8601 dates), page (1-based) and limit (≤ 100)."""
    def when(name):
        raw = text_param(q, name, 40)
        if raw is None:
            return None
        if decimal_digits(raw):
            value = int(raw)
            if value > 2**62:
                raise ApiError(400, "invalid_parameter", f"{name} is out of range")
            return value
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, "invalid_parameter", f"{name} must be epoch ms or an ISO-8601 date") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return int(parsed.timestamp() * 1000)

    return {"player": text_param(q, "player"), "boss": text_param(q, "boss"), "from": when("from"), "to": when("to"),
            "page": int_param(q, "page", 1, lo=1, hi=1_000_000), "limit": int_param(q, "limit", 20, lo=1, hi=100)}


async def search_reports(pg, p: dict, base: str = "") -> dict:
    """Reports matching the search, newest first, with pagination meta
    `{"total", "page", "limit", "totalPages"}`."""
    where = ("($1::text IS NULL OR lower($1) = ANY(player_names)) AND ($2::text IS NULL OR $2 = ANY(bosses))"
             " AND ($3::bigint IS NULL OR started_at_ms >= $3) AND ($4::bigint IS NULL OR started_at_ms <= $4)")
    args = [p["player"], p["boss"], p["from"], p["to"]]
    total = await pg.fetchval(f"SELECT count(*) FROM encounter_reports WHERE {where}", *args)
    rows = await pg.fetch(f"SELECT {store.REPORT_COLUMNS} FROM encounter_reports WHERE {where}"
                          " ORDER BY started_at_ms DESC, id DESC LIMIT $5 OFFSET $6",
                          *args, p["limit"], (p["page"] - 1) * p["limit"])
    return {"reports": [store.report_json(r, base) for r in rows],
            "meta": {"total": total, "page": p["page"], "limit": p["limit"],
                     "totalPages": math.ceil(total / p["limit"])}}


async def list_encounters(request: Request) -> Response:
    """`GET /api/v1/encounters?player=&boss=&from=&to=&page=1..1000000&limit=1..100`: reports, newest first
    (by start), filtered by a player's name (any case), a boss, a start range (epoch ms or ISO-8601,
    inclusive). `{"reports": [...], "meta": {"total", "page", "limit", "totalPages"}}`."""
    p = search_params(request.query_params)
    return json_response(await search_reports(request.app.state.uploads.pg, p, base_url(request)))


async def encounter_fights(request: Request) -> Response:
    """`GET /api/v1/encounters/{report_id}/fights`: the report's fights with aggregates (boss, duration
    ms, total damage and heal, raid dps, players, deaths, attempts, defeated); `[]` until parsed."""
    row = await _report(request)
    return json_response({"reportId": row["code"], "status": row["status"],
                          "fights": await queries.fights(request.app.state.engines, row["id"])})


async def encounter_parses(request: Request) -> Response:
    """`GET /api/v1/encounters/{report_id}/parses?metric=dps|hps|damage_taken&fight=0..65535&actor_id=`: the
    report's parses (per fight, per player), each with its percentile within boss × class × spec (all
    time), best first within a fight."""
    row = await _report(request)
    q = request.query_params
    metric = choice(q, "metric", list(queries.METRICS), "dps")
    fight = int_param(q, "fight", None, lo=0, hi=65535)
    actor = int_param(q, "actor_id", None, lo=-(2**63), hi=2**63 - 1)
    return json_response({"reportId": row["code"], "metric": metric, "parses": await queries.report_parses(
        request.app.state.engines, row["id"], metric, fight, actor)})


async def encounter_timeline(request: Request) -> Response:
    """`GET /api/v1/encounters/{report_id}/timeline?kind=damage|heal&bucket_ms=100..600000`: damage (or heal) over
    time per player from the hit timelines: `{"bucketMs", "kind", "series": [{"actorId", "name",
    "points": [[t_ms, value]]}]}`; also `"skills"`: per-skill totals."""
    row = await _report(request)
    q = request.query_params
    kind = choice(q, "kind", ["damage", "heal"], "damage")
    bucket = int_param(q, "bucket_ms", max(1000, row["duration_ms"] // 60 // 1000 * 1000), lo=100, hi=600_000)
    engines = request.app.state.engines
    body = await queries.damage_over_time(engines, row["id"], bucket, kind)
    body["skills"] = await queries.skills(engines, row["id"])
    return json_response(body)


async def reprocess_encounter(request: Request) -> Response:
    """`POST /api/v1/encounters/{report_id}/reprocess` (admin scope): parse the stored document again
    (its rows are replaced; the result is the same report). 202 `{"reportId", "jobId"}`."""
    svc = request.app.state.uploads
    await svc.limits.authenticate(request, "admin")
    row = await _report(request)
    job = await store.create_job(svc.pg, "encounter", report_id=row["id"], action="reprocess")
    await svc.pg.execute("UPDATE encounter_reports SET status = 'queued' WHERE id = $1", row["id"])
    svc.runner.submit(job)
    return json_response({"reportId": row["code"], "jobId": job}, 202)


async def delete_encounter(request: Request) -> Response:
    """`DELETE /api/v1/encounters/{report_id}` (admin scope): remove a report, its jobs and its rows
    (the raw document stays in the append-only object store). 204; 404 for an unknown id."""
    svc = request.app.state.uploads
    await svc.limits.authenticate(request, "admin")
    row = await _report(request)
    from uploads.rows import delete_report

    await svc.runner.in_thread(delete_report, svc.runner.clients[0], row["id"])
    await svc.pg.execute("DELETE FROM encounter_reports WHERE id = $1", row["id"])
    return Response(status_code=204)


async def encounter_raw(request: Request) -> Response:
    """`GET /api/v1/encounters/{report_id}/raw` (read scope): the document as stored (JSON bytes)."""
    svc = request.app.state.uploads
    await svc.limits.authenticate(request, "read")
    row = await _report(request)
    return Response(await svc.objects.get(row["object_sha256"]), media_type="application/json",
                    headers={"X-Object-SHA256": row["object_sha256"]})


def board_params(q) -> dict:
    """The parameters of the encounter leaderboard (route and page)."""
    return {"boss": text_param(q, "boss") or "", "metric": choice(q, "metric", list(queries.METRICS), "dps"),
            "class_name": text_param(q, "class"), "class_spec": text_param(q, "spec"),
            "period": choice(q, "period", list(queries.PERIODS), "all"),
            "limit": int_param(q, "limit", 50, lo=1, hi=100), "offset": int_param(q, "offset", 0, lo=0, hi=MAX_OFFSET)}


async def encounter_leaderboard(request: Request) -> Response:
    """`GET /api/v1/leaderboards/encounters?boss=&metric=dps|hps|damage_taken&class=&spec=&period=all|day|week|month&limit=1..100&offset=`:
    parses of a boss, best first, each with its percentile within its bracket (boss × class × spec ×
    period), and each bracket's p50/p75/p90/p95/p99 (`brackets`). Without `boss`: the bosses with
    parses (`{"bosses": [{"boss", "parses", "reports"}]}`)."""
    p = board_params(request.query_params)
    engines = request.app.state.engines
    if not p["boss"]:
        return json_response({"bosses": await queries.bosses(engines)})
    body = await queries.leaderboard(engines, **p)
    return json_response({**p, **body})


routes = [
    Route("/api/v1/encounters", create_encounter, methods=["POST"]),
    Route("/api/v1/encounters", list_encounters, methods=["GET"]),
    Route("/api/v1/encounters/{report_id}", get_encounter, methods=["GET"]),
    Route("/api/v1/encounters/{report_id}", delete_encounter, methods=["DELETE"]),
    Route("/api/v1/encounters/{report_id}/fights", encounter_fights, methods=["GET"]),
    Route("/api/v1/encounters/{report_id}/parses", encounter_parses, methods=["GET"]),
    Route("/api/v1/encounters/{report_id}/timeline", encounter_timeline, methods=["GET"]),
    Route("/api/v1/encounters/{report_id}/raw", encounter_raw, methods=["GET"]),
    Route("/api/v1/encounters/{report_id}/reprocess", reprocess_encounter, methods=["POST"]),
    Route("/api/v1/leaderboards/encounters", encounter_leaderboard, methods=["GET"]),
    Route("/api/v1/upload/", meter_upload, methods=["POST"]),
    Route("/api/v1/upload", meter_upload, methods=["POST"]),
    Route("/api/v1/upload/check", meter_check, methods=["POST"]),
    Route("/api/v1/uploads", initiate_upload, methods=["POST"]),
    Route("/api/v1/uploads/jobs", list_jobs, methods=["GET"]),
    Route("/api/v1/uploads/status", uploads_status, methods=["GET"]),
    Route("/api/v1/uploads/usage", my_usage, methods=["GET"]),
    Route("/api/v1/uploads/{upload_id}", upload_status, methods=["GET"]),
    Route("/api/v1/uploads/{upload_id}", abort_upload, methods=["DELETE"]),
    Route("/api/v1/uploads/{upload_id}/chunks/{index:int}", put_chunk, methods=["PUT"]),
    Route("/api/v1/uploads/{upload_id}/commit", commit_upload, methods=["POST"]),
]
