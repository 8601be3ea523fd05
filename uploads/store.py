"""Postgres records of uploads (sql/0020_uploads.sql): reports, meter source hashes, parse jobs.

Every write that creates a report also creates its parse job in the same transaction, so a report is
never left without a job to parse it; a job found `queued` or `running` at start-up (a crash) is run
again (its parse deletes what an interrupted one inserted).
"""

from __future__ import annotations

import secrets

import asyncpg

REPORT_COLUMNS = ("id, code, uploader, format, client_encounter_id, checksum, fingerprint, object_sha256, "
                  "started_at_ms, ended_at_ms, duration_ms, scene, bosses, players, total_damage, total_heal, "
                  "client_version, status, error, created_at")


def new_code() -> str:
    """A report's short URL-safe id: 8 characters, 48 random bits."""
    return secrets.token_urlsafe(6)


def report_json(row, base_url: str = "") -> dict:
    """A report row as the API shows it (times: epoch ms, and `createdAt` ISO-8601 UTC)."""
    return {"reportId": row["code"], "id": row["id"], "reportUrl": f"{base_url}/reports/{row['code']}",
            "status": row["status"], "format": row["format"], "encounterId": row["client_encounter_id"],
            "checksum": row["checksum"], "startedAtMs": row["started_at_ms"], "endedAtMs": row["ended_at_ms"],
            "durationMs": row["duration_ms"], "scene": row["scene"], "bosses": list(row["bosses"]),
            "players": row["players"], "totalDamage": row["total_damage"], "totalHeal": row["total_heal"],
            "clientVersion": row["client_version"], "error": row["error"],
            "createdAt": row["created_at"].isoformat().replace("+00:00", "Z")}


async def find_report(pg, *, code: str | None = None, report_id: int | None = None):
    if code is not None:
        return await pg.fetchrow(f"SELECT {REPORT_COLUMNS} FROM encounter_reports WHERE code = $1", code)
    return await pg.fetchrow(f"SELECT {REPORT_COLUMNS} FROM encounter_reports WHERE id = $1", report_id)


async def find_duplicate(pg, uploader: str, encounter_id: str, checksum: str):
    """The report already holding this upload: same uploader and client encounter id, or same checksum."""
    return await pg.fetchrow(
        f"SELECT {REPORT_COLUMNS} FROM encounter_reports WHERE (uploader = $1 AND client_encounter_id = $2)"
        " OR checksum = $3 ORDER BY id LIMIT 1", uploader, encounter_id, checksum)


async def find_meter_duplicate(pg, source_hash: str | None, fingerprint: str, started_at_ms: int, window_ms: int):
    """The report of this meter encounter: by its sourceHash, else by fingerprint within the window."""
    if source_hash:
        row = await pg.fetchrow(
            f"SELECT {', '.join('r.' + c.strip() for c in REPORT_COLUMNS.split(','))} FROM encounter_sources s"
            " JOIN encounter_reports r ON r.id = s.report_id WHERE s.source_hash = $1", source_hash)
        if row is not None:
            return row
    return await pg.fetchrow(
        f"SELECT {REPORT_COLUMNS} FROM encounter_reports WHERE fingerprint = $1 AND format = 'meter'"
        " AND started_at_ms BETWEEN $2::bigint - $3::bigint AND $2::bigint + $3::bigint"
        " ORDER BY abs(started_at_ms - $2::bigint), id LIMIT 1",
        fingerprint, started_at_ms, window_ms)


async def add_source(pg, source_hash: str | None, report_id: int, uploader: str) -> None:
    """Remember a meter sourceHash as leading to `report_id` (the first upload's, or a duplicate's)."""
    if source_hash:
        await pg.execute("INSERT INTO encounter_sources (source_hash, report_id, uploader) VALUES ($1, $2, $3)"
                         " ON CONFLICT (source_hash) DO NOTHING", source_hash, report_id, uploader)


async def _insert_report(conn, fields: dict):
    for _ in range(3):  # a code collision (48 random bits) is retried with a new code
        try:
            async with conn.transaction():
                return await conn.fetchrow(
                    "INSERT INTO encounter_reports (code, uploader, format, client_encounter_id, checksum, fingerprint,"
                    " object_sha256, started_at_ms, ended_at_ms, duration_ms, scene, bosses, player_names, players,"
                    " total_damage, total_heal, client_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                    f" $12, $13, $14, $15, $16, $17) RETURNING {REPORT_COLUMNS}",
                    new_code(), fields["uploader"], fields["format"], fields["client_encounter_id"],
                    fields["checksum"], fields["fingerprint"], fields["object_sha256"], fields["started_at_ms"],
                    fields["ended_at_ms"], fields["duration_ms"], fields["scene"], fields["bosses"],
                    fields["player_names"], fields["players"], fields["total_damage"], fields["total_heal"],
                    fields["client_version"])
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "encounter_reports_code_key":
                return None
    raise RuntimeError("no free report code after 3 tries")


async def create_report(pg, fields: dict, *, upload_id: str | None = None, meter_window_ms: int | None = None):
    """Insert a report and its parse job in one transaction; returns (report row, job id), or
    (existing row, None) when the document is there already: a concurrent upload of the same report
    won the race (unique uploader + client id, or checksum), or, for the meter (`meter_window_ms`
    given), a report of the same fingerprint within the window exists. Meter uploads of one
    fingerprint are serialised by a transaction-level advisory lock, in every app process."""
    async with pg.acquire() as conn, conn.transaction():
        if meter_window_ms is not None:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7262))", fields["fingerprint"])
            existing = await find_meter_duplicate(conn, None, fields["fingerprint"], fields["started_at_ms"],
                                                  meter_window_ms)
            if existing is not None:
                return existing, None
        row = await _insert_report(conn, fields)
        if row is None:
            existing = await conn.fetchrow(
                f"SELECT {REPORT_COLUMNS} FROM encounter_reports WHERE (uploader = $1 AND client_encounter_id = $2)"
                " OR checksum = $3 LIMIT 1", fields["uploader"], fields["client_encounter_id"], fields["checksum"])
            return existing, None
        job = await conn.fetchval("INSERT INTO upload_jobs (kind, report_id, upload_id) VALUES ('encounter', $1, $2)"
                                  " RETURNING id", row["id"], upload_id)
    return row, job


async def create_job(pg, kind: str, *, report_id: int | None = None, upload_id: str | None = None,
                     action: str = "parse", status: str = "queued", realm: str | None = None) -> int:
    return await pg.fetchval(
        "INSERT INTO upload_jobs (kind, action, report_id, upload_id, status, realm, started_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'running' THEN now() END) RETURNING id",
        kind, action, report_id, upload_id, status, realm)


async def pending_jobs(pg) -> list[int]:
    """Jobs a previous process left queued or running (oldest first): to run again. A snapshot's job
    runs inside its request, so one left running was cut by a crash: it is marked failed (its rows,
    if any, were never recorded and stay unseen; the same upload again completes it)."""
    await pg.execute("UPDATE upload_jobs SET status = 'failed', error = 'interrupted by a restart', finished_at = now()"
                     " WHERE kind = 'snapshot' AND status IN ('queued', 'running')")
    rows = await pg.fetch("SELECT id FROM upload_jobs WHERE status IN ('queued', 'running') AND kind <> 'snapshot'"
                          " ORDER BY id")
    return [r["id"] for r in rows]


async def job(pg, job_id: int):
    return await pg.fetchrow("SELECT id, kind, action, report_id, upload_id, status FROM upload_jobs WHERE id = $1", job_id)


async def job_started(pg, job_id: int, report_id: int | None) -> None:
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE upload_jobs SET status = 'running', started_at = now() WHERE id = $1", job_id)
        if report_id is not None:
            await conn.execute("UPDATE encounter_reports SET status = 'parsing' WHERE id = $1", report_id)


async def job_finished(pg, job_id: int, report_id: int | None, steps: list[dict], error: str | None) -> None:
    """Record a job's end: `done` (error None) or `failed`, with its step timings; the report follows."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE upload_jobs SET status = $2, steps = $3::jsonb, error = $4, finished_at = now() WHERE id = $1",
            job_id, "failed" if error else "done", _steps_json(steps), error)
        if report_id is not None:
            await conn.execute("UPDATE encounter_reports SET status = $2, error = $3 WHERE id = $1",
                               report_id, "failed" if error else "ready", error)


def _steps_json(steps: list[dict]) -> str:
    import msgspec

    return msgspec.json.encode(steps).decode()


async def accounting(pg) -> dict:
    """Jobs by state: `{"accepted", "stored", "queued", "in_flight", "failed"}`; accepted = stored +
    queued + in_flight + failed at every moment (one snapshot of one table)."""
    rows = await pg.fetch("SELECT status, count(*) AS n FROM upload_jobs GROUP BY status")
    by = {r["status"]: r["n"] for r in rows}
    return {"accepted": sum(by.values()), "stored": by.get("done", 0), "queued": by.get("queued", 0),
            "in_flight": by.get("running", 0), "failed": by.get("failed", 0)}
