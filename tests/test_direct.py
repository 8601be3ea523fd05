"""A route answered below Starlette's routing and middleware (fragstats/direct.py) answers as the
app does: its handler's response, an ApiError as the app's JSON error, any other exception as the
JSON 500 with the connection kept open, a client gone as 499; it is timed under its route
template; other methods on its path still reach Starlette (405). On a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from conftest import on_uvicorn
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from test_input_limits import http_exchange, request_bytes

from fragstats.direct import DirectApp, DirectRoute
from fragstats.errors import ApiError
from fragstats.metrics import Metrics

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def door(request):
    body = await request.body()
    if body == b"boom":
        raise RuntimeError("boom")
    if body == b"nope":
        raise ApiError(429, "overloaded", "try later", {"Retry-After": "3"})
    return PlainTextResponse(b"took " + body, status_code=202)


async def test_a_direct_route_answers_as_the_app_would_on_real_uvicorn():
    app = DirectApp(routes=[Route("/door", door, methods=["POST"])], direct=[DirectRoute("POST", "/door", door)])
    app.state.metrics = Metrics()
    async with on_uvicorn(app) as port:
        def exchange() -> list[tuple[int, bytes]]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                return [http_exchange(sock, request_bytes("POST", "/door", body)) for body in (b"boom", b"x", b"nope")] + \
                       [http_exchange(sock, request_bytes("GET", "/door"))]

        answers = await asyncio.to_thread(exchange)
    assert [a[0] for a in answers] == [500, 202, 429, 405]  # one connection throughout
    assert json.loads(answers[0][1])["error"] == "internal_error"
    assert answers[1][1] == b"took x"
    assert json.loads(answers[2][1]) == {"error": "overloaded", "detail": "try later"}
    registry = app.state.metrics.registry
    for status in ("500", "202", "429"):
        count = registry.get_sample_value("fragstats_http_request_seconds_count",
                                          {"route": "/door", "method": "POST", "status": status})
        assert count == 1, status
