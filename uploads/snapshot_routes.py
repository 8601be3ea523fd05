"""Snapshot routes: upload a realm's snapshot, list them, leaderboards, diffs, Parquet exports.

"Current" is the latest snapshot of a realm. Dates are ISO `YYYY-MM-DD` (UTC days). Reading is public;
uploading needs the `upload` scope (and counts against the key's rate and quota).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.errors import ApiError
from fragstats.bodies import body_of
from fragstats.params import int_param
from uploads import snapshots, store
from uploads.bodies import BodyProblem, problem, read_upload
from uploads.formula import FormulaError, formula_for
from uploads.http import json_response, upload_route, uploader
from uploads.jobs import Steps

_REALM = re.compile(r"^[\w .:-]{1,64}$", re.UNICODE)
_METRIC = re.compile(r"^[a-z0-9_]{1,64}$")


def realm_param(value: str | None, where: str = "realm") -> str:
    if not value or not _REALM.match(value) or value != value.strip():
        raise ApiError(400, "invalid_parameter", f"{where} must be 1..64 letters, digits, spaces or . : _ -")
    return value


def date_param(value: str | None, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be a date YYYY-MM-DD") from None


@upload_route("snapshot")
@body_of("text/csv", {"type": "string"})
async def upload_snapshot(request: Request) -> Response:
    """`POST /api/v1/snapshots?realm=&date=` (upload scope): a realm's player snapshot as CSV, JSON or an
    Excel workbook (the body; `Content-Type` or the file's first bytes tell which). Without `date`, a
    workbook's scan time (summary sheet) or a JSON `date` member is the date.

    201 `{"realm", "date", "runId", "rows", "columns": {name: int|float|text}, "idColumn",
    "nameColumn", "unchanged": false}`; 200 with `"unchanged": true` for the same file again (nothing
    changes); 409 `snapshot_exists` for another file on a realm and date already taken (snapshots are
    immutable); 422 naming rows and columns (`duplicate_ids`: `events: [{"field": "row 7.governor_id",
    "reason": "id 42 is also on row 3"}]`), nothing stored.
    """
    svc, who = await uploader(request)
    q = request.query_params
    realm = realm_param(q.get("realm"))
    date = date_param(q.get("date"), "date")
    data = await read_upload(request)
    svc.metrics.payload.labels("snapshot").observe(len(data))
    s = svc.settings
    try:
        formula = formula_for(s.snapshot_formulas, realm)
    except FormulaError as exc:
        raise ApiError(422, "invalid_formula", str(exc)) from None
    table = await asyncio.to_thread(snapshots.read_table, data, request.headers.get("content-type", ""),
                                    s.snapshot_id_aliases)
    date = date or table.scan_time
    if date is None:
        raise BodyProblem(422, "invalid_body", [problem("date", "no date: give ?date=YYYY-MM-DD (the file holds no scan time)")])
    digest = hashlib.sha256(data).hexdigest()
    run_id = snapshots.run_id_of(realm, date, digest)
    snap = await asyncio.to_thread(snapshots.build, table, realm=realm, date=date, run_id=run_id,
                                   id_aliases=s.snapshot_id_aliases, name_aliases=s.snapshot_name_aliases,
                                   formula=formula, max_rows=s.snapshot_max_rows, ingested_at=time.time())
    body = {"realm": realm, "date": date.isoformat(), "runId": run_id, "rows": snap.rows, "columns": snap.columns,
            "idColumn": snap.id_column, "nameColumn": snap.name_column, "format": table.file_format}
    existing = await svc.pg.fetchrow("SELECT object_sha256, run_id FROM snapshots WHERE realm = $1 AND snapshot_date = $2",
                                     realm, date)
    if existing is not None:
        return _existing(request, existing, digest, body)
    await svc.limits.charge(who, len(data), 1)
    await svc.objects.put(data)
    # ClickHouse first, under the run id as deduplication token, then the Postgres record that makes the
    # snapshot visible: a crash between the two leaves rows no query reads (queries go by run id), and
    # the same upload again inserts nothing twice and records it.
    job = await store.create_job(svc.pg, "snapshot", status="running", realm=realm)
    steps, started, error = Steps(), time.perf_counter(), None
    try:
        await svc.runner.in_thread(snapshots.insert, svc.runner.clients[0], snap, run_id)
        steps.done("insert")
        columns = [f"{n}:{t}" for n, t in snap.columns.items()]
        taken = await svc.pg.fetchval(
            "INSERT INTO snapshots (realm, snapshot_date, run_id, object_sha256, file_format, rows, columns, uploader)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING run_id",
            realm, date, run_id, digest, table.file_format, snap.rows, columns, who.label)
        steps.done("record")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        svc.metrics.job_seconds.labels("snapshot").observe(time.perf_counter() - started)
        await store.job_finished(svc.pg, job, None, steps.items, error)
    if taken is None:  # a concurrent upload of this realm and date won: ours is not the snapshot
        existing = await svc.pg.fetchrow("SELECT object_sha256, run_id FROM snapshots WHERE realm = $1"
                                         " AND snapshot_date = $2", realm, date)
        if existing["run_id"] != run_id:
            await svc.runner.in_thread(snapshots.discard, svc.runner.clients[0], run_id)
        return _existing(request, existing, digest, body)
    return json_response({**body, "unchanged": False}, 201)


def _existing(request: Request, existing, digest: str, body: dict) -> Response:
    if existing["object_sha256"] != digest:
        raise ApiError(409, "snapshot_exists", f"realm {body['realm']!r} has another snapshot on {body['date']};"
                       " snapshots are immutable")
    request.state.created = False
    return json_response({**body, "unchanged": True}, 200)


async def list_snapshots(request: Request) -> Response:
    """`GET /api/v1/snapshots?realm=`: snapshots, newest first: `{"snapshots": [{"realm", "date", "runId",
    "rows", "columns", "format", "ingestedAt"}]}` (all realms without `realm`)."""
    realm = request.query_params.get("realm")
    if realm is not None:
        realm_param(realm)
    rows = await request.app.state.uploads.pg.fetch(
        "SELECT realm, snapshot_date, run_id, rows, columns, file_format, ingested_at FROM snapshots"
        " WHERE $1::text IS NULL OR realm = $1 ORDER BY realm, snapshot_date DESC LIMIT 1000", realm)
    return json_response({"snapshots": [
        {"realm": r["realm"], "date": r["snapshot_date"].isoformat(), "runId": r["run_id"], "rows": r["rows"],
         "columns": dict(c.rsplit(":", 1) for c in r["columns"]), "format": r["file_format"],
         "ingestedAt": r["ingested_at"].isoformat().replace("+00:00", "Z")} for r in rows]})


async def _snapshot(pg, realm: str, date: dt.date | None):
    """(date, columns, run id) of the realm's snapshot on `date` (None: the latest, i.e. "current");
    raises ApiError 404. Rows are read by run id: rows of an upload that was never recorded stay unseen."""
    row = await pg.fetchrow(
        "SELECT snapshot_date, columns, run_id FROM snapshots WHERE realm = $1 AND ($2::date IS NULL OR snapshot_date = $2)"
        " ORDER BY snapshot_date DESC LIMIT 1", realm, date)
    if row is None:
        raise ApiError(404, "not_found", f"no snapshot of realm {realm!r}" + (f" on {date}" if date else ""))
    return row["snapshot_date"], dict(c.rsplit(":", 1) for c in row["columns"]), row["run_id"]


def _value_sql(metric: str, columns: dict[str, str]) -> str:
    """The ClickHouse expression of a numeric column (or `score`)."""
    if metric == "score":
        return "score"
    kind = columns.get(metric)
    if kind not in ("int", "float"):
        numeric = sorted(n for n, t in columns.items() if t != "text")
        raise ApiError(400, "invalid_parameter", f"metric must be score or a numeric column: {', '.join(numeric)}")
    return f"if(mapContains({kind}s, {{m:String}}), {kind}s[{{m:String}}], NULL)"


async def leaderboard_data(engines, pg, realm: str, metric: str, date: dt.date | None, limit: int) -> dict:
    """Top `limit` players of a realm's snapshot (latest without `date`) by `metric`."""
    if not _METRIC.match(metric):
        raise ApiError(400, "invalid_parameter", "metric must be a snake_case column name or score")
    day, columns, run = await _snapshot(pg, realm, date)
    value = _value_sql(metric, columns)
    rows = await engines.query(
        f"SELECT entity_id, name, {value} AS v FROM snapshot_rows WHERE realm = {{r:String}} AND snapshot_date = {{d:Date}}"
        " AND run_id = {run:String} AND v IS NOT NULL ORDER BY v DESC, entity_id LIMIT {n:UInt32}",
        {"r": realm, "d": day, "run": run, "m": metric, "n": limit})
    return {"realm": realm, "date": day.isoformat(), "metric": metric, "columns": columns,
            "players": [{"rank": i + 1, "id": e, "name": n, "value": v} for i, (e, n, v) in enumerate(rows)]}


async def snapshot_leaderboard(request: Request) -> Response:
    """`GET /api/v1/snapshots/{realm}/leaderboard?metric=&date=&limit=1..1000`: the top players of the
    realm's snapshot on `date` (default: the latest, "current") by `metric` (any numeric column, or
    `score`), highest first: `{"realm", "date", "metric", "columns", "players": [{"rank", "id",
    "name", "value"}]}`; 404 without a snapshot, 400 for a metric that is not a numeric column."""
    q = request.query_params
    realm = realm_param(request.path_params["realm"])
    body = await leaderboard_data(request.app.state.engines, request.app.state.uploads.pg, realm,
                                  q.get("metric") or "score", date_param(q.get("date"), "date"),
                                  int_param(q, "limit", 100, lo=1, hi=1000))
    return json_response(body)


async def diff_data(engines, pg, realm: str, metric: str, day_from: dt.date, day_to: dt.date, limit: int) -> dict:
    """Between two snapshots of a realm: `gainers` and `losers` by the change of `metric`, players `new`
    in `to` and `gone` from it, each list at most `limit` long, with `counts` of each."""
    if not _METRIC.match(metric):
        raise ApiError(400, "invalid_parameter", "metric must be a snake_case column name or score")
    a, cols_a, run_a = await _snapshot(pg, realm, day_from)
    b, cols_b, run_b = await _snapshot(pg, realm, day_to)
    _value_sql(metric, cols_b if metric in cols_b else cols_a)
    va = _value_sql(metric, cols_a) if metric == "score" or metric in cols_a else "CAST(NULL AS Nullable(Float64))"
    vb = _value_sql(metric, cols_b) if metric == "score" or metric in cols_b else "CAST(NULL AS Nullable(Float64))"
    sql = (
        "SELECT cat, entity_id, name, before, after, delta, n FROM ("
        " SELECT *, row_number() OVER (PARTITION BY cat ORDER BY sort_key, entity_id) AS rn,"
        " count() OVER (PARTITION BY cat) AS n FROM ("
        "  SELECT entity_id, if(b.name IS NULL OR b.name = '', a.name, b.name) AS name, a.v AS before, b.v AS after,"
        "   toFloat64(after) - toFloat64(before) AS delta,"
        "   multiIf(a.present IS NULL, 'new', b.present IS NULL, 'gone', delta > 0, 'gainers', delta < 0, 'losers', 'same') AS cat,"
        "   multiIf(cat = 'gainers', -delta, cat = 'losers', delta, cat = 'new', -toFloat64(ifNull(after, 0)),"
        "           -toFloat64(ifNull(before, 0))) AS sort_key"
        f"  FROM (SELECT entity_id, name, {va} AS v, 1 AS present FROM snapshot_rows"
        "        WHERE realm = {r:String} AND snapshot_date = {a:Date} AND run_id = {ra:String}) AS a"
        f"  FULL OUTER JOIN (SELECT entity_id, name, {vb} AS v, 1 AS present FROM snapshot_rows"
        "        WHERE realm = {r:String} AND snapshot_date = {b:Date} AND run_id = {rb:String}) AS b USING (entity_id)))"
        " WHERE rn <= {n:UInt32} ORDER BY cat, rn")
    rows = await asyncio.to_thread(
        engines.ch_reader.query, sql, parameters={"r": realm, "a": a, "b": b, "ra": run_a, "rb": run_b, "m": metric, "n": limit},
        settings={"join_use_nulls": 1})
    out: dict = {"realm": realm, "from": a.isoformat(), "to": b.isoformat(), "metric": metric,
                 "gainers": [], "losers": [], "new": [], "gone": [], "counts": {k: 0 for k in ("gainers", "losers", "new", "gone", "same")}}
    for cat, entity, name, before, after, delta, n in rows.result_rows:
        out["counts"][cat] = n
        if cat != "same":
            out[cat].append({"id": entity, "name": name, "before": before, "after": after,
                             "delta": None if delta is None or delta != delta else delta})
    return out


async def snapshot_diff(request: Request) -> Response:
    """`GET /api/v1/snapshots/{realm}/diff?from=&to=&metric=&limit=1..1000`: what changed between the
    snapshots of two dates (`to` default: the latest): `{"gainers", "losers"}` sorted by the change of
    `metric` (default `score`), `{"new", "gone"}` players, each `[{"id", "name", "before", "after",
    "delta"}]`, and `counts`. 404 when a date has no snapshot."""
    q = request.query_params
    realm = realm_param(request.path_params["realm"])
    day_from = date_param(q.get("from"), "from")
    if day_from is None:
        raise ApiError(400, "invalid_parameter", "from is required: a date YYYY-MM-DD")
    body = await diff_data(request.app.state.engines, request.app.state.uploads.pg, realm, q.get("metric") or "score",
                           day_from, date_param(q.get("to"), "to"), int_param(q, "limit", 100, lo=1, hi=1000))
    return json_response(body)


async def snapshot_parquet(request: Request) -> Response:
    """`GET /api/v1/snapshots/{realm}/{date}/export.parquet`: the curated rows of one snapshot as a
    Parquet file written by ClickHouse (`FORMAT Parquet`): realm, snapshot_date, entity_id, name, the
    int/float/text maps, score, row_number, run_id, record_hash, ingested_at. 404 without it."""
    realm = realm_param(request.path_params["realm"])
    day = date_param(request.path_params["date"], "date")
    engines = request.app.state.engines
    _, _, run = await _snapshot(request.app.state.uploads.pg, realm, day)
    data = await asyncio.to_thread(
        engines.ch_reader.raw_query,
        "SELECT realm, snapshot_date, entity_id, name, ints, floats, texts, score, row_number, run_id, record_hash,"
        " ingested_at FROM snapshot_rows WHERE realm = {r:String} AND snapshot_date = {d:Date} AND run_id = {run:String}"
        " ORDER BY row_number", parameters={"r": realm, "d": day, "run": run}, fmt="Parquet")
    name = re.sub(r"[^\w.-]", "_", f"{realm}-{day.isoformat()}.parquet")
    return Response(data, media_type="application/vnd.apache.parquet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


routes = [
    Route("/api/v1/snapshots", upload_snapshot, methods=["POST"]),
    Route("/api/v1/snapshots", list_snapshots, methods=["GET"]),
    Route("/api/v1/snapshots/{realm}/leaderboard", snapshot_leaderboard, methods=["GET"]),
    Route("/api/v1/snapshots/{realm}/diff", snapshot_diff, methods=["GET"]),
    Route("/api/v1/snapshots/{realm}/{date}/export.parquet", snapshot_parquet, methods=["GET"]),
]
