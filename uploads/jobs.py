"""The background parse: a queue of job ids and `FRAGSTATS_UPLOAD_WORKERS` workers whose blocking work
(reading the object store, decoding, building rows, ClickHouse inserts) runs in a thread pool of its
own, never on the event loop; only the Postgres bookkeeping is awaited on the loop.

Kinds: `encounter` (parse a report's stored document into ClickHouse; a reprocess is the same job
again: it deletes the report's rows first, so the result is the same), `chunked` (assemble a chunked
upload's parts, check its size and SHA-256, then admit it like `POST /api/v1/encounters`, which
queues an `encounter` job).

Accounting (GET /api/v1/uploads/status, from the jobs table): accepted = stored + queued + in flight
+ failed. Jobs left queued or running by a crashed process are run again at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec

from uploads import meter, rows, store
from uploads.report import Encounter

log = logging.getLogger("fragstats.uploads")

_report_decoder = msgspec.json.Decoder(Encounter)
_meter_decoder = msgspec.json.Decoder(meter.MeterEncounter)


class Steps:
    """Step timings of one job: `[{"step": name, "ms": float}]`."""

    def __init__(self):
        self.items: list[dict] = []
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.items.append({"step": name, "ms": round((now - self._t) * 1000, 3)})
        self._t = now


def parse_report(objects, client, report, steps: Steps, replace: bool) -> dict:
    """Blocking: the stored document of `report` (a row) -> ClickHouse rows. With `replace` (a
    reprocess, or a job a crash interrupted) the report's old rows are deleted first; a first parse
    skips that (a DELETE is a mutation: ~0.1-0.5 s a table in chDB). Returns the row counts."""
    raw = objects.get_sync(report["object_sha256"])
    steps.done("fetch")
    if report["format"] == "meter":
        enc = meter.to_report(_meter_decoder.decode(raw), report["client_version"])
    else:
        enc = _report_decoder.decode(raw)
    steps.done("decode")
    built = rows.rows_of(enc, report["id"], report["code"])
    steps.done("rows")
    if replace:
        rows.delete_report(client, report["id"])
        steps.done("delete")
    rows.insert_rows(client, built)
    steps.done("insert")
    return built.counts


class JobRunner:
    """Runs parse jobs; `submit(job_id)` after the job's row is committed."""

    def __init__(self, svc, clients: list):
        self.svc = svc
        self.clients = clients  # one ClickHouse client per worker
        self.pool = ThreadPoolExecutor(len(clients), thread_name_prefix="upload-parse")
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.running = 0
        self._tasks: list[asyncio.Task] = []
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        """Queue what a previous process left undone, then start the workers."""
        for job_id in await store.pending_jobs(self.svc.pg):
            self.submit(job_id)
        self._tasks = [asyncio.create_task(self._worker(c), name=f"upload-worker-{i}")
                       for i, c in enumerate(self.clients)]

    def submit(self, job_id: int) -> None:
        self._idle.clear()
        self.queue.put_nowait(job_id)
        self.svc.metrics.jobs.labels("queued").set(self.queue.qsize())

    async def wait_idle(self, timeout: float) -> None:
        """Wait until no job is queued or running here (tests, benchmarks)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self) -> None:
        """Finish the running jobs, leave the queued ones for the next start (they are in Postgres)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.pool.shutdown(wait=True)

    async def in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def _worker(self, client) -> None:
        metrics = self.svc.metrics
        while True:
            job_id = await self.queue.get()
            metrics.jobs.labels("queued").set(self.queue.qsize())
            self.running += 1
            metrics.jobs.labels("running").set(self.running)
            try:
                # Shielded: a shutdown waits for the job under way instead of leaving it half done.
                await asyncio.shield(self.run(job_id, client))
            except asyncio.CancelledError:
                raise
            except Exception:  # recorded on the job by run(); a worker must survive any job
                log.exception("upload job %s", job_id)
            finally:
                self.running -= 1
                metrics.jobs.labels("running").set(self.running)
                if self.queue.empty() and self.running == 0:
                    self._idle.set()

    async def run(self, job_id: int, client) -> None:
        pg = self.svc.pg
        job = await store.job(pg, job_id)
        if job is None or job["status"] in ("done", "failed"):
            return  # deleted with its report, or already run
        await store.job_started(pg, job_id, job["report_id"])
        steps, started, error = Steps(), time.perf_counter(), None
        try:
            if job["kind"] == "encounter":
                report = await store.find_report(pg, report_id=job["report_id"])
                # A job found running was interrupted (a crash): its rows may be half there.
                replace = job["action"] == "reprocess" or job["status"] == "running"
                await self.in_thread(parse_report, self.svc.objects, client, report, steps, replace)
            elif job["kind"] == "chunked":
                await self.svc.chunked.assemble_and_admit(job["upload_id"], steps)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            self.svc.metrics.job_failures.labels(job["kind"]).inc()
            if job["kind"] != "chunked":
                log.exception("parse job %s (report %s) failed", job_id, job["report_id"])
        self.svc.metrics.job_seconds.labels(job["kind"]).observe(time.perf_counter() - started)
        await store.job_finished(pg, job_id, job["report_id"], steps.items, error)
