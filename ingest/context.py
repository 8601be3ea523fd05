"""Which map and game type each match is on, so every event row carries them.

The tracker only names the map in `match_start` / `match_end` (and we also take it from any event
that carries one); kills and shots do not. The batch writer fills `map_name` and `gametype` of the
other events from this context, keyed by (server_id, session_id) — one session is one map load.
The context also lives in Redis (with a TTL) so a restart mid-match does not lose it.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import redis.asyncio as redis_asyncio

_KEY = "fragstats:ctx:{}:{}"
_MAX_LOCAL = 20_000
# A session Redis did not know either is not asked about again for this long (s): without this,
# every request of a match whose match_start we never saw would cost a Redis round trip.
_UNKNOWN_TTL_S = 30.0


class MatchContexts:
    """(server_id, session_id) -> (map_name, gametype), in memory first, Redis second."""

    def __init__(self, redis: redis_asyncio.Redis | None, ttl_s: int = 6 * 3600):
        self.redis = redis
        self.ttl_s = ttl_s
        self._local: OrderedDict[tuple[int, str], tuple[str, str]] = OrderedDict()
        self._unknown: dict[tuple[int, str], float] = {}  # key -> monotonic time until which not to ask

    def _remember(self, key: tuple[int, str], value: tuple[str, str]) -> None:
        self._local[key] = value
        self._local.move_to_end(key)
        if len(self._local) > _MAX_LOCAL:
            self._local.popitem(last=False)

    async def enrich(self, events: list) -> None:
        """Fill empty `map_name`/`gametype` in place, learning from events that carry them.

        Events are taken in order, so a `match_start` earlier in the batch informs the kills after it.
        One Redis round trip per batch at most (MGET of the sessions not known locally), one
        pipelined write for what was learnt.
        """
        local = self._local
        missing: set[tuple[int, str]] = set()
        last = None
        for ev in events:
            if not ev.map_name and ev.session_id and ev.session_id is not last:
                last = ev.session_id  # runs of one session: look each run up once
                key = (ev.server_id, ev.session_id)
                if key not in local:
                    missing.add(key)
        if missing and self.redis is not None:
            now = time.monotonic()
            keys = [k for k in missing if self._unknown.get(k, 0.0) < now]
            if keys:
                values = await self.redis.mget([_KEY.format(*k) for k in keys])
                if len(self._unknown) > _MAX_LOCAL:
                    self._unknown.clear()
                for key, value in zip(keys, values):
                    if value:
                        map_name, _, gametype = value.partition("\t")
                        self._remember(key, (map_name, gametype))
                    else:
                        self._unknown[key] = now + _UNKNOWN_TTL_S
        learnt: dict[tuple[int, str], tuple[str, str]] = {}
        last_sid, last_session, known = None, None, None
        for ev in events:
            if not ev.session_id:
                continue
            if ev.map_name:
                key = (ev.server_id, ev.session_id)
                known = local.get(key)
                value = (ev.map_name, ev.gametype or (known[1] if known else ""))
                if known != value:
                    self._remember(key, value)
                    learnt[key] = value
                if not ev.gametype:
                    ev.gametype = value[1]
                last_session = None  # the context may have changed: look it up again
            else:
                if ev.session_id is not last_session or ev.server_id != last_sid:
                    last_sid, last_session = ev.server_id, ev.session_id
                    known = local.get((last_sid, last_session))
                if known:
                    ev.map_name, gametype = known
                    if not ev.gametype:
                        ev.gametype = gametype
        if learnt and self.redis is not None:
            pipe = self.redis.pipeline(transaction=False)
            for key, (map_name, gametype) in learnt.items():
                pipe.set(_KEY.format(*key), f"{map_name}\t{gametype}", ex=self.ttl_s)
            await pipe.execute()
