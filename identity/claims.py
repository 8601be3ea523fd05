"""Claiming game identities: claim codes, `login <code>` codes, links between player ids and users.

- A signed-in user asks for a claim code (`new_code`, kind `claim`) and types `!claim CODE` in game
  chat, or the game server posts it (`POST /api/v1/auth/claim/verify`). The player id the code comes
  with (GUID, else name@server: `fragstats.identities.player_id`) is then linked to the user.
- A signed-in user asks for a login code (kind `login`) and types `login CODE` in an OpenMOHAA game;
  the game server checks it (`POST /api/v1/auth/verify`) and the GUID is linked too when it is
  nobody's yet.
- Codes: `identity.codes` (40 bits, keyed hash, single use, `FRAGSTATS_CODE_TTL_S`).
- A player id has one owner (`player_links` primary key): claiming one that another user owns is
  refused (409 `already_claimed`); the owner may unlink it. Every link and unlink is kept in
  `player_link_history` and copied to ClickHouse `player_links` (`IdentityService.mirror_links`).
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from fragstats.errors import ApiError
from identity.codes import code_hash, new_code, normalize, pretty

CLAIM_COMMAND = re.compile(r"^\s*!claim\s+([A-Za-z0-9-]{4,20})\s*$", re.IGNORECASE)
_TABLES = {"claim": "claim_codes", "login": "login_codes"}


class Linked(msgspec.Struct):
    """The outcome of a code that linked (or re-confirmed) a player id."""

    user_id: int
    display_name: str
    player_id: str
    created: bool


async def issue_code(ident, user_id: int, kind: str) -> dict:
    """A new `kind` (`claim` | `login`) code of `user_id`: `{"code": "ABCD-EFGH", "expires_in": s}`."""
    code = new_code()
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=ident.settings.code_ttl_s)
    await ident.pool.execute(f"DELETE FROM {_TABLES[kind]} WHERE expires_at < now() - interval '1 day'")
    await ident.pool.execute(f"INSERT INTO {_TABLES[kind]} (code_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                             code_hash(ident.secret, code), user_id, expires)
    return {"code": pretty(code), "expires_in": ident.settings.code_ttl_s}


async def take_code(conn, ident, kind: str, typed: str) -> int | None:
    """Use up a `kind` code (single use): the user id it belongs to, or None when it is not a code,
    unknown, used or expired. Call inside the transaction that acts on it."""
    code = normalize(typed)
    if code is None:
        return None
    return await conn.fetchval(
        f"UPDATE {_TABLES[kind]} SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()"
        " RETURNING user_id", code_hash(ident.secret, code))


async def link(conn, user_id: int, player_id: str, player_name: str, server_id: int | None, method: str,
               *, steal: bool = False) -> bool:
    """Link `player_id` to `user_id` (in `conn`'s transaction). True when newly linked, False when it
    already was this user's. Raises ApiError 409 `already_claimed` when another user owns it."""
    owner = await conn.fetchval("SELECT user_id FROM player_links WHERE player_id = $1 FOR UPDATE", player_id)
    if owner == user_id:
        return False
    if owner is not None and not steal:
        raise ApiError(409, "already_claimed", "this player id is linked to another user")
    await conn.execute(
        "INSERT INTO player_links (player_id, user_id, player_name, server_id, method) VALUES ($1, $2, $3, $4, $5)",
        player_id, user_id, player_name[:200], server_id, method)
    await conn.execute("INSERT INTO player_link_history (player_id, user_id, action, method, player_name)"
                       " VALUES ($1, $2, 'link', $3, $4)", player_id, user_id, method, player_name[:200])
    return True


async def redeem_claim(ident, typed: str, player_id: str, player_name: str, server_id: int, method: str,
                       limit_key: str) -> Linked:
    """A claim code typed by (or for) `player_id`: link it to the code's user. The code is used up
    even when the link is refused (a code names one attempt).

    Raises ApiError 429 (`limit_key` over its wrong-code limit: the code is not checked), 400
    `invalid_code` (not a code, unknown, used or expired; counted against `limit_key`), 422
    `invalid_player` (no player id), 409 `already_claimed`."""
    ident.guard.check(limit_key, "claim_code")
    if not player_id:
        raise ApiError(422, "invalid_player", "player_guid or player_name is required")
    async with ident.pool.acquire() as conn, conn.transaction():
        user_id = await take_code(conn, ident, "claim", typed)
        if user_id is None:
            raise ident.guard.wrong(limit_key, "claim_code", 400, "invalid_code",
                                    "unknown, used or expired claim code")
        await conn.execute("UPDATE claim_codes SET player_id = $2 WHERE code_hash = $1",
                           code_hash(ident.secret, normalize(typed)), player_id)
        created = await link(conn, user_id, player_id, player_name, server_id, method)
        name = await conn.fetchval("SELECT display_name FROM users WHERE id = $1", user_id)
    if created:
        await linked_now(ident, player_id, user_id, method)
    return Linked(user_id, name, player_id, created)


async def linked_now(ident, player_id: str, user_id: int, method: str) -> None:
    """After a link is committed: forget cached answers, copy it to ClickHouse, count it."""
    ident.resolver.forget([player_id])
    await ident.mirror_links([(player_id, user_id, 1)])
    ident.links_total.labels(method).inc()


async def unlink(ident, user_id: int, player_id: str) -> None:
    """Remove `user_id`'s link of `player_id`. Raises ApiError 404 when it is not theirs."""
    async with ident.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("DELETE FROM player_links WHERE player_id = $1 AND user_id = $2"
                                  " RETURNING method, player_name", player_id, user_id)
        if row is None:
            raise ApiError(404, "not_found", "this player id is not linked to you")
        await conn.execute("INSERT INTO player_link_history (player_id, user_id, action, method, player_name)"
                           " VALUES ($1, $2, 'unlink', $3, $4)", player_id, user_id, row["method"], row["player_name"])
    ident.resolver.forget([player_id])
    await ident.mirror_links([(player_id, user_id, 0)])


async def identities(ident, user_id: int) -> dict:
    """`{"identities": [{"player_id", "player_name", "server_id", "method", "linked_at"}], "aliases": [str],
    "names": [{"player_id", "player_name", "first_seen", "last_seen", "matches"}], "history": [{"player_id",
    "action", "method", "player_name", "at"}]}`: a user's links, aliases, the names its linked ids played
    under (from the per-match aggregate, newest first) and the link history (ISO-8601 UTC times)."""
    rows = await ident.pool.fetch("SELECT player_id, player_name, server_id, method, linked_at FROM player_links"
                                  " WHERE user_id = $1 ORDER BY linked_at, player_id", user_id)
    aliases = await ident.pool.fetch("SELECT alias FROM user_aliases WHERE user_id = $1 ORDER BY alias", user_id)
    history = await ident.pool.fetch("SELECT player_id, action, method, player_name, at FROM player_link_history"
                                     " WHERE user_id = $1 ORDER BY seq DESC LIMIT 100", user_id)
    ids = [r["player_id"] for r in rows]
    names = []
    if ids:
        names = await ident.engines.query("""
            SELECT player_id, name, min(started) AS first_seen, max(started) AS last_seen, count() AS matches FROM (
                SELECT player_id, match_id, anyLast(player_name) AS name, min(started_at) AS started
                FROM player_match WHERE player_id IN {ids:Array(String)} GROUP BY player_id, match_id)
            WHERE name != '' GROUP BY player_id, name ORDER BY last_seen DESC LIMIT 200""", {"ids": ids})
    iso = lambda t: t.replace(tzinfo=t.tzinfo or dt.timezone.utc).isoformat()  # noqa: E731
    return {"identities": [{**dict(r), "linked_at": iso(r["linked_at"])} for r in rows],
            "aliases": [r["alias"] for r in aliases],
            "names": [{"player_id": p, "player_name": n, "first_seen": iso(f), "last_seen": iso(la), "matches": c}
                      for p, n, f, la, c in names],
            "history": [{**dict(r), "at": iso(r["at"])} for r in history]}
