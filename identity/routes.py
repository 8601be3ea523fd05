"""JSON routes of players: accounts (`/api/v1/users/...`), tokens, the device grant, game logins and
identity claims (`/api/v1/auth/...`), achievements (`/api/v1/achievements/...`), and the sign-in
round trip (`/auth/...`, `identity.signin`).

"Signed in" means the session cookie of the pages or `Authorization: Bearer fsu_...`
(`identity.sessions`). Times are ISO-8601 UTC unless a field says `_in` (seconds).
"""

from __future__ import annotations

import hashlib
import math

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fragstats.auth_failures import client_address
from fragstats.bodies import read_json
from fragstats.errors import ApiError
from fragstats.identities import player_id as player_id_of
from fragstats.params import INT4_MAX, int_param, path_id
from fragstats.servers import NewKey, issue_key
from identity import claims, device, pages, signin
from identity.codes import code_hash, normalize
from identity.service import base_url, identity_of
from identity.users import UserPatch, checked_patch, get_user, update_user


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json", headers=headers)


# ---- bodies --------------------------------------------------------------------------------------

class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    client: str = ""


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str


class RevokeRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class DeviceInit(msgspec.Struct, forbid_unknown_fields=True):
    client: str = ""


class DevicePoll(msgspec.Struct):
    device_code: str


class DeviceDecision(msgspec.Struct, forbid_unknown_fields=True):
    user_code: str
    approve: bool = True


class ClaimVerify(msgspec.Struct):
    code: str
    player_guid: str | int | None = None
    player_name: str = ""


class GameLogin(msgspec.Struct):
    """`POST /api/v1/auth/verify` as the OpenMOHAA scripts send it (numbers may come as strings)."""

    token: str
    player_guid: str | int | None = None
    player_name: str = ""
    server_id: int | str | None = None
    server_ip: str | None = None
    server_port: int | str | None = None


class NewAlias(msgspec.Struct, forbid_unknown_fields=True):
    alias: str


# ---- accounts ------------------------------------------------------------------------------------

async def me(request: Request) -> Response:
    """`GET /api/v1/users/me` (signed in): `{"user_id", "display_name", "avatar_url", "country", "role",
    "banned_until", "created_at", "identities": n linked player ids}`; 401 when not signed in."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    n = await ident.pool.fetchval("SELECT count(*) FROM player_links WHERE user_id = $1", user.id)
    return _json({**user.to_json(), "identities": n})


async def patch_me(request: Request) -> Response:
    """`PATCH /api/v1/users/me` (signed in): body `{"display_name"?, "avatar_url"?, "country"?}` (null
    clears the last two); the updated user as `GET`. 422 for a blank name, a non-http(s) avatar URL
    or a country that is not two letters."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    patch = await read_json(request, UserPatch)
    updated = await update_user(ident.pool, user.id, checked_patch(patch))
    return _json(updated.to_json())


async def my_identities(request: Request) -> Response:
    """`GET /api/v1/users/me/identities` (signed in): `{"identities": [{"player_id", "player_name",
    "server_id", "method", "linked_at"}], "aliases", "names": [{"player_id", "player_name", "first_seen",
    "last_seen", "matches"}], "history": [...]}` (see `identity.claims.identities`)."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    return _json(await claims.identities(ident, user.id))


async def unlink_identity(request: Request) -> Response:
    """`DELETE /api/v1/users/me/identities/{player_id}` (signed in): unlink one of your player ids; 204,
    or 404 when it is not linked to you."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    await claims.unlink(ident, user.id, request.path_params["player_id"])
    return Response(status_code=204)


async def add_alias(request: Request) -> Response:
    """`POST /api/v1/users/me/aliases` (signed in): body `{"alias": "1..64 characters"}`; 201 `{"aliases"}`."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    alias = " ".join((await read_json(request, NewAlias)).alias.split())
    if not 1 <= len(alias) <= 64:
        raise ApiError(422, "invalid_body", "alias must hold 1..64 visible characters")
    await ident.pool.execute("INSERT INTO user_aliases (user_id, alias) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                             user.id, alias)
    rows = await ident.pool.fetch("SELECT alias FROM user_aliases WHERE user_id = $1 ORDER BY alias", user.id)
    return _json({"aliases": [r["alias"] for r in rows]}, 201)


class NewUploadKey(msgspec.Struct, forbid_unknown_fields=True):
    name: str


MAX_OWN_KEYS = 10  # live upload keys one user may hold


async def create_my_key(request: Request) -> Response:
    """`POST /api/v1/users/me/keys` (signed in): body `{"name": "1..64 characters"}`; an upload key of
    your own (scope `upload`, the `FRAGSTATS_UPLOAD_*` rate and quotas). 201 `{"key_id", "name",
    "scopes", "key", ...}` — the key is shown only here; 409 when you hold `MAX_OWN_KEYS` live keys."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    name = " ".join((await read_json(request, NewUploadKey)).name.split())
    if not 1 <= len(name) <= 64:
        raise ApiError(422, "invalid_body", "name must hold 1..64 visible characters")
    live = await ident.pool.fetchval("SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL", user.id)
    if live >= MAX_OWN_KEYS:
        raise ApiError(409, "too_many_keys", f"you hold {live} live keys; revoke one first")
    return _json(await issue_key(ident.pool, NewKey(name=name, scopes=["upload"]), user_id=user.id), 201)


async def my_keys(request: Request) -> Response:
    """`GET /api/v1/users/me/keys` (signed in): `{"keys": [{"key_id", "name", "scopes", "created_at",
    "revoked_at"}]}`, your upload keys, newest first (never the keys themselves)."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    rows = await ident.pool.fetch("SELECT id, name, scopes, created_at, revoked_at FROM api_keys WHERE user_id = $1"
                                  " ORDER BY id DESC", user.id)
    return _json({"keys": [{"key_id": r["id"], "name": r["name"], "scopes": list(r["scopes"]),
                            "created_at": r["created_at"].isoformat(),
                            "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None} for r in rows]})


async def revoke_my_key(request: Request) -> Response:
    """`DELETE /api/v1/users/me/keys/{key_id}` (signed in): revoke one of your keys; 204, or 404 when
    you hold no such live key."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    key_id = path_id(request.path_params, "key_id")
    done = await ident.pool.fetchval("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND user_id = $2"
                                     " AND revoked_at IS NULL RETURNING id", key_id, user.id)
    if done is None:
        raise ApiError(404, "not_found", f"you hold no live key {key_id}")
    return Response(status_code=204)


async def remove_alias(request: Request) -> Response:
    """`DELETE /api/v1/users/me/aliases/{alias}` (signed in): 204, or 404 when you have no such alias."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    done = await ident.pool.fetchval("DELETE FROM user_aliases WHERE user_id = $1 AND alias = $2 RETURNING alias",
                                     user.id, request.path_params["alias"])
    if done is None:
        raise ApiError(404, "not_found", "no such alias")
    return Response(status_code=204)


async def user_card(request: Request) -> Response:
    """`GET /api/v1/users/{user_id}`: a user's public card `{"user_id", "display_name", "avatar_url",
    "country", "created_at", "player_ids", "aliases"}`; 404 when there is no such user."""
    ident = identity_of(request)
    user = await get_user(ident.pool, path_id(request.path_params, "user_id"))
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    ids = await ident.pool.fetch("SELECT player_id FROM player_links WHERE user_id = $1 ORDER BY linked_at", user.id)
    aliases = await ident.pool.fetch("SELECT alias FROM user_aliases WHERE user_id = $1 ORDER BY alias", user.id)
    card = {k: v for k, v in user.to_json().items() if k in ("user_id", "display_name", "avatar_url", "country",
                                                              "created_at")}
    return _json({**card, "player_ids": [r["player_id"] for r in ids], "aliases": [r["alias"] for r in aliases]})


async def resolve(request: Request) -> Response:
    """`GET /api/v1/users/resolve?ids=`: the users behind player ids (comma-separated, or `ids` repeated;
    at most `FRAGSTATS_RESOLVE_MAX_IDS`).

    200 `{"identities": {player_id: {"user_id", "display_name", "avatar_url"} | null}, "warnings": [...]}`
    with `ETag`, `Cache-Control: public, max-age=300` (304 for a matching `If-None-Match`) and
    `X-RateLimit-Remaining` (requests this address may still make at once); 400 without ids or with too
    many; 429 + `Retry-After` past `FRAGSTATS_RESOLVE_RATE_BURST` (refilled at `..._RATE_PER_S`)."""
    ident = identity_of(request)
    address = client_address(request)
    wait, _ = ident.resolve_limiter.record(address)
    remaining = {"X-RateLimit-Remaining": str(ident.resolve_limiter.remaining(address))}
    if wait is not None:
        retry = str(max(1, math.ceil(wait)))
        raise ApiError(429, "rate_limited", f"too many requests; retry after {retry} s",
                       {"Retry-After": retry, **remaining})
    ids = [i.strip() for raw in request.query_params.getlist("ids") for i in raw.split(",") if i.strip()]
    ids = list(dict.fromkeys(ids))
    if not ids or len(ids) > ident.settings.resolve_max_ids or any(len(i) > 200 for i in ids):
        raise ApiError(400, "invalid_parameter",
                       f"ids must name 1..{ident.settings.resolve_max_ids} player ids of at most 200 characters")
    found, warnings = await ident.resolver.resolve(ids)
    body = msgspec.json.encode({"identities": {pid: found.get(pid) for pid in ids if pid in found},
                                "warnings": warnings + [f"player id {pid!r} is linked to no user"
                                                        for pid in ids if pid in found and found[pid] is None]})
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300", **remaining}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


# ---- tokens --------------------------------------------------------------------------------------

async def token(request: Request) -> Response:
    """`POST /api/v1/auth/token` (signed in with the cookie): API tokens for scripts and tools,
    body `{"client"?: "a name"}`. 200 `{"access_token", "token_type": "Bearer", "expires_in" (s),
    "refresh_token"}`."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    body = await read_json(request, TokenRequest)
    return _json(await ident.sessions.issue_tokens(user.id, body.client or "api"), headers={"Cache-Control": "no-store"})


async def refresh(request: Request) -> Response:
    """`POST /api/v1/auth/token/refresh`: body `{"refresh_token"}`; a new pair as `POST /auth/token` (the
    old refresh token stops working). 400 `invalid_grant` for an unknown, used, revoked or expired one."""
    body = await read_json(request, RefreshRequest)
    return _json(await identity_of(request).sessions.refresh(body.refresh_token), headers={"Cache-Control": "no-store"})


async def revoke(request: Request) -> Response:
    """`POST /api/v1/auth/token/revoke`: body `{"token"}`, a refresh token (its access tokens end too)
    or an access token; 200 `{"revoked": true}` whether or not it existed (RFC 7009)."""
    body = await read_json(request, RevokeRequest)
    await identity_of(request).sessions.revoke(body.token)
    return _json({"revoked": True})


# ---- device grant (RFC 8628) ---------------------------------------------------------------------

async def device_init(request: Request) -> Response:
    """`POST /api/v1/auth/device/init`: body `{"client"?: "a name"}`; 200 `{"device_code", "user_code"
    ("ABCD-EFGH"), "verification_uri", "verification_uri_complete", "expires_in" (s), "interval" (s)}`
    (RFC 8628 §3.2)."""
    body = await read_json(request, DeviceInit)
    return _json(await device.start(identity_of(request), body.client, base_url(request) + "/device"),
                 headers={"Cache-Control": "no-store"})


async def device_poll(request: Request) -> Response:
    """`POST /api/v1/auth/device/poll`: body `{"device_code"}`. 200 with the tokens (as `POST
    /api/v1/auth/token`) once approved, once; else 400 `{"error": "authorization_pending" | "slow_down" |
    "expired_token" | "access_denied" | "invalid_grant"}` (RFC 8628 §3.5); 429 after too many unknown
    device codes from this address."""
    body = await read_json(request, DevicePoll)
    result = await device.poll(identity_of(request), body.device_code, client_address(request))
    return _json(result, headers={"Cache-Control": "no-store"})


async def device_decide(request: Request) -> Response:
    """`POST /api/v1/auth/device/approve` (signed in): body `{"user_code", "approve": true|false}`; 200
    `{"status": "approved"|"denied", "client"}`; 400 `invalid_code` (unknown, expired or decided), 429
    after too many wrong codes."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    body = await read_json(request, DeviceDecision)
    return _json(await device.decide(ident, user.id, body.user_code, body.approve, client_address(request)))


# ---- game logins and claims ------------------------------------------------------------------------

async def login_code(request: Request) -> Response:
    """`POST /api/v1/auth/login-code` (signed in): a code to type as `login CODE` in an OpenMOHAA game;
    201 `{"code": "ABCD-EFGH", "expires_in" (s)}`; single use."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    return _json(await claims.issue_code(ident, user.id, "login"), 201, {"Cache-Control": "no-store"})


async def verify_login(request: Request) -> Response:
    """`POST /api/v1/auth/verify`: the OpenMOHAA scripts' `login <token>` check, as they send it: body
    `{"token", "player_guid", "player_name", "server_id", "server_ip", "server_port"}`, no headers.

    200 `{"valid": true, "forum_user_id": our user id, "member_name": display name, "player_guid"}`
    when the token is a login code of a signed-in user (used up now); 401 `{"valid": false, "error":
    "invalid_token", ...}` otherwise; 429 `{"valid": false, "error": "too_many_attempts"}` (with
    `Retry-After`) after too many wrong codes from the address (then the code is not checked)."""
    ident = identity_of(request)
    body = await read_json(request, GameLogin)
    key = client_address(request)
    try:
        ident.guard.check(key, "login_code")
        async with ident.pool.acquire() as conn, conn.transaction():
            user_id = await claims.take_code(conn, ident, "login", body.token)
            if user_id is not None:  # who used it, for the record
                await conn.execute("UPDATE login_codes SET used_by = $2 WHERE code_hash = $1",
                                   code_hash(ident.secret, normalize(body.token)),
                                   msgspec.json.encode({k: getattr(body, k) for k in (
                                       "player_guid", "player_name", "server_id", "server_ip", "server_port")}).decode())
        if user_id is None:
            raise ident.guard.wrong(key, "login_code", 401, "invalid_token", "unknown, used or expired login token")
    except ApiError as exc:
        return JSONResponse({"valid": False, "error": exc.code, "detail": exc.detail}, exc.status_code, exc.headers)
    user = await get_user(ident.pool, user_id)
    guid = "" if body.player_guid is None else str(body.player_guid)
    return _json({"valid": True, "forum_user_id": user.id, "member_name": user.display_name, "player_guid": guid})


async def claim_init(request: Request) -> Response:
    """`POST /api/v1/auth/claim/init` (signed in): a claim code; type `!claim CODE` in game chat (or let
    the game server post it) to link the player id you play as. 201 `{"code": "ABCD-EFGH", "expires_in"
    (s), "chat": "!claim ABCD-EFGH"}`; single use."""
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    issued = await claims.issue_code(ident, user.id, "claim")
    return _json({**issued, "chat": f"!claim {issued['code']}"}, 201, {"Cache-Control": "no-store"})


async def claim_verify(request: Request) -> Response:
    """`POST /api/v1/auth/claim/verify` (a game server: `X-Server-Token`): body `{"code", "player_guid",
    "player_name"}`; links the player's id (the GUID, else `name@<server id>`) to the code's user.
    200 `{"linked": true, "created": bool, "user_id", "display_name", "player_id"}`; 400 `invalid_code`,
    409 `already_claimed` (another user owns that id), 422 without a player, 429 after too many wrong
    codes from the address (then the code is not checked)."""
    ident = identity_of(request)
    server_id = await request.app.state.auth.server_for(request)
    body = await read_json(request, ClaimVerify)
    pid = player_id_of(body.player_guid, body.player_name, server_id)
    result = await claims.redeem_claim(ident, body.code, pid, body.player_name, server_id, "server",
                                       client_address(request))
    return _json({"linked": True, **msgspec.structs.asdict(result)})


# ---- achievements --------------------------------------------------------------------------------

async def achievement_definitions(request: Request) -> Response:
    """`GET /api/v1/achievements`: every definition `{"code", "name", "description", "category", "tier",
    "points", "secret", "rule"}` (a secret one shows neither its name nor its rule)."""
    return _json({"achievements": identity_of(request).achievements.public_definitions()})


async def player_achievements(request: Request) -> Response:
    """`GET /api/v1/achievements/player/{player_id}`: a player id's achievements and progress:
    `{"player_id", "points", "unlocked", "achievements": [{..definition, "unlocked", "unlocked_at",
    "event": {"server_id", "match_id", "type", "timestamp", "occurred_at"}, "progress": {"counter",
    "value", "target"}}]}`."""
    pid = request.path_params["player_id"]
    return _json({"player_id": pid, **await identity_of(request).achievements.of_players([pid])})


async def user_achievements(request: Request) -> Response:
    """`GET /api/v1/users/{user_id}/achievements`: the same over every player id linked to the user (an
    achievement counts once, earliest unlock); 404 for no such user."""
    ident = identity_of(request)
    who = await ident.resolver.user(path_id(request.path_params, "user_id"))
    if who is None:
        raise ApiError(404, "not_found", "no such user")
    return _json({"user_id": who.user_id, "display_name": who.display_name, "player_ids": who.player_ids,
                  **await ident.achievements.of_players(who.player_ids)})


async def recent_unlocks(request: Request) -> Response:
    """`GET /api/v1/achievements/recent?limit=1..200`: the newest unlocks `{"unlocks": [{"code", "name",
    "player_id", "player_name", "unlocked_at", "event"}]}`."""
    limit = int_param(request.query_params, "limit", 50, lo=1, hi=200)
    return _json({"unlocks": await identity_of(request).achievements.recent(limit)})


async def achievement_leaderboard(request: Request) -> Response:
    """`GET /api/v1/achievements/leaderboard?limit=1..500&offset=`: player ids by achievement points
    `{"total", "limit", "offset", "players": [{"rank", "player_id", "player_name", "points", "unlocked"}]}`."""
    q = request.query_params
    limit = int_param(q, "limit", 50, lo=1, hi=500)
    offset = int_param(q, "offset", 0, lo=0, hi=INT4_MAX)
    return _json({"limit": limit, "offset": offset, **await identity_of(request).achievements.leaderboard(limit, offset)})


async def backfill(request: Request) -> Response:
    """`POST /api/v1/achievements/backfill` (admin): recompute all progress and unlocks from ClickHouse
    `raw_events`; 200 `{"events", "unlocks", "players", "seconds"}` (`fragstats achievements backfill`)."""
    request.app.state.auth.require_admin(request)
    return _json(await identity_of(request).achievements.backfill())


routes = [
    Route("/api/v1/users/me", me, methods=["GET"]),
    Route("/api/v1/users/me", patch_me, methods=["PATCH"]),
    Route("/api/v1/users/me/identities", my_identities, methods=["GET"]),
    Route("/api/v1/users/me/keys", create_my_key, methods=["POST"]),
    Route("/api/v1/users/me/keys", my_keys, methods=["GET"]),
    Route("/api/v1/users/me/keys/{key_id:int}", revoke_my_key, methods=["DELETE"]),
    Route("/api/v1/users/me/identities/{player_id}", unlink_identity, methods=["DELETE"]),
    Route("/api/v1/users/me/aliases", add_alias, methods=["POST"]),
    Route("/api/v1/users/me/aliases/{alias}", remove_alias, methods=["DELETE"]),
    Route("/api/v1/users/resolve", resolve, methods=["GET"]),
    Route("/api/v1/users/{user_id:int}", user_card, methods=["GET"]),
    Route("/api/v1/users/{user_id:int}/achievements", user_achievements, methods=["GET"]),
    Route("/api/v1/auth/token", token, methods=["POST"]),
    Route("/api/v1/auth/token/refresh", refresh, methods=["POST"]),
    Route("/api/v1/auth/token/revoke", revoke, methods=["POST"]),
    Route("/api/v1/auth/device/init", device_init, methods=["POST"]),
    Route("/api/v1/auth/device/poll", device_poll, methods=["POST"]),
    Route("/api/v1/auth/device/approve", device_decide, methods=["POST"]),
    Route("/api/v1/auth/login-code", login_code, methods=["POST"]),
    Route("/api/v1/auth/verify", verify_login, methods=["POST"]),
    Route("/api/v1/auth/claim/init", claim_init, methods=["POST"]),
    Route("/api/v1/auth/claim/verify", claim_verify, methods=["POST"]),
    Route("/api/v1/achievements", achievement_definitions, methods=["GET"]),
    Route("/api/v1/achievements/recent", recent_unlocks, methods=["GET"]),
    Route("/api/v1/achievements/leaderboard", achievement_leaderboard, methods=["GET"]),
    Route("/api/v1/achievements/player/{player_id}", player_achievements, methods=["GET"]),
    Route("/api/v1/achievements/backfill", backfill, methods=["POST"]),
    Route("/auth/{provider}/login", signin.begin, methods=["GET"]),
    Route("/auth/{provider}/callback", signin.callback, methods=["GET"]),
    Route("/auth/logout", signin.signout, methods=["POST"]),
    *pages.routes,
]
