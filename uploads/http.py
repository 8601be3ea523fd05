"""HTTP helpers shared by the uploads' routes: JSON answers, parameters, the upload wrapper (API
version, metrics), the authenticated uploader."""

from __future__ import annotations

import functools
import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fragstats.errors import ApiError

API_VERSION = "1"
_encode = msgspec.json.encode


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json", headers=headers)


def choice(params, name: str, choices, default: str) -> str:
    """A query parameter restricted to `choices`; raises ApiError 400 `invalid_parameter`."""
    value = params.get(name) or default
    if value not in choices:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {'|'.join(choices)}")
    return value


def text_param(params, name: str, max_length: int = 128) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_length or "\x00" in value:
        raise ApiError(400, "invalid_parameter", f"{name} must be at most {max_length} characters, without NUL")
    return value


def upload_route(kind: str):
    """Wrap an upload handler: check `X-API-Version`, count and time the answer
    (`fragstats_uploads_total{kind, status, client_version}`, `fragstats_upload_seconds{kind}`), and
    add `X-API-Version` to every answer, errors included."""

    def wrap(handler):
        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            metrics = request.app.state.uploads.metrics
            request.state.client_version = None
            request.state.created = True
            status = 500
            try:
                asked = request.headers.get("x-api-version")
                if asked is not None and asked.strip() != API_VERSION:
                    raise ApiError(400, "unsupported_api_version", f"X-API-Version {asked[:20]!r}: this server speaks {API_VERSION}")
                response = await handler(request)
                status = response.status_code
                response.headers["X-API-Version"] = API_VERSION
                return response
            except ApiError as exc:
                status = exc.status_code
                exc.headers = {**(exc.headers or {}), "X-API-Version": API_VERSION}
                raise
            finally:
                metrics.answered(kind, status, request.state.client_version, time.perf_counter() - started,
                                 request.state.created)

        return wrapped

    return wrap


async def uploader(request: Request, scope: str = "upload"):
    """(the upload service, the authenticated uploader) after counting the request against its rate."""
    svc = request.app.state.uploads
    who = await svc.limits.authenticate(request, scope)
    await svc.limits.hit(who)
    return svc, who


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
