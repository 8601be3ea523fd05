"""Game servers and API keys: registration, listing, revocation (admin only)."""

from __future__ import annotations

import base64
import hashlib
import os

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fragstats.auth import TOKEN_PREFIX_KEY, TOKEN_PREFIX_SERVER, new_token, token_hash
from fragstats.bodies import read_json
from fragstats.errors import ApiError
from fragstats.params import path_id


class NewServer(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    url: str | None = None


class NewKey(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    scopes: list[str] = msgspec.field(default_factory=lambda: ["tournaments"])
    # Upload limits of this key (None: the FRAGSTATS_UPLOAD_* defaults).
    rate_per_minute: int | None = None
    daily_bytes: int | None = None
    daily_uploads: int | None = None


KNOWN_SCOPES = frozenset({"tournaments", "upload", "read", "admin"})
_INT4_LIMIT = (1, 2**31 - 1)
_INT8_LIMIT = (1, 2**63 - 1)


BROKER_HASH_ITERATIONS = 1000


def broker_password_hash(password: str, iterations: int = BROKER_HASH_ITERATIONS) -> str:
    """`password` in mosquitto's password-file form: `$7$<iterations>$<salt>$<hash>`, PBKDF2-SHA512 with a
    12-byte random salt, base64 (the format `mosquitto_passwd` writes, mosquitto 2.x)."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _server_json(row) -> dict:
    return {"server_id": row["id"], "name": row["name"], "url": row["url"],
            "created_at": row["created_at"].isoformat(),
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None}


async def create_server(request: Request) -> JSONResponse:
    """`POST /api/v1/servers` (admin): register a game server.

    Body `{"name": str, "url": str?}`. Answers 201 `{"server_id": int, "name", "url", "token": str}`;
    the token is shown only here (stored as its SHA-256). 401 without the admin token, 422 for a bad body.
    """
    request.app.state.auth.require_admin(request)
    spec = await read_json(request, NewServer)
    name = spec.name.strip()
    if not 1 <= len(name) <= 200:
        raise ApiError(422, "invalid_body", "name must be 1..200 characters")
    token = new_token(TOKEN_PREFIX_SERVER)
    # The broker's form of the token too (MQTT publishers, ingest/mqtt.py): only computable now.
    row = await request.app.state.engines.pg.fetchrow(
        "INSERT INTO servers (name, url, token_hash, mqtt_password_hash) VALUES ($1, $2, $3, $4)"
        " RETURNING id, name, url, created_at, revoked_at", name, spec.url, token_hash(token),
        broker_password_hash(token))
    return JSONResponse({**_server_json(row), "token": token}, status_code=201)


async def list_servers(request: Request) -> JSONResponse:
    """`GET /api/v1/servers` (admin): `{"servers": [{"server_id", "name", "url", "created_at", "revoked_at"}]}`
    (ISO-8601 UTC times; tokens are never returned)."""
    request.app.state.auth.require_admin(request)
    rows = await request.app.state.engines.pg.fetch(
        "SELECT id, name, url, created_at, revoked_at FROM servers ORDER BY id")
    return JSONResponse({"servers": [_server_json(r) for r in rows]})


async def revoke_server(request: Request) -> Response:
    """`DELETE /api/v1/servers/{server_id}` (admin): revoke the server's token; its data stays.
    204 when revoked, 404 when no such (unrevoked) server."""
    request.app.state.auth.require_admin(request)
    server_id = path_id(request.path_params, "server_id")
    row = await request.app.state.engines.pg.fetchrow(
        "UPDATE servers SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id", server_id)
    if row is None:
        raise ApiError(404, "not_found", f"no active server {server_id}")
    request.app.state.auth.forget_servers()
    return Response(status_code=204)


async def issue_key(pool, spec: NewKey, user_id: int | None = None) -> dict:
    """Create an API key; returns `{"key_id", "name", "scopes", "key", "rate_per_minute",
    "daily_bytes", "daily_uploads"}` (the key itself only here: it is stored as SHA-256).
    `user_id`: the signed-in user who owns it (None: made by the admin). Raises ApiError 422 for an
    unknown scope, a blank name or a limit out of range."""
    unknown = set(spec.scopes) - KNOWN_SCOPES
    if unknown or not spec.name.strip():
        raise ApiError(422, "invalid_body", f"unknown scopes {sorted(unknown)}" if unknown else "name required")
    for field, (lo, hi) in (("rate_per_minute", _INT4_LIMIT), ("daily_bytes", _INT8_LIMIT),
                            ("daily_uploads", _INT4_LIMIT)):
        value = getattr(spec, field)
        if value is not None and not lo <= value <= hi:
            raise ApiError(422, "invalid_body", f"{field} must be in {lo}..{hi}")
    key = new_token(TOKEN_PREFIX_KEY)
    row = await pool.fetchrow(
        "INSERT INTO api_keys (name, key_hash, scopes, rate_per_minute, daily_bytes, daily_uploads, user_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        spec.name.strip(), token_hash(key), spec.scopes, spec.rate_per_minute, spec.daily_bytes, spec.daily_uploads,
        user_id)
    return {"key_id": row["id"], "name": spec.name.strip(), "scopes": spec.scopes, "key": key,
            "rate_per_minute": spec.rate_per_minute, "daily_bytes": spec.daily_bytes,
            "daily_uploads": spec.daily_uploads}


async def create_key(request: Request) -> JSONResponse:
    """`POST /api/v1/keys` (admin): an API key for an organiser or an uploader.

    Body `{"name": str, "scopes": ["tournaments" | "upload" | "read" | "admin"], "rate_per_minute":
    int?, "daily_bytes": int?, "daily_uploads": int?}` (the last three: this key's upload limits,
    unset = the `FRAGSTATS_UPLOAD_*` defaults). Answers 201 `{"key_id", "name", "scopes", "key",
    "rate_per_minute", "daily_bytes", "daily_uploads"}`; the key is shown only here. 422 for an
    unknown scope or a limit out of range.
    """
    request.app.state.auth.require_admin(request)
    spec = await read_json(request, NewKey)
    return JSONResponse(await issue_key(request.app.state.engines.pg, spec), status_code=201)


routes = [
    Route("/api/v1/servers", create_server, methods=["POST"]),
    Route("/api/v1/servers", list_servers, methods=["GET"]),
    Route("/api/v1/servers/{server_id:int}", revoke_server, methods=["DELETE"]),
    Route("/api/v1/keys", create_key, methods=["POST"]),
]
