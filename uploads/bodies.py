"""Upload bodies: read with the uploads' own limits, gunzipped within bounds, decoded into Structs with
errors that name the field path.

Limits (settings): `FRAGSTATS_UPLOAD_MAX_BODY_BYTES` (after gzip), `FRAGSTATS_UPLOAD_MAX_JSON_DEPTH`.
Reading and depth checks are the kernel's (`fragstats.bodies`); only the sizes differ.
"""

from __future__ import annotations

import re
import zlib

import msgspec
from starlette.requests import Request

from fragstats.bodies import JsonError, loads, read_body
from fragstats.errors import ApiError

_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<field>\$[^`]*)`)?$", re.S)


class BodyProblem(ApiError):
    """A 4xx about a document, listing each problem as `{"index", "field", "reason"}` in `events`."""

    def __init__(self, status: int, code: str, problems: list[dict]):
        detail = "; ".join(f"{p['field']}: {p['reason']}" if p.get("field") else p["reason"] for p in problems)
        super().__init__(status, code, detail[:2000])
        self.events = problems


def problem(field: str, reason: str, index: int = 0) -> dict:
    """One problem of a document: the JSON path of the field (`$.players[3].damageSkills[0].timeline`)."""
    return {"index": index, "field": field, "reason": reason}


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing more than `limit` bytes of output (a small bomb must not
    expand in memory). Raises ApiError 413 `body_too_large` or 400 `bad_gzip`."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, "bad_gzip", f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(413, "body_too_large", f"body expands beyond the limit of {limit} bytes")
    if not inflater.eof:
        raise ApiError(400, "bad_gzip", "gzip body is truncated")
    return out


async def read_upload(request: Request, limit: int | None = None) -> bytes:
    """The request body, decompressed when `Content-Encoding: gzip`, at most
    `FRAGSTATS_UPLOAD_MAX_BODY_BYTES` (or `limit`) bytes before and after. Raises ApiError 413, 400
    `bad_gzip`, 415 for another content encoding."""
    limit = limit or request.app.state.settings.upload_max_body_bytes
    body = await read_body(request, limit)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return gunzip(body, limit)
    if encoding not in ("", "identity"):
        raise ApiError(415, "unsupported_media_type", f"Content-Encoding {encoding!r}: send gzip or nothing")
    return body


def decode_json(body: bytes, max_depth: int):
    """JSON bytes -> dicts and lists (depth-limited). Raises ApiError 400 `malformed_json`/`too_deep`,
    422 for a NUL character (Postgres cannot store it)."""
    try:
        doc = loads(body, max_depth)
    except JsonError as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    if b"\\u0000" in body:
        raise BodyProblem(422, "invalid_body", [problem("$", "strings must not contain U+0000 (NUL)")])
    return doc


def convert(doc, typ, index: int = 0):
    """`doc` as `typ` (a msgspec Struct); raises BodyProblem 422 whose problem names the field path
    (msgspec's `$.players[0].dps`) and the reason."""
    try:
        return msgspec.convert(doc, typ)
    except msgspec.ValidationError as exc:
        m = _PATH.match(str(exc))
        raise BodyProblem(422, "invalid_body", [problem(m.group("field") or "$", m.group("reason"), index)]) from None
