"""HTML pages of players: sign-in, "my identities" (claim and login codes, links, aliases), the device
verification page (RFC 8628's `verification_uri`), achievements, and the achievements fragment that
player and user pages pull in with htmx.

Plain HTML forms that work without JavaScript; each form posts to its page, which calls the same
functions as the JSON routes and answers with the page again (codes are shown once, never put in a
URL). Writes need the session cookie (`identity.sessions`: SameSite=Lax plus the Origin check).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fragstats import web
from fragstats.auth_failures import client_address
from fragstats.bodies import read_body
from fragstats.errors import ApiError
from fragstats.params import path_id
from fragstats.web import page, render
from identity import claims, device
from identity.service import identity_of
from identity.signin import safe_next

web.add_templates(Path(__file__).resolve().parent / "templates")


async def form_of(request: Request) -> dict[str, str]:
    """An HTML form's fields (`application/x-www-form-urlencoded`, what our forms send), at most
    `FRAGSTATS_MAX_API_BODY_BYTES` (413 beyond); the last value of a repeated field wins."""
    body = await read_body(request, request.app.state.settings.max_api_body_bytes)
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), max_num_fields=50))


async def _user_or_signin(request: Request):
    found = await identity_of(request).sessions.user_of(request)
    if found is None:
        return None, RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)
    return found[0], None


@page
async def signin_page(request: Request) -> Response:
    """`GET /signin?next=`: the configured sign-in providers (OpenID Connect, Discord, Steam)."""
    ident = identity_of(request)
    nxt = safe_next(request.query_params.get("next"))
    providers = [{"kind": kind, "label": p.label, "url": f"/auth/{kind}/login?next={quote(nxt)}"}
                 for kind, p in ident.providers.items()]
    found = await ident.sessions.user_of(request)
    return render(request, "signin.html", {"providers": providers, "user": found[0] if found else None})


async def _me_context(request: Request, user, **extra) -> dict:
    ident = identity_of(request)
    return {"user": user, **await claims.identities(ident, user.id), **extra}


@page
async def me_page(request: Request) -> Response:
    """`GET /me` (signed in, else to `/signin`): your account, your claimed identities (with the names
    they played under), aliases, and forms for a claim code and a game login code. `POST /me` with
    `action=claim|login|alias|unlink` (and `alias` / `player_id`) does one of those and shows the page."""
    user, redirect = await _user_or_signin(request)
    if redirect:
        return redirect
    ident = identity_of(request)
    if request.method == "GET":
        return render(request, "me.html", await _me_context(request, user))
    user = await ident.sessions.require_user(request)  # a write: the Origin check
    form = await form_of(request)
    action, shown = form.get("action"), {}
    if action == "claim":
        shown["claim"] = await claims.issue_code(ident, user.id, "claim")
    elif action == "login":
        shown["login"] = await claims.issue_code(ident, user.id, "login")
    elif action == "alias":
        alias = " ".join(str(form.get("alias", "")).split())
        if not 1 <= len(alias) <= 64:
            raise ApiError(422, "invalid_body", "an alias holds 1..64 visible characters")
        await ident.pool.execute("INSERT INTO user_aliases (user_id, alias) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                 user.id, alias)
    elif action == "unlink":
        await claims.unlink(ident, user.id, str(form.get("player_id", "")))
    else:
        raise ApiError(400, "bad_request", "action must be claim, login, alias or unlink")
    return render(request, "me.html", await _me_context(request, user, **shown))


@page
async def device_page(request: Request) -> Response:
    """`GET /device?user_code=`: where a device's user sends the person (RFC 8628 `verification_uri`):
    sign in, check the code the game shows, approve or deny. `POST /device` with `user_code` and
    `action=approve|deny`."""
    user, redirect = await _user_or_signin(request)
    if redirect:
        return redirect
    if request.method == "GET":
        return render(request, "device.html", {"user": user, "user_code": request.query_params.get("user_code", "")[:20]})
    ident = identity_of(request)
    user = await ident.sessions.require_user(request)
    form = await form_of(request)
    result = await device.decide(ident, user.id, str(form.get("user_code", "")), form.get("action") == "approve",
                                 client_address(request))
    return render(request, "device.html", {"user": user, "user_code": "", "result": result})


@page
async def achievements_page(request: Request) -> Response:
    """`GET /achievements`: every achievement, the recent unlocks and the points leaderboard (the data
    of `GET /api/v1/achievements`, `.../recent`, `.../leaderboard`)."""
    store = identity_of(request).achievements
    return render(request, "achievements.html", {"definitions": store.public_definitions(),
                                                 "recent": await store.recent(20),
                                                 "board": await store.leaderboard(20, 0)})


@page
async def player_achievements_fragment(request: Request) -> Response:
    """`GET /achievements/player/{player_id}`: a player id's achievements as an HTML fragment (the player
    page loads it with htmx)."""
    pid = request.path_params["player_id"]
    data = await identity_of(request).achievements.of_players([pid])
    return render(request, "_achievements.html", {"data": data})


@page
async def user_achievements_fragment(request: Request) -> Response:
    """`GET /achievements/user/{user_id}`: the same over every id a user claimed; 404 for no such user."""
    ident = identity_of(request)
    who = await ident.resolver.user(path_id(request.path_params, "user_id"))
    if who is None:
        raise ApiError(404, "not_found", "no such user")
    return render(request, "_achievements.html", {"data": await ident.achievements.of_players(who.player_ids)})


routes = [
    Route("/signin", signin_page),
    Route("/me", me_page, methods=["GET", "POST"]),
    Route("/device", device_page, methods=["GET", "POST"]),
    Route("/achievements", achievements_page),
    Route("/achievements/player/{player_id}", player_achievements_fragment),
    Route("/achievements/user/{user_id:int}", user_achievements_fragment),
]
