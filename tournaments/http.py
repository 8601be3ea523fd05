"""What the tournaments' route modules share: reading a request (path ids, query integers, names, the
caller and its rights) and answering JSON. One module, so the route modules stay leaves that import
this, the store and the rules, and never one another.

Who may write: an organiser is `Authorization: Bearer <key>` with the `tournaments` scope (401 without
one, 403 without the scope), and may change only the tournaments it created (403 `forbidden`); the
admin token may change any. An entrant proves itself with `X-Registration-Token` (its own token from
registration).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fragstats.auth import Principal
from fragstats.errors import ApiError
from fragstats.params import INT4_MAX, int_param, path_id as kernel_path_id

from . import store
from .model import AuditEntry

Handler = Callable[[Request], Awaitable[Response]]
MAX_NAME = 200
"""Characters of a tournament, participant or registration name (the `tournaments.name` CHECK)."""


def json_response(body: Any, status: int = 200) -> Response:
    """`body` encoded with msgspec as `application/json`."""
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


def now() -> dt.datetime:
    """The time of a write, UTC."""
    return dt.datetime.now(dt.timezone.utc)


def path_id(request: Request, name: str) -> int:
    """The integer path parameter `name` (`{name:int}` routes); beyond `integer` it cannot exist: 404."""
    return kernel_path_id(request.path_params, name)


def tournament_id(request: Request) -> int:
    """`{tournament_id}` of the path."""
    return path_id(request, "tournament_id")


def int_query(request: Request, name: str, default: int | None, lo: int = 0, hi: int = INT4_MAX) -> int | None:
    """A query integer in [lo, hi] (ids and offsets: Postgres `integer`), else `default`; 400
    `invalid_parameter` naming it and its range."""
    return int_param(request.query_params, name, default, lo=lo, hi=hi)


def clean_name(raw: str) -> str:
    """A tournament, participant or registration name: trimmed, 1..200 characters, no control
    characters; else 422 `invalid_body`."""
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ApiError(422, "invalid_body", f"name must be 1..{MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ApiError(422, "invalid_body", "name must not contain control characters")
    return name


def pool(request: Request):
    """The app's Postgres pool (reads)."""
    return request.app.state.engines.pg


def db(request: Request) -> store.Store:
    """The app's tournament store (writes go through it: it announces each commit)."""
    return store.of(request.app)


async def organiser(request: Request) -> Principal:
    """The caller, who must hold a `tournaments` key or the admin token (401/403)."""
    return await request.app.state.auth.require_scope(request, "tournaments")


async def organiser_if_sent(request: Request) -> Principal | None:
    """The organiser when an `Authorization` header is sent (401/403 when it is wrong), else None."""
    if request.headers.get("authorization"):
        return await organiser(request)
    return None


def check_owner(principal: Principal, meta: store.Meta) -> None:
    """403 `forbidden` unless `principal` is the admin or the key that created the tournament."""
    if not principal.is_admin and meta.owner_key_id != principal.key_id:
        raise ApiError(403, "forbidden", f"tournament {meta.id} belongs to another organiser")


def entrant_token(request: Request) -> str | None:
    """The `X-Registration-Token` header, if any."""
    return request.headers.get("x-registration-token") or None


@contextlib.asynccontextmanager
async def owned(request: Request, principal: Principal) -> AsyncIterator[store.Writer]:
    """The locked write of the path's tournament (404), checked to be `principal`'s (403). Take the
    principal (`organiser`) and read the body before: nothing slow happens while the row is locked."""
    async with db(request).write(tournament_id(request)) as w:
        check_owner(principal, w.meta)
        yield w


def changed_ids(entries: list[AuditEntry]) -> list[int]:
    """Ids of the matches an operation changed (its audit entries), ascending."""
    return sorted({e.match_id for e in entries if e.match_id is not None})


def deprecated(handler: Handler) -> Handler:
    """Mark a route handler as an old name kept for clients that use it: the OpenAPI document says
    `deprecated: true` (its docstring says what replaced it)."""
    handler.deprecated = True  # type: ignore[attr-defined]
    return handler


def alias(handler: Handler, name: str, of: str) -> Handler:
    """`handler` under an old route name (`name`, its OpenAPI operation) that a client may still use;
    `of` names the route that replaced it. Marked `deprecated`."""

    @functools.wraps(handler)
    async def old_name(request: Request) -> Response:
        return await handler(request)

    old_name.__name__ = old_name.__qualname__ = name
    old_name.__doc__ = f"Deprecated alias of `{of}`, kept for clients that use it.\n\n{handler.__doc__}"
    return deprecated(old_name)
