"""Routes answered below Starlette's routing and middleware: plain ASGI endpoints in the same app.

Why (issue 12, bench/RESULTS.md "The event loop"): on 1-event ingest requests, Starlette's
middleware chain (ours and its own), its router (a regex match per route until the ingest route)
and the `send` wrappers each layer adds took ~15% of the event loop's time per request. A route
listed here is dispatched before all of that, by method and exact path; everything else, other
methods on the same path included, goes through Starlette as before (405s, the OpenAPI document
built from the Starlette routes).

The answers are the same: the endpoint is the route's own handler `(Request) -> Response`; an
`HTTPException` (our `ApiError`) is answered by the app's handler (`fragstats.errors`), a
`ClientDisconnect` as 499, any other exception as the JSON 500 with its traceback logged and the
connection kept open (as `ErrorAnswerMiddleware`); the request is timed in the same histogram
under its route template, as `HTTPMetricsMiddleware` does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from fragstats.errors import error_response, http_exception_handler
from fragstats.http import client_disconnect_handler

log = logging.getLogger("fragstats")


@dataclass(frozen=True)
class DirectRoute:
    """`endpoint` answers `method` `path` (exact) below Starlette's routing and middleware."""

    method: str
    path: str
    endpoint: Callable[[Request], Awaitable[Response]]


class DirectApp(Starlette):
    """A Starlette app that answers its `direct` routes itself (see the module docstring)."""

    def __init__(self, *args, direct: list[DirectRoute] | tuple = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.direct = {(route.method, route.path): route for route in direct}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            route = self.direct.get((scope["method"], scope["path"]))
            if route is not None:
                scope["app"] = self
                await self._answer(route, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _answer(self, route: DirectRoute, scope, receive, send) -> None:
        start = time.perf_counter()
        status = 500
        request = Request(scope, receive, send)
        try:
            try:
                response = await route.endpoint(request)
            except HTTPException as exc:
                response = await http_exception_handler(request, exc)
            except ClientDisconnect as exc:  # the client went away while we read its body
                response = await client_disconnect_handler(request, exc)
            except Exception:
                log.exception("unhandled error answering %s %s", route.method, route.path)
                response = error_response(500, "internal_error", "internal error; see the server log")
            status = response.status_code
            await response(scope, receive, send)
        finally:
            self.state.metrics.http_seconds.labels(route.path, route.method, str(status)).observe(
                time.perf_counter() - start)
