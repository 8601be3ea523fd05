"""The app, assembled in one visible place: engines, migrations, pipeline, routes of each package,
and the wiring between packages (they never import one another; this module imports them all).

Start-up (lifespan): open the engines (starting embedded ones), apply migrations, open the ingest
pipeline (recovering its write-ahead log), start the batch writers. Shutdown: stop admitting
(503), drain the queue into ClickHouse (or the spool), close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import identity.routes
import ingest.routes
import query.routes
import tournaments.routes
import uploads.routes
from fragstats import openapi, servers
from fragstats.auth import Authenticator, load_or_create_admin_token
from fragstats.auth_failures import FailedAuth
from fragstats.direct import DirectApp
from fragstats.engines import open_engines, startup_step
from fragstats.errors import (
    ErrorAnswerMiddleware,
    StatusError,
    http_exception_handler,
    status_error_handler,
    unhandled_exception_handler,
)
from fragstats.http import client_disconnect_handler
from fragstats.identities import NoIdentities
from fragstats.metrics import HTTPMetricsMiddleware, Metrics, metrics_endpoint, watch_event_loop
from fragstats.migrations import migrate_all
from fragstats.settings import Settings
from fragstats.wiring import Wiring
from identity.hooks import after_commit_factory as players_after_commit_factory
from identity.service import open_identity
from ingest.context import MatchContexts
from ingest.identity import play_of
from ingest.live import LiveState
from ingest.mqtt import MqttIngest
from ingest.pipeline import Pipeline
from tournaments import ratings, telemetry
from uploads.service import UploadService

log = logging.getLogger("fragstats")


async def health(request: Request) -> JSONResponse:
    """`GET /health`: 200 `{"status": "ok"}` while the process runs (liveness; touches no engine)."""
    return JSONResponse({"status": "ok", "draining": request.app.state.draining})


async def ready(request: Request) -> JSONResponse:
    """`GET /ready`: 200 when ClickHouse, Postgres and Redis all answer, the data dir's disk has room
    (ingest acknowledges) and we are not draining, else 503; body `{"status", "checks":
    {"clickhouse": "ok"|error, "postgres": ..., "redis": ..., "disk": "ok"|"full: <why>"}}`."""
    engines = request.app.state.engines
    checks: dict[str, str] = {}

    async def check(name, coro):
        try:
            await asyncio.wait_for(coro, 5)
            checks[name] = "ok"
        except Exception as exc:  # report, do not raise: this route exists to describe failures
            checks[name] = f"error: {exc}"[:300]

    await check("clickhouse", engines.query("SELECT 1"))
    await check("postgres", engines.pg.fetchval("SELECT 1"))
    await check("redis", engines.redis.ping())
    disk = request.app.state.pipeline.disk
    checks["disk"] = f"full: {disk.reason}" if disk.full else "ok"
    ok = all(v == "ok" for v in checks.values()) and not request.app.state.draining
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


def wiring() -> Wiring:
    """The cross-package wiring, declared: what query reads of tournaments, what runs after a batch
    commits (besides live state, which belongs to ingest itself)."""
    return Wiring(
        rating_leaderboard=ratings.leaderboard,  # `?stat=rating` on the query side
        after_commit=[
            telemetry.after_commit_factory,  # tournament results from committed telemetry
            # Achievements and `!claim` typed in chat: identity reads ingest's events through
            # ingest's converter to the kernel's `Play` records.
            players_after_commit_factory(play_of),
        ],
    )


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app. Engines start in the lifespan, so building it is cheap and side-effect free."""
    settings = settings or Settings()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        data_dir = settings.resolved_data_dir()
        admin_token, _ = load_or_create_admin_token(settings.admin_token, data_dir)
        engines = await open_engines(settings)
        try:
            with startup_step("the database migrations could not be applied"):
                applied = await migrate_all(engines, settings.raw_events_ttl_days)
            if applied["postgres"] or applied["clickhouse"]:
                log.info("migrations applied: %s", applied)
            app.state.engines = engines
            app.state.auth = Authenticator(engines.pg, admin_token, settings.token_cache_ttl_s,
                                           FailedAuth.from_settings(settings, metrics))
            with startup_step(f"the ingest folders under {data_dir} (spool, dead letters, write-ahead log) could not be opened"):
                pipeline = Pipeline(settings, engines.writer_clients(settings.writers), metrics, data_dir,
                                    MatchContexts(engines.redis))
                # Reads the write-ahead log: what a crash left unstored is stored before new batches.
                await pipeline.open()
            app.state.pipeline = pipeline
            # Players (identity/): its service, and its resolver handed to query (?expand=identity).
            app.state.identity_resolver = (await open_identity(app)).resolver
            live = LiveState(engines.redis, settings.live_ttl_s, metrics.live_servers.set)
            pipeline.after_commit.append(live.update)
            for make_hook in app.state.wiring.after_commit:
                pipeline.after_commit.append(make_hook(app))
            app.state.uploads = await UploadService.open(settings, engines, metrics, data_dir)
            pipeline.start()
            if settings.mqtt_url:  # MQTT beside HTTP: the same admission (ingest/mqtt.py)
                app.state.mqtt = MqttIngest(settings, pipeline, metrics, engines.pg)
                app.state.mqtt.start()
            lag_watch = asyncio.create_task(watch_event_loop(metrics.event_loop_lag.observe))
            yield
            lag_watch.cancel()
            await drain(app)
            await app.state.uploads.close()
        finally:
            await engines.close()

    routes = [
        Route("/health", health),
        Route("/ready", ready),
        Route("/metrics", metrics_endpoint),
        Route("/openapi.json", openapi.openapi_json),
        Route("/docs", openapi.docs_page),
        *servers.routes,
        *ingest.routes.routes,
        *query.routes.routes,
        *tournaments.routes.routes,
        *uploads.routes.routes,
        *identity.routes.routes,
    ]
    app = DirectApp(
        routes=routes,
        direct=ingest.routes.direct,
        # Metrics outermost, so that they count the 500 that ErrorAnswerMiddleware answers.
        middleware=[Middleware(HTTPMetricsMiddleware, metrics=metrics), Middleware(ErrorAnswerMiddleware)],
        exception_handlers={HTTPException: http_exception_handler, StatusError: status_error_handler,
                            ClientDisconnect: client_disconnect_handler,
                            Exception: unhandled_exception_handler},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.draining = False
    app.state.wiring = wiring()
    app.state.identity_resolver = NoIdentities()  # replaced by identity's at start-up
    return app


async def drain(app: Starlette) -> None:
    """Stop admitting (ingest answers 503), flush the queue, stop the writers. Idempotent."""
    app.state.draining = True
    app.state.metrics.draining.set(1)
    if getattr(app.state, "mqtt", None) is not None:
        await app.state.mqtt.stop()
    pipeline = getattr(app.state, "pipeline", None)
    if pipeline is not None:
        await pipeline.drain()
