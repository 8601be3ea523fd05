"""Player id -> user, cached: the `fragstats.identities.IdentityResolver` the assembly hands to `query`.

Postgres `player_links` is the truth. Answers are cached per player id in this process
(`cachetools.TLRUCache`): a linked id for `FRAGSTATS_IDENTITY_CACHE_TTL_S` (30 min), an id linked to
nobody for `FRAGSTATS_IDENTITY_NEGATIVE_TTL_S` (5 min), at most `FRAGSTATS_IDENTITY_CACHE_ENTRIES`
ids. A link or unlink made by this process drops the id at once (`forget`); other processes see it
within those times. When Postgres cannot answer, the ids are left out and a warning says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from cachetools import TLRUCache

from fragstats.identities import Identity, UserIdentities

log = logging.getLogger("fragstats.identity")
_MISS = object()


class Resolver:
    """The identity package's resolver (see the module docstring)."""

    def __init__(self, pool, ttl_s: float, negative_ttl_s: float, max_entries: int):
        self.pool = pool
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._cache: TLRUCache = TLRUCache(
            maxsize=max_entries, ttu=lambda _k, v, now: now + (self.ttl_s if v is not None else self.negative_ttl_s),
            timer=time.monotonic)

    def forget(self, player_ids: Iterable[str] = ()) -> None:
        """Drop cached answers for `player_ids` (all of them when empty)."""
        ids = list(player_ids)
        if not ids:
            self._cache.clear()
        for pid in ids:
            self._cache.pop(pid, None)

    async def resolve(self, player_ids: Iterable[str]) -> tuple[dict[str, Identity | None], list[str]]:
        """({player id: Identity or None (linked to no user)}, warnings); ids missing from the mapping
        could not be looked up."""
        out: dict[str, Identity | None] = {}
        wanted = []
        for pid in dict.fromkeys(player_ids):
            hit = self._cache.get(pid, _MISS)
            if hit is _MISS:
                wanted.append(pid)
            else:
                out[pid] = hit
        if not wanted:
            return out, []
        try:
            rows = await self.pool.fetch(
                "SELECT l.player_id, u.id, u.display_name, u.avatar_url FROM player_links l"
                " JOIN users u ON u.id = l.user_id WHERE l.player_id = ANY($1::text[])", wanted)
        except Exception as exc:  # the answer stays useful without names; say why they are missing
            log.warning("resolving %d player ids failed: %s", len(wanted), exc)
            return out, [f"identities could not be looked up now ({type(exc).__name__}); {len(wanted)} ids left out"]
        found = {r["player_id"]: Identity(r["id"], r["display_name"], r["avatar_url"]) for r in rows}
        for pid in wanted:
            out[pid] = self._cache[pid] = found.get(pid)
        return out, []

    async def user(self, user_id: int) -> UserIdentities | None:
        """The user with every linked player id (oldest link first); None when no such user."""
        row = await self.pool.fetchrow("SELECT id, display_name, avatar_url FROM users WHERE id = $1", user_id)
        if row is None:
            return None
        ids = await self.pool.fetch("SELECT player_id FROM player_links WHERE user_id = $1 ORDER BY linked_at, player_id",
                                    user_id)
        return UserIdentities(row["id"], row["display_name"], row["avatar_url"], [r["player_id"] for r in ids])

    async def links(self) -> dict[str, int]:
        """Every linked player id -> its user id."""
        return {r["player_id"]: r["user_id"] for r in await self.pool.fetch("SELECT player_id, user_id FROM player_links")}
