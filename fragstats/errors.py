"""The one JSON error shape of the API: `{"error": code, "detail": ..., "events": [...]}`."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse


class ApiError(HTTPException):
    """Raise from a route to answer `status` with `{"error": code, "detail": detail}`."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(status, detail, headers)
        self.code = code


def error_response(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                   **extra) -> JSONResponse:
    body = {"error": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
          422: "unprocessable", 429: "overloaded", 503: "unavailable"}


async def http_exception_handler(request: Request, exc: HTTPException) -> JSONResponse:
    code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def unhandled_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    # Still JSON, never an HTML traceback; the log has the traceback.
    return error_response(500, "internal_error", "internal error; see the server log")


class StartupError(Exception):
    """The service cannot start, for a reason outside the program (a data dir that cannot be written,
    a full disk, an engine that will not start or answer). Its message is one sentence saying what
    failed, where, and the system's reason; `fragstats serve` prints it without a traceback and
    exits 1."""
