"""How a read route answers: JSON of its body, and `?expand=identity` applied to it in one place."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fragstats.identities import expand
from query.params import choice_param


def json_response(body: dict) -> Response:
    return Response(msgspec.json.encode(body), media_type="application/json")


async def answer(request: Request, body: dict) -> Response:
    """`body` as JSON; with `?expand=identity`, every player id in it resolved to its user first
    (`fragstats.identities.expand`, through the resolver the assembly put on
    `app.state.identity_resolver`). A cached body is shared, so it is expanded as a copy.
    Raises ApiError 400 for another `expand` value."""
    if choice_param(request.query_params, "expand", ("none", "identity"), "none") == "identity":
        body = await expand(msgspec.json.decode(msgspec.json.encode(body)), request.app.state.identity_resolver)
    return json_response(body)
