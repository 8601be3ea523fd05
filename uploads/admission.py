"""Taking an encounter document in: named steps, each passing the document on or ending with an outcome.

    decode -> validate -> checksum -> dedup -> store raw -> record (report + parse job) -> queue

An outcome is data (`Admitted`: 201 created or 200 duplicate, with the report); a refusal is a
`BodyProblem` (4xx naming each field) raised by the step that found it, before anything is stored.
The CPU-heavy steps (decode, validation, RFC 8785 checksum) run in a worker thread, not on the event loop.

Both doors use it: `POST /api/v1/encounters` (and a chunked upload's commit) with our report format,
and the damage meter's `POST /api/v1/upload/` with its own (`admit_meter_batch`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec

from uploads import jcs, meter, store
from uploads.bodies import BodyProblem, convert, decode_json, problem
from uploads.report import Encounter, problems


@dataclass
class Admitted:
    """The outcome of one document: `created` (201, a new report queued for parsing) or not (200: the
    report that already holds it)."""

    created: bool
    report: object  # an encounter_reports row

    @property
    def status(self) -> int:
        return 201 if self.created else 200


def _limits(svc) -> tuple[int, int, int]:
    s = svc.settings
    return s.upload_max_players, s.upload_max_hits_per_skill, s.upload_max_duration_ms


def validate_report(body: bytes, max_depth: int, limits: tuple[int, int, int]) -> Encounter:
    """Steps decode, validate and checksum (blocking: run in a thread). Raises BodyProblem / ApiError."""
    doc = decode_json(body, max_depth)
    if not isinstance(doc, dict):
        raise BodyProblem(422, "invalid_body", [problem("$", "the document must be a JSON object")])
    enc = convert(doc, Encounter)
    found = problems(enc, *limits)
    if found:
        raise BodyProblem(422, "invalid_body", found)
    try:
        expected = jcs.checksum(body)
    except jcs.CanonicalError as exc:
        raise BodyProblem(422, "invalid_body", [problem("$", str(exc))]) from None
    if expected != enc.checksum:
        raise BodyProblem(422, "checksum_mismatch", [problem(
            "$.checksum", f"is not the SHA-256 of the body without `checksum` canonicalised by RFC 8785 (JCS): expected {expected}")])
    return enc


def report_fields(enc: Encounter, *, uploader: str, fmt: str, digest: str, fingerprint: str,
                  checksum: str | None, client_version: str) -> dict:
    """The columns of an encounter_reports row for `enc`."""
    return {"uploader": uploader, "format": fmt, "client_encounter_id": enc.encounter_id, "checksum": checksum,
            "fingerprint": fingerprint, "object_sha256": digest, "started_at_ms": enc.started_at_ms,
            "ended_at_ms": enc.ended_at_ms, "duration_ms": enc.duration_ms, "scene": enc.scene_name,
            "bosses": [b.name for b in enc.bosses], "player_names": sorted({p.name.lower() for p in enc.players}),
            "players": len(enc.players), "total_damage": enc.total_damage, "total_heal": enc.total_heal,
            "client_version": client_version[:64]}


def report_fingerprint(enc: Encounter) -> str:
    """For reports of our format: the same idea as the meter's (scene, bosses, players), for search."""
    import hashlib

    text = "|".join([enc.scene_name.lower(), ",".join(sorted(b.name.lower() for b in enc.bosses)),
                     ",".join(map(str, sorted(p.actor_id for p in enc.players)))])
    return hashlib.sha256(text.encode()).hexdigest()


async def admit_report(svc, uploader: str, body: bytes, *, upload_id: str | None = None) -> Admitted:
    """Take one report of our format (the whole body, already gunzipped). Raises BodyProblem/ApiError 4xx."""
    enc = await asyncio.to_thread(validate_report, body, svc.settings.upload_max_json_depth, _limits(svc))
    pg = svc.pg
    existing = await store.find_duplicate(pg, uploader, enc.encounter_id, enc.checksum)
    if existing is not None:
        return Admitted(False, existing)
    digest = await svc.objects.put(body)
    fields = report_fields(enc, uploader=uploader, fmt="report", digest=digest, fingerprint=report_fingerprint(enc),
                           checksum=enc.checksum, client_version=enc.meter_version)
    row, job = await store.create_report(pg, fields, upload_id=upload_id)
    if job is None:
        return Admitted(False, row)
    svc.runner.submit(job)
    return Admitted(True, row)


@dataclass
class MeterItem:
    raw: bytes  # the encounter as sent (re-encoded compactly): what the object store keeps
    enc: meter.MeterEncounter
    report: Encounter
    fingerprint: str


def validate_meter_batch(body: bytes, max_depth: int, max_encounters: int,
                         limits: tuple[int, int, int]) -> tuple[meter.MeterBatch, list[MeterItem]]:
    """Decode and validate a whole meter batch (blocking: a thread); all or nothing. Raises BodyProblem."""
    doc = decode_json(body, max_depth)
    if not isinstance(doc, dict):
        raise BodyProblem(422, "invalid_body", [problem("$", "the body must be a JSON object")])
    batch = convert(doc, meter.MeterBatch)
    if not 1 <= len(batch.encounters) <= max_encounters:
        raise BodyProblem(422, "invalid_body", [problem("$.encounters", f"must hold 1..{max_encounters} encounters")])
    items, found = [], []
    for i, raw in enumerate(batch.encounters):
        try:
            enc = msgspec.convert(raw, meter.MeterEncounter)
        except msgspec.ValidationError as exc:
            reason, _, path = str(exc).partition(" - at `")
            field = "$.encounters[%d]%s" % (i, path.rstrip("`")[1:]) if path else f"$.encounters[{i}]"
            found.append(problem(field, reason, i))
            continue
        report = meter.to_report(enc, batch.client_version)
        for p in problems(report, *limits):
            at = "$.encounters[%d]" % i
            field = {"$.players": f"{at}.actorEncounterStats", "$.durationMs": f"{at}.endedAtMs"}.get(
                p["field"], at + p["field"][1:])
            found.append(problem(field, p["reason"], i))
        items.append(MeterItem(msgspec.json.encode(raw), enc, report, meter.fingerprint(enc)))
    if found:
        raise BodyProblem(422, "invalid_body", found)
    return batch, items


async def admit_meter_batch(svc, uploader: str, body: bytes) -> tuple[list[int], int]:
    """Take a meter batch: (report ids in the batch's order, how many were new). Each encounter is
    deduplicated by its sourceHash, then by fingerprint within the start-time window; a duplicate's
    sourceHash is remembered for the preflight. Raises BodyProblem/ApiError 4xx (nothing stored)."""
    s = svc.settings
    batch, items = await asyncio.to_thread(validate_meter_batch, body, s.upload_max_json_depth,
                                           s.upload_meter_max_encounters, _limits(svc))
    ids, created = [], 0
    for item in items:
        existing = await store.find_meter_duplicate(svc.pg, item.enc.source_hash, item.fingerprint,
                                                    item.enc.started_at_ms, s.upload_dedup_window_ms)
        if existing is None:
            digest = await svc.objects.put(item.raw)
            fields = report_fields(item.report, uploader=uploader, fmt="meter", digest=digest,
                                   fingerprint=item.fingerprint, checksum=None,
                                   client_version=batch.client_version or "")
            fields["client_encounter_id"] = item.enc.source_hash or item.fingerprint
            # Re-checked under a lock on the fingerprint: two players of the group uploading at once.
            existing, job = await store.create_report(svc.pg, fields, meter_window_ms=s.upload_dedup_window_ms)
            if job is not None:
                svc.runner.submit(job)
                created += 1
        await store.add_source(svc.pg, item.enc.source_hash, existing["id"], uploader)
        ids.append(existing["id"])
    return ids, created
