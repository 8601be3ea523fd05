"""The browser's sign-in round trip: `/auth/{provider}/login` -> the provider -> `/auth/{provider}/callback`.

State: a 256-bit random `state` travels through the provider; what must survive the trip (provider,
PKCE verifier, nonce, where to go next) waits in Redis under the state's SHA-256 for
`FRAGSTATS_CODE_TTL_S`, read and deleted at once on return (single use). The state is also bound to
the browser that started: a cookie `fs_signin` (HttpOnly, SameSite=Lax, path /auth) holds it, and the
callback refuses a state that is not the cookie's (a sign-in link planted in someone else's browser
cannot sign them in as the attacker).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

import httpx
import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fragstats.errors import ApiError
from identity.providers import PROVIDER_ERRORS
from identity.service import base_url, identity_of
from identity.users import sign_in_user

log = logging.getLogger("fragstats.identity")
STATE_COOKIE = "fs_signin"


def _state_key(state: str) -> str:
    return "fragstats:signin:" + hashlib.sha256(state.encode()).hexdigest()


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never `//host` or a full URL)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 500:
        return value
    return "/me"


def _provider(request: Request):
    ident = identity_of(request)
    kind = request.path_params["provider"]
    provider = ident.providers.get(kind)
    if provider is None:
        raise ApiError(404, "not_found", f"sign-in with {kind!r} is not configured here")
    return ident, kind, provider


def callback_uri(request: Request, kind: str) -> str:
    return f"{base_url(request)}/auth/{kind}/callback"


async def begin(request: Request) -> Response:
    """`GET /auth/{provider}/login?next=/me`: send the browser to the provider (302), remembering the
    state, PKCE verifier and nonce; 404 for a provider not configured, 502 when it cannot be reached."""
    ident, kind, provider = _provider(request)
    state = secrets.token_urlsafe(32)
    redirect_uri = callback_uri(request, kind)
    try:
        url, data = await provider.begin(redirect_uri, state)
    except (httpx.HTTPError, *PROVIDER_ERRORS) as exc:
        raise ApiError(502, "provider_unavailable", f"{provider.label} cannot be reached: {exc}") from None
    keep = {"provider": kind, "next": safe_next(request.query_params.get("next")), "data": data}
    await ident.redis.set(_state_key(state), msgspec.json.encode(keep), ex=ident.settings.code_ttl_s)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(STATE_COOKIE, state, max_age=ident.settings.code_ttl_s, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/auth")
    return response


async def callback(request: Request) -> Response:
    """`GET /auth/{provider}/callback?code=&state=` (or OpenID 2.0 parameters): verify the answer,
    find or make the user, start a cookie session and go to `next` (302). 400 `signin_failed` when
    the state is unknown, expired, used or not this browser's, or the provider refused or its answer
    did not verify; 403 `banned`."""
    ident, kind, provider = _provider(request)
    params = dict(request.query_params)
    state = params.get("state", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not hmac.compare_digest(state.encode(), cookie.encode()):
        raise ApiError(400, "signin_failed", "this sign-in was not started in this browser (state mismatch); start again")
    raw = await ident.redis.getdel(_state_key(state))
    if raw is None:
        raise ApiError(400, "signin_failed", "this sign-in expired or was already used; start again")
    kept = msgspec.json.decode(raw)
    if kept["provider"] != kind:
        raise ApiError(400, "signin_failed", "the sign-in came back to another provider's address")
    if params.get("error"):
        raise ApiError(400, "signin_failed", f"{provider.label} refused: {params.get('error_description') or params['error']}"[:300])
    try:
        account = await provider.finish(params, callback_uri(request, kind), kept["data"])
    except PROVIDER_ERRORS as exc:
        log.warning("sign-in with %s failed: %s", kind, exc)
        raise ApiError(400, "signin_failed", f"{provider.label} sign-in failed: {exc}"[:300]) from None
    except httpx.HTTPError as exc:
        raise ApiError(502, "provider_unavailable", f"{provider.label} cannot be reached: {exc}") from None
    user = await sign_in_user(ident.pool, kind, account.subject, account.display_name, account.avatar_url,
                              account.email)
    cookie_value = await ident.sessions.start_cookie(user.id, request.headers.get("user-agent", ""))
    response = RedirectResponse(kept["next"], status_code=302)
    ident.sessions.set_cookie(request, response, cookie_value)
    response.delete_cookie(STATE_COOKIE, path="/auth")
    log.info("user %d signed in with %s", user.id, kind)
    return response


async def signout(request: Request) -> Response:
    """`POST /auth/logout`: end the browser's session (revoked, cookie cleared) and go home (303)."""
    response = RedirectResponse("/", status_code=303)
    await identity_of(request).sessions.end_cookie(request, response)
    return response
