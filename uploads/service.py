"""The uploads service of one app process: object store, limits, metrics, job runner, chunked uploads
and the sweep that expires them.

The assembly (fragstats/app.py) opens it in the lifespan after the engines and migrations
(`await UploadService.open(...)`, kept on `app.state.uploads`) and closes it before the engines.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fragstats.engines import make_clickhouse_client, startup_step
from fragstats.metrics import Metrics
from fragstats.settings import Settings
from uploads.chunked import Chunked
from uploads.expiry import Sweeper
from uploads.jobs import JobRunner
from uploads.keys import Limits
from uploads.metrics import UploadMetrics
from uploads.objects import ObjectStore

log = logging.getLogger("fragstats.uploads")


class UploadService:
    def __init__(self, settings: Settings, engines, metrics: Metrics, objects: ObjectStore):
        self.settings = settings
        self.engines = engines
        self.pg = engines.pg
        self.objects = objects
        self.metrics = UploadMetrics(metrics.registry)
        self.limits = Limits(settings, engines.pg, engines.redis)
        self.chunked = Chunked(self)
        self._clients = [make_clickhouse_client(engines.clickhouse_dsn) for _ in range(settings.upload_workers)]
        self.runner = JobRunner(self, self._clients)
        self.sweeper = Sweeper(self)

    @classmethod
    async def open(cls, settings: Settings, engines, metrics: Metrics, data_dir: Path) -> "UploadService":
        """Open the object store, start the parse workers (re-running what a crash left undone) and the
        sweep of chunked uploads. Raises StartupError when the object store cannot be opened."""
        objects = ObjectStore.open(settings.upload_store_url, settings.upload_store_options, data_dir)
        with startup_step("the upload workers could not start"):
            svc = cls(settings, engines, metrics, objects)
            await svc.runner.start()
            svc.sweeper.start()
        log.info("uploads: object store on %s, %d parse worker(s)", objects.description, settings.upload_workers)
        return svc

    async def close(self) -> None:
        """Stop the sweep, finish the jobs under way (queued ones stay in Postgres for the next start),
        close clients."""
        await self.sweeper.stop()
        await self.runner.stop()
        for client in self._clients:
            try:
                client.close()
            except Exception:  # closing must not hide the real shutdown error
                log.exception("closing an upload ClickHouse client")
