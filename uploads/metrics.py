"""Metrics of uploads, registered on the app's own registry (`fragstats.metrics.Metrics.registry`).

Labels stay low-cardinality: `kind` (encounter, meter, chunked, snapshot), `status` (the HTTP status
class of the answer: created, duplicate, rejected, limited, error), `client_version` (the meter's or
report's version string, the first `MAX_VERSIONS` seen, then `other`). Every series a dashboard reads
exists from start-up at 0.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

KINDS = ("encounter", "meter", "chunked", "snapshot")
STATUSES = ("created", "duplicate", "rejected", "limited", "error")
JOB_KINDS = ("encounter", "chunked", "snapshot")
MAX_VERSIONS = 20
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BYTES = tuple(2**k for k in range(10, 31, 2))  # 1 KiB .. 1 GiB
_VERSION = re.compile(r"[^0-9A-Za-z._+-]")


class UploadMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.uploads = Counter("fragstats_uploads_total",
                               "Upload requests answered, by kind, outcome (created, duplicate, rejected, limited,"
                               " error) and client version.", ["kind", "status", "client_version"], registry=registry)
        self.seconds = Histogram("fragstats_upload_seconds", "Time to answer an upload request, by kind.",
                                 ["kind"], buckets=_SECONDS, registry=registry)
        self.payload = Histogram("fragstats_upload_payload_bytes", "Size of an upload body after gzip, by kind.",
                                 ["kind"], buckets=_BYTES, registry=registry)
        self.job_seconds = Histogram("fragstats_upload_job_seconds", "Duration of one parse job, by kind.",
                                     ["kind"], buckets=_SECONDS, registry=registry)
        self.jobs = Gauge("fragstats_upload_jobs", "Parse jobs of this process by state: queued, running.",
                          ["state"], registry=registry)
        self.job_failures = Counter("fragstats_upload_job_failures_total", "Parse jobs that failed, by kind.",
                                    ["kind"], registry=registry)
        self.expired = Counter("fragstats_uploads_expired_total",
                               "Chunked uploads that expired (no chunk for FRAGSTATS_UPLOAD_EXPIRE_S); their chunks are"
                               " deleted.", registry=registry)
        self.aborted = Counter("fragstats_uploads_aborted_total",
                               "Chunked uploads their client aborted (DELETE /api/v1/uploads/{id}); their chunks are"
                               " deleted.", registry=registry)
        self.parts_deleted = Counter("fragstats_upload_parts_deleted_total",
                                     "Chunk objects deleted from the object store once their upload ended (expired,"
                                     " aborted, done or failed).", registry=registry)
        self._versions: set[str] = {"none"}
        for kind in KINDS:
            self.seconds.labels(kind)
            self.payload.labels(kind)
            for status in STATUSES:
                self.uploads.labels(kind, status, "none")
        for kind in JOB_KINDS:
            self.job_seconds.labels(kind)
            self.job_failures.labels(kind)
        for state in ("queued", "running"):
            self.jobs.labels(state)

    def version(self, raw: str | None) -> str:
        """A bounded label value for a client version."""
        if not raw:
            return "none"
        value = _VERSION.sub("_", raw)[:32]
        if value in self._versions:
            return value
        if len(self._versions) >= MAX_VERSIONS:
            return "other"
        self._versions.add(value)
        return value

    def answered(self, kind: str, status_code: int, client_version: str | None, seconds: float,
                 created: bool = True) -> None:
        """Count one answered upload request."""
        if status_code == 201 or (status_code in (200, 202) and created):
            status = "created"
        elif status_code in (200, 202):
            status = "duplicate"
        elif status_code == 429:
            status = "limited"
        elif status_code < 500:
            status = "rejected"
        else:
            status = "error"
        self.uploads.labels(kind, status, self.version(client_version)).inc()
        self.seconds.labels(kind).observe(seconds)
