"""Sessions of signed-in users: a signed cookie for pages, short-lived bearer tokens for the API.

- Pages: cookie `fs_session`, HttpOnly, SameSite=Lax, Secure when the site is served over https,
  Path=/. Its value is a 256-bit session token signed with the session secret (itsdangerous), so a
  forged or stale cookie is refused without asking Postgres; Postgres keeps the token's SHA-256 and
  expiry (`FRAGSTATS_SESSION_DAYS`). Sign-out revokes it.
- API: `Authorization: Bearer fsu_...`, an access token living `FRAGSTATS_ACCESS_TOKEN_S` (15 min),
  with a refresh token `fsur_...` (`FRAGSTATS_SESSION_DAYS`) that is rotated on every use (the old
  one stops working: a stolen refresh token used by two parties shows up as one of them failing).
  Revoking a refresh token revokes the access tokens made from it. Tokens come from
  `POST /api/v1/auth/token` (with the cookie) or the device grant.

A write made with the cookie must come from our own pages: a request whose `Origin` names another
site is refused (403), on top of SameSite=Lax.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import itsdangerous
from starlette.requests import Request
from starlette.responses import Response

from fragstats.auth import bearer, token_hash
from fragstats.errors import ApiError
from identity.users import USER_COLUMNS, User, user_of

COOKIE = "fs_session"
ACCESS_PREFIX = "fsu_"
REFRESH_PREFIX = "fsur_"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_secret(configured: str | None, data_dir: Path) -> bytes:
    """The session secret: `FRAGSTATS_SESSION_SECRET`, else `<data_dir>/session_secret` (made once,
    mode 0600)."""
    if configured:
        return configured.encode()
    path = data_dir / "session_secret"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip().encode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Sessions:
    """Cookie sessions and API tokens over the Postgres tables of `sql/0010_users.sql`."""

    def __init__(self, pool, secret: bytes, session_days: int, access_token_s: int):
        self.pool = pool
        self.session_days = session_days
        self.access_token_s = access_token_s
        self._signer = itsdangerous.TimestampSigner(secret, salt="fragstats-session")

    # ---- cookies ----------------------------------------------------------------------------

    async def start_cookie(self, user_id: int, client: str = "") -> str:
        """A new cookie session of `user_id`; the signed cookie value."""
        token = secrets.token_urlsafe(32)
        await self.pool.execute(
            "INSERT INTO user_sessions (user_id, kind, token_hash, client, expires_at) VALUES ($1, 'cookie', $2, $3, $4)",
            user_id, token_hash(token), client[:200], _now() + dt.timedelta(days=self.session_days))
        return self._signer.sign(token).decode()

    def _cookie_token(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return self._signer.unsign(value, max_age=self.session_days * 86_400).decode()
        except itsdangerous.BadSignature:
            return None

    def set_cookie(self, request: Request, response: Response, value: str) -> None:
        """Attach the session cookie to `response` (Secure when the request came over https)."""
        response.set_cookie(COOKIE, value, max_age=self.session_days * 86_400, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")

    async def end_cookie(self, request: Request, response: Response) -> None:
        """Revoke the request's cookie session (if any) and clear the cookie."""
        token = self._cookie_token(request.cookies.get(COOKIE))
        if token:
            await self.pool.execute("UPDATE user_sessions SET revoked_at = now() WHERE token_hash = $1"
                                    " AND revoked_at IS NULL", token_hash(token))
        response.delete_cookie(COOKIE, path="/")

    # ---- API tokens ---------------------------------------------------------------------------

    async def issue_tokens(self, user_id: int, client: str = "", conn=None) -> dict:
        """A new refresh session and a first access token: `{"access_token", "token_type": "Bearer",
        "expires_in" (s), "refresh_token"}` (RFC 6749 §5.1 names)."""
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
        db = conn or self.pool
        session_id = await db.fetchval(
            "INSERT INTO user_sessions (user_id, kind, token_hash, client, expires_at)"
            " VALUES ($1, 'refresh', $2, $3, $4) RETURNING id",
            user_id, token_hash(refresh), client[:200], _now() + dt.timedelta(days=self.session_days))
        access = await self._access_token(db, session_id, user_id)
        return {"access_token": access, "token_type": "Bearer", "expires_in": self.access_token_s,
                "refresh_token": refresh}

    async def _access_token(self, db, session_id: int, user_id: int) -> str:
        access = ACCESS_PREFIX + secrets.token_urlsafe(32)
        await db.execute("DELETE FROM user_access_tokens WHERE expires_at < now() - interval '1 day'")
        await db.execute("INSERT INTO user_access_tokens (token_hash, session_id, user_id, expires_at)"
                         " VALUES ($1, $2, $3, $4)", token_hash(access), session_id, user_id,
                         _now() + dt.timedelta(seconds=self.access_token_s))
        return access

    async def refresh(self, refresh_token: str) -> dict:
        """Rotate a refresh token: the old one is revoked, a new pair returned (shape of
        `issue_tokens`). Raises ApiError 400 `invalid_grant` (RFC 6749 §5.2) for an unknown, revoked
        or expired token."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE user_sessions SET revoked_at = now() WHERE token_hash = $1 AND kind = 'refresh'"
                " AND revoked_at IS NULL AND expires_at > now() RETURNING user_id, client",
                token_hash(refresh_token))
            if row is None:
                raise ApiError(400, "invalid_grant", "unknown, revoked or expired refresh token")
            return await self.issue_tokens(row["user_id"], row["client"], conn)

    async def revoke(self, token: str) -> None:
        """Revoke a refresh token (and the access tokens made from it) or one access token
        (RFC 7009: an unknown token is not an error)."""
        digest = token_hash(token)
        await self.pool.execute("UPDATE user_sessions SET revoked_at = now() WHERE token_hash = $1"
                                " AND revoked_at IS NULL", digest)
        await self.pool.execute("DELETE FROM user_access_tokens WHERE token_hash = $1", digest)

    # ---- who is calling -----------------------------------------------------------------------

    async def user_of(self, request: Request) -> tuple[User, str] | None:
        """(the signed-in user, "bearer"|"cookie") of `request`, or None. A bearer token that is not
        ours (`fsu_`) is ignored, so admin and API-key routes keep their own meaning."""
        token = bearer(request)
        if token and token.startswith(ACCESS_PREFIX):
            row = await self.pool.fetchrow(
                f"SELECT {', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))}"
                " FROM user_access_tokens t JOIN user_sessions s ON s.id = t.session_id JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = $1 AND t.expires_at > now() AND s.revoked_at IS NULL", token_hash(token))
            return (user_of(row), "bearer") if row else None
        cookie = self._cookie_token(request.cookies.get(COOKIE))
        if cookie:
            row = await self.pool.fetchrow(
                f"SELECT {', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))}"
                " FROM user_sessions s JOIN users u ON u.id = s.user_id"
                " WHERE s.token_hash = $1 AND s.kind = 'cookie' AND s.revoked_at IS NULL AND s.expires_at > now()",
                token_hash(cookie))
            return (user_of(row), "cookie") if row else None
        return None

    async def require_user(self, request: Request) -> User:
        """The signed-in user; raises ApiError 401 `sign_in_required`, 403 `banned`, or 403
        `cross_site` for a cookie-authenticated write whose Origin is another site."""
        found = await self.user_of(request)
        if found is None:
            raise ApiError(401, "sign_in_required", "sign in first: the session cookie, or Authorization: Bearer fsu_...",
                           {"WWW-Authenticate": "Bearer"})
        user, how = found
        if how == "cookie" and request.method not in _SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
                raise ApiError(403, "cross_site", "a signed-in write must come from this site's own pages")
        if user.banned:
            raise ApiError(403, "banned", f"this account is banned until {user.banned_until.isoformat()}")
        return user
