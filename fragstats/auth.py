"""Who is calling: the admin, an organiser's API key, or a game server's token.

- Admin: `Authorization: Bearer <FRAGSTATS_ADMIN_TOKEN>`; when the variable is unset, `serve`
  generates a token once and keeps it in `<data_dir>/admin_token` (mode 0600).
- Game server: `X-Server-Token: <token>` (or `Authorization: Bearer <token>`). Tokens are stored
  as SHA-256 only and resolved through a small TTL cache, so the hot ingest path does not ask
  Postgres on every request; a revoked or rotated token stops working in this process at once, in
  other processes within `token_cache_ttl_s` (`FRAGSTATS_TOKEN_CACHE_TTL_S`).
- API keys (`POST /api/v1/keys`, admin only) carry scopes: `tournaments`, `upload`, `read`, `admin`.
  A key is sent as `Authorization: Bearer <key>` or `X-API-Key: <key>` (the damage meter's header).

Every failure (401) is logged and counted, and answered 429 + `Retry-After` instead once its client
address has failed too often (`fragstats.auth_failures`); a correct credential always passes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from starlette.requests import Request

from fragstats.auth_failures import FailedAuth
from fragstats.errors import ApiError

TOKEN_PREFIX_SERVER = "fss_"
TOKEN_PREFIX_KEY = "fsk_"
TOKEN_PREFIX_ADMIN = "fsa_"


def new_token(prefix: str) -> str:
    """A fresh random token (256 bits) with a readable prefix telling what it is for."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def load_or_create_admin_token(configured: str | None, data_dir: Path) -> tuple[str, Path | None]:
    """The admin token, and the file it lives in when it was generated (None when configured)."""
    if configured:
        return configured, None
    path = data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip(), path
    token = new_token(TOKEN_PREFIX_ADMIN)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, path


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


@dataclass(frozen=True)
class Principal:
    """The caller of a write route: the admin, or an API key with its scopes."""

    kind: str  # "admin" | "key"
    key_id: int | None = None
    scopes: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def label(self) -> str:
        return "admin" if self.is_admin else f"key:{self.key_id}"


class Authenticator:
    """Resolves callers against the admin token and the Postgres tables."""

    def __init__(self, pool: asyncpg.Pool, admin_token: str, cache_ttl_s: float = 30.0,
                 failures: FailedAuth | None = None):
        self.pool = pool
        self._admin_hash = token_hash(admin_token)
        self.cache_ttl_s = cache_ttl_s
        self.failures = failures or FailedAuth()
        self._servers: dict[bytes, tuple[int | None, float]] = {}
        # Bumped by forget_servers: a lookup that read Postgres before a revocation or rotation
        # committed must not put its (now stale) answer into the cache after the cache was cleared.
        self._servers_generation = 0

    def is_admin_token(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token_hash(token), self._admin_hash)

    def require_admin(self, request: Request) -> Principal:
        """Raises ApiError 401 (429 after too many failures from the address) unless the request
        carries the admin token."""
        token = bearer(request)
        if not self.is_admin_token(token):
            raise self.failures.refuse(request, "admin_token", token,
                                       "admin token required: Authorization: Bearer <admin token>")
        return Principal("admin")

    async def require_scope(self, request: Request, scope: str, *also: str) -> Principal:
        """The admin, or an unrevoked API key holding `scope` (or one of `also`), from
        `Authorization: Bearer` or `X-API-Key`; raises ApiError 401 (429 after too many failures from
        the address) or 403 (a valid key without the scope) otherwise."""
        token = bearer(request) or request.headers.get("x-api-key") or None
        if self.is_admin_token(token):
            return Principal("admin")
        if not token:
            raise self.failures.refuse(request, "api_key", None, "Authorization: Bearer <api key> (or X-API-Key) required")
        row = await self.pool.fetchrow(
            "SELECT id, scopes FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", token_hash(token))
        if row is None:
            raise self.failures.refuse(request, "api_key", token, "unknown or revoked API key")
        if scope not in row["scopes"] and not set(also) & set(row["scopes"]):
            raise ApiError(403, "forbidden", f"this API key lacks the {scope!r} scope")
        return Principal("key", row["id"], tuple(row["scopes"]))

    async def server_for(self, request: Request) -> int:
        """The game server id of `X-Server-Token` (or a Bearer token); raises ApiError 401 (429 after
        too many failures from the address)."""
        token = request.headers.get("x-server-token") or bearer(request)
        if not token:
            raise self.failures.refuse(request, "server_token", None, "X-Server-Token header required")
        digest = token_hash(token)
        now = time.monotonic()
        cached = self._servers.get(digest)
        if cached is not None and cached[1] > now:
            server_id = cached[0]
        else:
            generation = self._servers_generation
            row = await self.pool.fetchrow(
                "SELECT id FROM servers WHERE token_hash = $1 AND revoked_at IS NULL", digest)
            server_id = row["id"] if row else None
            if len(self._servers) > 10_000:
                self._servers.clear()
            if generation == self._servers_generation:
                self._servers[digest] = (server_id, now + self.cache_ttl_s)
        if server_id is None:
            raise self.failures.refuse(request, "server_token", token, "unknown or revoked server token")
        return server_id

    def forget_servers(self) -> None:
        """Drop cached token lookups (after a revocation or a token rotation in this process), including
        the answers of lookups still under way."""
        self._servers_generation += 1
        self._servers.clear()
