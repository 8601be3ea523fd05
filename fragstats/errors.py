"""The one JSON error shape of the API: `{"error": code, "detail": ..., "events": [...]}`."""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("fragstats")


class ApiError(HTTPException):
    """Raise from a route to answer `status` with `{"error": code, "detail": detail}`."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(status, detail, headers)
        self.code = code


class StatusError(Exception):
    """An error that carries its HTTP answer, for code that has no business knowing about requests
    (pure rules, storage): raise it anywhere; the app's one handler (`status_error_handler`,
    registered in `fragstats.app`) answers `http_status` with `{"error": code, "detail": message}`.

    Subclasses set `http_status` (default 500) and may set `code`; without one the code is the class
    name in snake_case (`MatchNotReady` -> `match_not_ready`), so every error of a package maps to a
    status in one place: its class."""

    http_status: int = 500
    code: str = "error"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def error_response(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                   **extra) -> JSONResponse:
    body = {"error": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
          422: "unprocessable", 429: "overloaded", 503: "unavailable"}


async def http_exception_handler(request: Request, exc: HTTPException) -> JSONResponse:
    code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
    events = getattr(exc, "events", None)  # an ApiError may list the problems field by field
    extra = {"events": events} if events else {}
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers, **extra)


async def status_error_handler(request: Request, exc: StatusError) -> JSONResponse:
    """The app's handler for every `StatusError`: its `http_status`, code and message."""
    return error_response(exc.http_status, exc.code, str(exc))


async def unhandled_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    # Still JSON, never an HTML traceback; the log has the traceback.
    return error_response(500, "internal_error", "internal error; see the server log")


class StartupError(Exception):
    """The service cannot start, for a reason outside the program (a data dir that cannot be written,
    a full disk, an engine that will not start or answer). Its message is one sentence saying what
    failed, where, and the system's reason; `fragstats serve` prints it without a traceback and
    exits 1."""


class ErrorAnswerMiddleware:
    """Pure ASGI middleware: an exception that escaped a route is answered with the JSON 500 above,
    its traceback logged, and the keep-alive connection kept open.

    Why: Starlette's `ServerErrorMiddleware` sends its 500 and then always re-raises (so that the
    server may log it); uvicorn, seeing an exception after the response started, closes the
    connection (`RequestResponseCycle.run_asgi`), so the client's next request on that connection
    failed. Here the exception ends with the answer. When the response had already started (a
    stream broken half-way) the exception is re-raised: that connection cannot carry a
    well-formed next response and must close.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            if started:
                raise
            log.exception("unhandled error answering %s %s", scope.get("method"), scope.get("path"))
            await error_response(500, "internal_error", "internal error; see the server log")(scope, receive, send)
