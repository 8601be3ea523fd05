"""The tournament routes of the system fragstats replaces, kept as aliases of ours (their own
documentation listed them): `PUT /api/v1/tournaments/{id}`, `GET .../bracket`, `POST .../register`,
`POST .../checkin`. Each answers exactly as the route it stands for.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.errors import ApiError
from fragstats.params import path_id

from . import event_store
from .event_routes import checkin, put_event, register
from .routes import get_tournament


async def update_alias(request: Request) -> Response:
    """`PUT /api/v1/tournaments/{tournament_id}` (owner or admin): the event settings, as
    `PUT /api/v1/tournaments/{tournament_id}/event`."""
    return await put_event(request)


async def bracket_alias(request: Request) -> Response:
    """`GET /api/v1/tournaments/{tournament_id}/bracket`: the tournament with its bracket, as
    `GET /api/v1/tournaments/{tournament_id}`."""
    return await get_tournament(request)


async def register_alias(request: Request) -> Response:
    """`POST /api/v1/tournaments/{tournament_id}/register`: register an entrant, as
    `POST /api/v1/tournaments/{tournament_id}/registrations`."""
    return await register(request)


async def checkin_alias(request: Request) -> Response:
    """`POST /api/v1/tournaments/{tournament_id}/checkin` (the entrant's `X-Registration-Token`): check
    in the entrant the token belongs to, as `POST .../registrations/{registration_id}/checkin`.
    401 without the token, 404 when it belongs to no entrant of this tournament."""
    token = request.headers.get("x-registration-token")
    if not token:
        raise ApiError(401, "unauthorized", "X-Registration-Token required (the token given at registration)")
    tid = path_id(request.path_params, "tournament_id")
    entrant = await event_store.by_token(request.app.state.engines.pg, tid, token)
    if entrant is None:
        raise ApiError(404, "not_found", "no entrant of this tournament holds that token")
    request.scope["path_params"] = {**request.path_params, "registration_id": entrant.id}
    return await checkin(request)


T = "/api/v1/tournaments/{tournament_id:int}"
routes = [
    Route(T, update_alias, methods=["PUT"]),
    Route(T + "/bracket", bracket_alias, methods=["GET"]),
    Route(T + "/register", register_alias, methods=["POST"]),
    Route(T + "/checkin", checkin_alias, methods=["POST"]),
]
