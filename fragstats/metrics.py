"""Prometheus metrics, named by Prometheus' conventions (`fragstats_` prefix, base units, counters `_total`,
low-cardinality labels only — never a player, match or server id).

Each app builds its own `Metrics` on its own `CollectorRegistry`, so tests can run several apps in
one process without "duplicated timeseries" errors.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

# `_created` series double the exposition and no dashboard reads them.
disable_created_metrics()

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 10, 100, 500, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000)


class Metrics:
    """All metric objects of one app."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.events_received = Counter("fragstats_ingest_events_received_total",
                                       "Events in ingest requests, valid or not.", registry=r)
        self.events_accepted = Counter("fragstats_ingest_events_accepted_total",
                                       "Events validated and queued (answered 202).", registry=r)
        self.events_rejected = Counter("fragstats_ingest_events_rejected_total",
                                       "Events refused by validation, by reason.", ["reason"], registry=r)
        self.events_shed = Counter("fragstats_ingest_events_shed_total",
                                   "Valid events refused because the queue was full (429).", registry=r)
        self.requests_shed = Counter("fragstats_ingest_requests_shed_total",
                                     "Ingest requests answered 429 (load shedding), 503 (draining) or 507 (disk full).",
                                     ["status"], registry=r)
        for status in ("429", "503", "507"):  # every answer's series exists from start-up, at 0
            self.requests_shed.labels(status)
        self.queue_events = Gauge("fragstats_queue_events", "Events waiting in the ingest queue.", registry=r)
        self.queue_capacity = Gauge("fragstats_queue_capacity_events", "Capacity of the ingest queue.", registry=r)
        self.batch_size = Histogram("fragstats_batch_size_events", "Events per inserted batch.",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.insert_seconds = Histogram("fragstats_insert_seconds", "Time of one batch insert into ClickHouse.",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.insert_failures = Counter("fragstats_insert_failures_total",
                                       "Failed insert attempts (each is retried, then spooled).", registry=r)
        self.events_committed = Counter("fragstats_events_committed_total",
                                        "Events inserted into ClickHouse (including spool replays).", registry=r)
        self.events_spooled = Counter("fragstats_spooled_events_total",
                                      "Events written to the spool after their insert kept failing.", registry=r)
        self.spool_events = Gauge("fragstats_spool_events", "Events in the spool waiting for replay.", registry=r)
        self.queue_bytes = Gauge("fragstats_queue_bytes", "Bytes of encoded events waiting in the ingest queue.", registry=r)
        self.queue_capacity_bytes = Gauge("fragstats_queue_capacity_bytes", "Capacity of the ingest queue in bytes.",
                                          registry=r)
        self.events_dead_lettered = Counter("fragstats_dead_lettered_events_total",
                                            "Events ClickHouse refused for their content, put in the dead-letter store.",
                                            registry=r)
        self.dead_letter_events = Gauge("fragstats_dead_letter_events",
                                        "Events in the dead-letter store waiting for a redrive.", registry=r)
        self.after_commit_dropped = Counter("fragstats_after_commit_dropped_total",
                                            "Committed batches an after-commit hook fell too far behind to see.",
                                            ["hook"], registry=r)
        self.disk_full = Gauge("fragstats_disk_full",
                               "1 while ingest refuses to acknowledge (507) for lack of disk space.", registry=r)
        self.wal_bytes = Gauge("fragstats_wal_bytes", "Size of the write-ahead log on disk.", registry=r)
        self.wal_fsync_seconds = Histogram("fragstats_wal_fsync_seconds",
                                           "Time of one group write + fsync of the write-ahead log.",
                                           buckets=_LATENCY_BUCKETS, registry=r)
        self.event_loop_lag = Histogram("fragstats_event_loop_lag_seconds",
                                        "How late the event loop ran a timer (sampled every 50 ms): time the"
                                        " loop spent on other work before it could serve a ready request.",
                                        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
                                        registry=r)
        self.http_seconds = Histogram("fragstats_http_request_seconds", "HTTP request time by route and status.",
                                      ["route", "method", "status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.live_servers = Gauge("fragstats_live_servers", "Game servers that sent an event recently.", registry=r)
        self.draining = Gauge("fragstats_draining", "1 while the app drains its queue before exiting.", registry=r)
        self.auth_failures = Counter("fragstats_auth_failures_total",
                                     "Failed authentications (answered 401, or 429 once the address is over its"
                                     " limit), by credential kind: server_token, api_key, admin_token.",
                                     ["kind"], registry=r)
        self.auth_limited = Counter("fragstats_auth_limited_total",
                                    "Failed authentications answered 429 because their client address failed too"
                                    " often, by credential kind.", ["kind"], registry=r)
        self.http_timeouts = Counter("fragstats_http_timeouts_total",
                                     "Connections closed because a request's headers or body arrived too slowly,"
                                     " by phase: headers, body.", ["phase"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def watch_event_loop(observe, interval_s: float = 0.05) -> None:
    """Run for ever on the loop: every `interval_s` seconds, `observe` how late (s) a timer fired.
    A lag is time every request ready meanwhile waited, whatever held the loop (a long callback, a
    thread holding the GIL); it is what a p99 time to answer is made of when the disk is not."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        observe(max(0.0, loop.time() - due))


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: Prometheus text exposition of this process's metrics."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


class HTTPMetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request by its route *template* (`/api/v1/stats/match/{match_id}`),
    never the raw path, so the label stays low-cardinality."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None)
            # A route inside a `Mount` has a path relative to it; the mount's path (no parameters in
            # a mount's own path, so still a template) is what the routing added to `root_path`.
            mounted = scope.get("root_path", "")[len(scope.get("app_root_path", "")):]
            path = mounted + path if path is not None else "unmatched"
            self.metrics.http_seconds.labels(path, scope.get("method", ""), str(status_holder[0])).observe(
                time.perf_counter() - start)
