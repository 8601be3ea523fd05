"""Users: the account behind a sign-in, and what a user may change of it.

A user is made the first time someone signs in with a provider account (`user_logins`: provider +
the provider's subject); later sign-ins with the same account find it again. Roles: `player`,
`moderator`, `admin`; `banned_until` (UTC) stops sign-in and every signed-in write until then.
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from fragstats.errors import ApiError

_COUNTRY = re.compile(r"^[A-Z]{2}$")
USER_COLUMNS = "id, display_name, avatar_url, country, role, banned_until, created_at"


class User(msgspec.Struct, frozen=True):
    id: int
    display_name: str
    avatar_url: str | None
    country: str | None
    role: str
    banned_until: dt.datetime | None
    created_at: dt.datetime

    @property
    def banned(self) -> bool:
        return self.banned_until is not None and self.banned_until > dt.datetime.now(dt.timezone.utc)

    def to_json(self) -> dict:
        """`{"user_id", "display_name", "avatar_url", "country", "role", "banned_until", "created_at"}`
        (times ISO-8601 UTC, null when unset)."""
        return {"user_id": self.id, "display_name": self.display_name, "avatar_url": self.avatar_url,
                "country": self.country, "role": self.role,
                "banned_until": self.banned_until.isoformat() if self.banned_until else None,
                "created_at": self.created_at.isoformat()}


def user_of(row) -> User:
    return User(row["id"], row["display_name"], row["avatar_url"], row["country"], row["role"],
                row["banned_until"], row["created_at"])


class UserPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Body of `PATCH /api/v1/users/me`: any of these; absent keys stay as they are."""

    display_name: str | None | msgspec.UnsetType = msgspec.UNSET
    avatar_url: str | None | msgspec.UnsetType = msgspec.UNSET
    country: str | None | msgspec.UnsetType = msgspec.UNSET


def clean_display_name(name: str) -> str:
    """A display name trimmed to 1..64 characters; raises ApiError 422 when empty."""
    name = " ".join((name or "").split())[:64]
    if not name:
        raise ApiError(422, "invalid_body", "display_name must hold 1..64 visible characters")
    return name


def checked_patch(patch: UserPatch) -> dict:
    """The columns a patch sets (the keys the body named). Raises ApiError 422 for a
    display name that is blank, an avatar URL that is not http(s) or over 500 characters, a country
    that is not an ISO 3166-1 alpha-2 code."""
    out: dict = {}
    fields = {name for name in UserPatch.__struct_fields__ if getattr(patch, name) is not msgspec.UNSET}
    if "display_name" in fields:
        out["display_name"] = clean_display_name(patch.display_name or "")
    if "avatar_url" in fields:
        url = (patch.avatar_url or "").strip() or None
        if url is not None and (len(url) > 500 or not url.startswith(("https://", "http://"))):
            raise ApiError(422, "invalid_body", "avatar_url must be an http(s) URL of at most 500 characters")
        out["avatar_url"] = url
    if "country" in fields:
        country = (patch.country or "").strip().upper() or None
        if country is not None and not _COUNTRY.match(country):
            raise ApiError(422, "invalid_body", "country must be a two-letter ISO 3166-1 code, e.g. DE")
        out["country"] = country
    return out


async def get_user(pool, user_id: int) -> User | None:
    row = await pool.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return user_of(row) if row else None


async def update_user(pool, user_id: int, columns: dict) -> User:
    """Set `columns` (from `checked_patch`) of user `user_id`; the updated user."""
    if not columns:
        user = await get_user(pool, user_id)
        assert user is not None
        return user
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(columns))
    row = await pool.fetchrow(f"UPDATE users SET {sets}, updated_at = now() WHERE id = $1 RETURNING {USER_COLUMNS}",
                              user_id, *columns.values())
    return user_of(row)


async def sign_in_user(pool, provider: str, subject: str, display_name: str, avatar_url: str | None,
                       email: str | None) -> User:
    """The user of provider account (`provider`, `subject`), made on first sign-in (with that display
    name and avatar). Raises ApiError 403 `banned` for a banned user."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE user_logins SET last_used_at = now(), email = coalesce($3, email)"
            " WHERE provider = $1 AND subject = $2 RETURNING user_id", provider, subject, email)
        if row is None:
            user_row = await conn.fetchrow(
                f"INSERT INTO users (display_name, avatar_url) VALUES ($1, $2) RETURNING {USER_COLUMNS}",
                clean_display_name(display_name), avatar_url if avatar_url and len(avatar_url) <= 500 else None)
            # ON CONFLICT: the same account signing in twice at once gets one user.
            won = await conn.fetchrow(
                "INSERT INTO user_logins (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING RETURNING user_id", provider, subject, user_row["id"], email)
            if won is None:
                raise ApiError(409, "conflict", "this account is signing in elsewhere right now; try again")
            user = user_of(user_row)
        else:
            user = user_of(await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", row["user_id"]))
    if user.banned:
        raise ApiError(403, "banned", f"this account is banned until {user.banned_until.isoformat()}")
    return user
