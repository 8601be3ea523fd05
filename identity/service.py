"""The identity package's state in one app process, made at start-up (`open_identity`).

The assembly (`fragstats/app.py`) calls `open_identity(app)` in its lifespan, after the engines and
migrations; it finds everything on `app.state.identity`, and hands `resolver` to `query` as
`app.state.identity_resolver`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from prometheus_client import Counter
from starlette.requests import Request

from fragstats.auth_failures import FailedAuth
from identity.achievement_store import AchievementStore
from identity.codes import CodeGuard
from identity.providers import configured
from identity.resolve import Resolver
from identity.sessions import Sessions, load_secret

log = logging.getLogger("fragstats.identity")


@dataclass
class IdentityService:
    settings: object
    engines: object
    secret: bytes
    sessions: Sessions
    providers: dict
    guard: CodeGuard
    resolver: Resolver
    resolve_limiter: FailedAuth
    links_total: Counter
    unlocks_total: Counter
    achievements: AchievementStore

    @property
    def pool(self):
        return self.engines.pg

    @property
    def redis(self):
        return self.engines.redis

    async def mirror_links(self, rows: list[tuple[str, int, int]]) -> None:
        """Copy link changes `(player_id, user_id, linked 0|1)` into ClickHouse `player_links`
        (`?by=user` boards), versioned by the time now (ms)."""
        if not rows:
            return
        version = time.time_ns() // 1_000_000
        data = [[pid, uid, linked, version] for pid, uid, linked in rows]
        client = self.engines.ch_reader
        await asyncio.to_thread(client.insert, "player_links", data,
                                column_names=["player_id", "user_id", "linked", "version"])


def identity_of(request: Request) -> IdentityService:
    return request.app.state.identity


def base_url(request: Request) -> str:
    """This site's base URL as people reach it: `FRAGSTATS_PUBLIC_URL`, else the request's own."""
    configured_url = request.app.state.settings.public_url
    return (configured_url or str(request.base_url)).rstrip("/")


async def open_identity(app) -> IdentityService:
    """Build the identity service of `app` (engines open, migrations applied), copy every link into
    ClickHouse (so a ClickHouse restored from older data agrees with Postgres) and put the service on
    `app.state.identity`."""
    settings, engines, registry = app.state.settings, app.state.engines, app.state.metrics.registry
    secret = load_secret(settings.session_secret, settings.resolved_data_dir())
    unlocks_total = Counter("fragstats_achievement_unlocks_total", "Achievements unlocked (live and backfill).",
                            registry=registry)
    achievements = AchievementStore(engines.pg, engines, engines.redis, unlocks_total, settings.achievements_page_rows)
    await achievements.load_definitions()
    service = IdentityService(
        settings=settings, engines=engines, secret=secret,
        sessions=Sessions(engines.pg, secret, settings.session_days, settings.access_token_s),
        providers=configured(settings), guard=CodeGuard.from_settings(settings, registry),
        resolver=Resolver(engines.pg, settings.identity_cache_ttl_s, settings.identity_negative_ttl_s,
                          settings.identity_cache_entries),
        # The kernel's token bucket per address (bounded memory), here counting every request, not failures.
        resolve_limiter=FailedAuth(settings.resolve_rate_burst, settings.resolve_rate_per_s,
                                   settings.auth_failure_max_addresses),
        links_total=Counter("fragstats_identity_links_total", "Player ids linked to users, by how: chat, server, login.",
                            ["method"], registry=registry),
        unlocks_total=unlocks_total, achievements=achievements)
    for method in ("chat", "server", "login"):
        service.links_total.labels(method)
    rows = await engines.pg.fetch("SELECT player_id, user_id FROM player_links")
    linked = {r["player_id"]: r["user_id"] for r in rows}
    in_clickhouse = await engines.query("SELECT player_id, user_id FROM player_links FINAL WHERE linked = 1")
    stale = [(pid, uid, 0) for pid, uid in in_clickhouse if pid not in linked]
    await service.mirror_links([(pid, uid, 1) for pid, uid in linked.items()] + stale)
    app.state.identity = service
    return service
