"""Request bodies read safely: a size limit, a nesting-depth limit, and 4xx answers, never a 500.

Why a depth limit: msgspec, like every recursive JSON parser, descends once per nesting level and
stops with `RecursionError` at Python's recursion limit (~1,000 levels less the stack the request
already uses), so a 2 KB body of `[[[[...` used to answer 500. A document just under that limit
decodes, then raises `RecursionError` later, when it is encoded again (`msgspec.json.encode`,
asyncpg's JSON codec). A small fixed limit (`FRAGSTATS_MAX_JSON_DEPTH`, 32 levels) makes the
answer deterministic: 400 `too_deep`. msgspec has no depth option of its own (it defers to the
recursion limit: msgspec issue #1033), so the depth of a decoded document is measured here.

Depth: a scalar is 0 levels, an array or object is 1 + the deepest of its members; so a flat
object is 1 and `[{"a": [1]}]` is 3.

Size: `FRAGSTATS_MAX_API_BODY_BYTES` (1 MiB) for every route but ingest (which has its own, larger
`FRAGSTATS_MAX_BODY_BYTES`). U+0000 in a string is refused (422): Postgres `text`/`jsonb` cannot
store it, and every non-ingest body ends up there.
"""

from __future__ import annotations

import re

import msgspec
from starlette.requests import Request

from fragstats.errors import ApiError
from fragstats.params import decimal_digits
from fragstats.settings import Settings

DEFAULT_MAX_DEPTH: int = Settings.model_fields["max_json_depth"].default
# `\u0000` escaped in a JSON string: an odd number of backslashes before `u0000`.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
NUL_DETAIL = "strings must not contain U+0000 (NUL): Postgres cannot store it"
_CONTAINERS = frozenset({dict, list})
_decoder = msgspec.json.Decoder()


class JsonError(ValueError):
    """A JSON document that cannot be taken: `code` is `malformed_json` or `too_deep`."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def depth_exceeds(doc: object, limit: int) -> bool:
    """True when `doc` (decoded JSON: dicts, lists, scalars) nests more than `limit` levels.

    Iterative, one level at a time, so it cannot itself hit the recursion limit; a container whose
    members are all scalars costs one C-level scan of their types (~0.5 µs for a 30-key event).
    """
    level = [doc] if type(doc) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper = []
        for node in level:
            members = node.values() if type(node) is dict else node
            if not _CONTAINERS.isdisjoint(map(type, members)):
                deeper.extend(m for m in members if type(m) in _CONTAINERS)
        level = deeper
    return False


def too_deep_detail(limit: int) -> str:
    """The one wording of the depth refusal, for bodies and for single events."""
    return f"nested deeper than {limit} levels of arrays/objects (FRAGSTATS_MAX_JSON_DEPTH)"


def loads(data: bytes, max_depth: int) -> object:
    """JSON bytes -> dicts, lists and scalars, at most `max_depth` levels deep.

    Raises JsonError `malformed_json` (not JSON, not UTF-8) or `too_deep`.
    """
    try:
        doc = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise JsonError("malformed_json", f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise JsonError("too_deep", too_deep_detail(max_depth)) from None
    if depth_exceeds(doc, max_depth):
        raise JsonError("too_deep", too_deep_detail(max_depth))
    return doc


class ByteBudget:
    """Bytes of request bodies being read and decoded at once, across all connections.

    Without it, many large requests read concurrently hold their bodies (and their decoded
    objects) in memory before any of them reaches a queue's bound."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0

    def take(self, n: int) -> bool:
        """Hold `n` more bytes (True), or refuse (False) when that would pass the capacity. A
        request alone may always hold up to the capacity, so one body never waits for itself."""
        if self.used and self.used + n > self.capacity:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


class BudgetExceeded(Exception):
    """Reading this body now would pass the reading budget: shed the request (429)."""


async def read_body(request: Request, limit: int, budget: ByteBudget | None = None,
                    held: list[int] | None = None) -> bytes:
    """The whole request body, refusing more than `limit` bytes (checked on the declared
    Content-Length first, then while streaming, so an oversized body is never held whole).

    With a `budget`, the body's bytes are taken from it as they are known (the declared length
    first, else as the body arrives) and added to `held[0]`; the caller gives them back.
    Raises ApiError 413 `body_too_large`, BudgetExceeded.
    """
    held = held if held is not None else [0]
    declared = request.headers.get("content-length")
    if declared is not None and decimal_digits(declared):
        if int(declared) > limit:
            raise ApiError(413, "body_too_large", f"body of {declared} bytes exceeds the limit of {limit} bytes")
        if budget is not None:
            if not budget.take(int(declared)):
                raise BudgetExceeded()
            held[0] += int(declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"body exceeds the limit of {limit} bytes")
        if budget is not None and size > held[0]:  # no (or a wrong) Content-Length: take it as it arrives
            if not budget.take(size - held[0]):
                raise BudgetExceeded()
            held[0] = size
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, typ: type) -> object:
    """Decode the JSON body of a non-ingest route into `typ` (a msgspec Struct, `dict[str, Any]`...).

    Limits (settings): `FRAGSTATS_MAX_API_BODY_BYTES` bytes, `FRAGSTATS_MAX_JSON_DEPTH` levels.
    An empty body reads as `{}`. Raises ApiError 413 `body_too_large`, 400 `malformed_json` or
    `too_deep`, 422 `invalid_body` (wrong shape; the message names the field, e.g. `$.name`; or a
    string holding U+0000).
    """
    settings = request.app.state.settings
    body = await read_body(request, settings.max_api_body_bytes)
    try:
        doc = loads(body or b"{}", settings.max_json_depth)
    except JsonError as exc:
        raise ApiError(400, exc.code, exc.detail) from None
    if b"\\u0000" in body and _NUL_ESCAPE.search(body):
        raise ApiError(422, "invalid_body", NUL_DETAIL)
    try:
        return msgspec.convert(doc, typ)
    except msgspec.ValidationError as exc:
        raise ApiError(422, "invalid_body", str(exc)) from None


async def read_text(request: Request) -> str:
    """A text body (CSV imports) of at most `FRAGSTATS_MAX_API_BODY_BYTES` bytes, decoded as UTF-8
    (undecodable bytes become U+FFFD). Raises ApiError 413 `body_too_large`, 422 `invalid_body` for
    a NUL character."""
    body = await read_body(request, request.app.state.settings.max_api_body_bytes)
    if b"\x00" in body:
        raise ApiError(422, "invalid_body", NUL_DETAIL)
    return body.decode("utf-8", errors="replace")


def body_of(content_type: str, schema):
    """Declare the request body of a handler that reads it otherwise than `read_json`/`read_text`
    (e.g. with larger limits): `schema` is a msgspec Struct or a JSON schema dict. Apply it innermost."""

    def mark(fn):
        fn.openapi_body = (content_type, schema)
        return fn

    return mark
