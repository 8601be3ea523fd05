"""Admission of one request's body, as named steps whose result is an `Outcome` (data, not a
response): the HTTP route maps it to a status in one place (`ingest.routes.answer`), and any other
transport (MQTT) gets the same validation, shedding and counting by calling the same steps.

Steps, in order (STYLE.md, after Plausible's ingestion pipeline: each step either passes the
request on or ends it with a reason):
1. `gate`: before the body is read — shed when the queue is 99% full (decoding bodies that cannot
   be queued would burn the CPU the batch writers need), refuse while the disk is full or the app
   drains;
2. `take`: undo gzip within the byte budget, decode and validate every event
   (ingest/decode.py), count the verdicts, admit the valid ones — all of them or none — into the
   queue and, with the WAL, onto disk (ingest/pipeline.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ingest.decode import BodyError, decode_events, decompress
from ingest.pipeline import Admission, Pipeline

# Outcome kinds beside the BodyError codes of ingest/decode.py.
ACCEPTED = "accepted"
NO_VALID_EVENTS = "no_valid_events"
REFUSED = {Admission.SHED: "overloaded", Admission.DRAINING: "draining", Admission.DISK_FULL: "disk_full",
           Admission.STORAGE_ERROR: "storage_error"}
_DETAILS = {
    "overloaded": "ingest queue is full; nothing of this request was kept",
    "draining": "server is shutting down; nothing of this request was kept",
    "disk_full": "no disk space to store events durably; nothing of this request was kept",
    "storage_error": "the write-ahead log could not be written; nothing of this request was kept",
}


@dataclass(slots=True)
class Outcome:
    """What became of one request: `kind` is `accepted`, `no_valid_events`, a BodyError code
    (`malformed_json`, `body_too_large`, ...) or a refusal (`overloaded`, `draining`, `disk_full`,
    `storage_error`); `status` the HTTP status that kind means; `accepted` events queued; `errors`
    the rejected events as `{"index", "field", "reason"}`."""

    kind: str
    status: int
    detail: str = ""
    accepted: int = 0
    errors: list[dict] = field(default_factory=list)


def refused(admission: Admission, pipeline: Pipeline) -> Outcome:
    """The outcome of a request its admission refused (nothing of it kept)."""
    kind = REFUSED[admission]
    detail = _DETAILS[kind]
    if admission is Admission.DISK_FULL and pipeline.disk.reason:
        detail = f"{detail} ({pipeline.disk.reason})"
    status = {"overloaded": 429, "draining": 503}.get(kind, 507)
    return Outcome(kind, status, detail)


def gate(pipeline: Pipeline) -> Outcome | None:
    """Step 1, before reading the body: an outcome when the request cannot be taken now, else None."""
    if pipeline.queue.closed:
        return refused(Admission.DRAINING, pipeline)
    if pipeline.nearly_full():
        return refused(Admission.SHED, pipeline)
    if pipeline.disk.full:
        return refused(Admission.DISK_FULL, pipeline)
    return None


async def take(pipeline: Pipeline, server_id: int, raw: bytes, mtype: str, encoding: str | None,
               held: list[int]) -> Outcome:
    """Step 2: decompress, decode, validate, count and admit one body of `server_id`'s events.

    `held[0]`: bytes of the pipeline's reading budget this request already holds (its raw body);
    the decompressed body is added to it; the caller gives it all back afterwards."""
    settings, metrics = pipeline.settings, pipeline.metrics
    try:
        body = decompress(raw, encoding, settings.max_body_bytes)
        if body is not raw:
            if not pipeline.reading.take(len(body)):
                return refused(Admission.SHED, pipeline)
            held[0] += len(body)
        n_items, verdicts = decode_events(body, mtype, server_id, max_event_bytes=settings.max_event_bytes,
                                          max_depth=settings.max_json_depth)
    except BodyError as exc:
        metrics.events_rejected.labels(exc.code).inc()
        return Outcome(exc.code, exc.status, exc.detail)
    del body, raw
    metrics.events_received.inc(n_items)
    for reason, n in Counter(r.reason_code for r in verdicts.rejected).items():
        metrics.events_rejected.labels(reason).inc(n)
    errors = [r.to_json() for r in verdicts.rejected]
    if not verdicts.accepted:
        detail = "body holds no events" if not n_items else "no valid event in the body"
        return Outcome(NO_VALID_EVENTS, 400, detail, errors=errors)
    admission = await pipeline.admit(verdicts.accepted)
    if admission is not Admission.ACCEPTED:
        if admission is Admission.SHED:
            metrics.events_shed.inc(len(verdicts.accepted))
        return refused(admission, pipeline)
    metrics.events_accepted.inc(len(verdicts.accepted))
    return Outcome(ACCEPTED, 202, accepted=len(verdicts.accepted), errors=errors)
