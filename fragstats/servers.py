"""Game servers and API keys: registration, listing, token rotation, revocation (admin only).

A game server's token is made in one place, `issue_server_token`: 256 random bits shown once, kept
as its SHA-256 (HTTP ingest, `fragstats.auth`) and as mosquitto's PBKDF2 form (MQTT ingest,
`ingest/mqtt.py`), which can only be computed while the clear token is known. Registering a server
and rotating its token both go through it. Each change is logged (`fragstats.servers`, INFO) with
the server, the caller and its address, never the token.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from dataclasses import dataclass

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fragstats.auth import TOKEN_PREFIX_KEY, TOKEN_PREFIX_SERVER, new_token, token_hash
from fragstats.auth_failures import client_address
from fragstats.bodies import read_json
from fragstats.errors import ApiError
from fragstats.params import path_id

log = logging.getLogger("fragstats.servers")

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


@dataclass(frozen=True)
class ServerToken:
    """A new game-server token and the two forms of it that are stored."""

    token: str  # clear, `fss_...`: shown once to the admin, never stored
    token_hash: bytes  # SHA-256, looked up by HTTP ingest (`servers.token_hash`)
    mqtt_password_hash: str  # mosquitto's `$7$...` form, for the broker's password file


def issue_server_token() -> ServerToken:
    """A fresh server token with its SHA-256 and its broker password hash (both computable only now,
    while the clear token is known)."""
    token = new_token(TOKEN_PREFIX_SERVER)
    return ServerToken(token, token_hash(token), broker_password_hash(token))


_SERVER_COLUMNS = ("id, name, url, created_at, revoked_at, token_rotated_at,"
                   " mqtt_password_hash IS NOT NULL AS mqtt_password")


def _server_json(row) -> dict:
    return {"server_id": row["id"], "name": row["name"], "url": row["url"],
            "created_at": row["created_at"].isoformat(),
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
            "token_rotated_at": row["token_rotated_at"].isoformat() if row["token_rotated_at"] else None,
            "mqtt_password": row["mqtt_password"]}


def _audit(request: Request, what: str, server_id: int, name: str) -> None:
    """One log line per change of a server's credentials: which server, by whom, from where (no token)."""
    log.info("server %s: %d %r by admin from %s", what, server_id, name, client_address(request))


async def register_server(pool, name: str, url: str | None) -> dict:
    """Insert a server with a fresh token; returns its JSON (see `create_server`) with `"token"`."""
    new = issue_server_token()
    row = await pool.fetchrow(
        "INSERT INTO servers (name, url, token_hash, mqtt_password_hash) VALUES ($1, $2, $3, $4)"
        f" RETURNING {_SERVER_COLUMNS}", name, url, new.token_hash, new.mqtt_password_hash)
    return {**_server_json(row), "token": new.token}


async def replace_token(pool, server_id: int) -> dict | None:
    """Give active server `server_id` a fresh token in place of its old one; returns its JSON (see
    `create_server`) with the new `"token"`, or None when there is no such active server. One UPDATE:
    a concurrent revocation comes either first (None) or after (the new token is revoked too)."""
    new = issue_server_token()
    row = await pool.fetchrow(
        "UPDATE servers SET token_hash = $2, mqtt_password_hash = $3, token_rotated_at = now()"
        f" WHERE id = $1 AND revoked_at IS NULL RETURNING {_SERVER_COLUMNS}",
        server_id, new.token_hash, new.mqtt_password_hash)
    return None if row is None else {**_server_json(row), "token": new.token}


async def create_server(request: Request) -> JSONResponse:
    """`POST /api/v1/servers` (admin): register a game server.

    Body `{"name": str, "url": str?}`. Answers 201 `{"server_id": int, "name", "url", "created_at",
    "revoked_at": null, "token_rotated_at": null, "mqtt_password": true, "token": str}` (times
    ISO-8601 UTC); the token is shown only here (stored as its SHA-256 and as the MQTT broker's password hash).
    401 without the admin token, 422 for a bad body.
    """
    request.app.state.auth.require_admin(request)
    spec = await read_json(request, NewServer)
    name = spec.name.strip()
    if not 1 <= len(name) <= 200:
        raise ApiError(422, "invalid_body", "name must be 1..200 characters")
    answer = await register_server(request.app.state.engines.pg, name, spec.url)
    _audit(request, "registered", answer["server_id"], answer["name"])
    return JSONResponse(answer, status_code=201)


async def rotate_token(request: Request) -> JSONResponse:
    """`POST /api/v1/servers/{server_id}/token` (admin): replace the server's token with a new one.

    No body. The server keeps its id, name and all its data. Answers 200 with the shape of the
    `POST /api/v1/servers` answer, `"token"` being the new token, shown only here, and
    `"token_rotated_at"` now. The old token stops at once, with no grace period: HTTP ingest
    (`POST /api/v1/ingest/events`) refuses it with 401 in this process at once and in other app
    processes within `FRAGSTATS_TOKEN_CACHE_TTL_S` (their cache of token lookups). MQTT: the broker
    checks its password file, which accepts the old token until the files of
    `GET /api/v1/ingest/mqtt/broker-files` are written again and the broker is sent SIGHUP; from
    then on it carries the new token's hash. A server registered before MQTT support (no broker
    hash, `"mqtt_password": false`) gets one here and so appears in those files. 401 without the
    admin token, 404 for an unknown or revoked server.
    """
    request.app.state.auth.require_admin(request)
    server_id = path_id(request.path_params, "server_id")
    answer = await replace_token(request.app.state.engines.pg, server_id)
    if answer is None:
        raise ApiError(404, "not_found", f"no active server {server_id}")
    request.app.state.auth.forget_servers()  # the old token's cached lookup must not outlive it
    _audit(request, "token rotated", server_id, answer["name"])
    return JSONResponse(answer)


async def list_servers(request: Request) -> JSONResponse:
    """`GET /api/v1/servers` (admin): `{"servers": [{"server_id", "name", "url", "created_at",
    "revoked_at", "token_rotated_at", "mqtt_password"}]}` (ISO-8601 UTC times, null when never;
    `mqtt_password`: the server has a broker password, i.e. may publish over MQTT — false for servers registered before
    MQTT support until their token is rotated). Tokens are never returned."""
    request.app.state.auth.require_admin(request)
    rows = await request.app.state.engines.pg.fetch(f"SELECT {_SERVER_COLUMNS} FROM servers ORDER BY id")
    return JSONResponse({"servers": [_server_json(r) for r in rows]})


async def revoke_server(request: Request) -> Response:
    """`DELETE /api/v1/servers/{server_id}` (admin): revoke the server's token; its data stays.
    204 when revoked, 404 when no such (unrevoked) server."""
    request.app.state.auth.require_admin(request)
    server_id = path_id(request.path_params, "server_id")
    row = await request.app.state.engines.pg.fetchrow(
        "UPDATE servers SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id, name", server_id)
    if row is None:
        raise ApiError(404, "not_found", f"no active server {server_id}")
    request.app.state.auth.forget_servers()
    _audit(request, "revoked", server_id, row["name"])
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
    Route("/api/v1/servers/{server_id:int}/token", rotate_token, methods=["POST"]),
    Route("/api/v1/keys", create_key, methods=["POST"]),
]
