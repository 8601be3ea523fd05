"""OpenAPI 3.1 generated from the code: the app's routes (paths, methods, path parameter types), their
docstrings (summary, description, and the query parameters written in the docstring's first
`` `GET /path?name=a|b&limit=1..500` `` block), the ingest event schemas derived from the msgspec
Structs of `ingest/events.py`, and each other route's request body from the Struct its handler reads
(`read_json(request, NewTournament)` in its source) — one declaration, no hand-kept copy.

`spec(routes)` builds the document; `/openapi.json` serves it and `/docs` renders the same dict.
"""

from __future__ import annotations

import functools
import inspect
import re

import msgspec
from starlette.convertors import FloatConvertor, IntegerConvertor
from starlette.responses import Response
from starlette.routing import Mount, Route

from fragstats.params import INT4_MAX
from fragstats.web import render
from ingest.events import SERVER_OWNED, STRUCTS
from tournaments.catalogue import openapi_webhooks

INT_PARAMS = {"limit", "offset", "hours", "server_id", "owner_key_id", "after", "round", "match_id",
              "participant_id"}
_QUERY_BLOCK = re.compile(r"`[^`]*?\?([^`]*)`", re.S)
_CONVERTED = re.compile(r"\{(\w+):\w+\}")
_ADMIN_DOC = re.compile(r"\((?:admin|owner or admin|organiser or admin)\b")  # how docstrings say who may call
_OPS_PATHS = {"/health", "/ready", "/metrics"}
_READS_JSON = re.compile(r"\bread_json\(request,\s*([^)]+?)\)")
_READS_TEXT = re.compile(r"\bread_text\(request\)")
ERROR_SCHEMA = {
    "type": "object", "required": ["error", "detail"],
    "properties": {"error": {"type": "string", "description": "machine-readable code, e.g. invalid_parameter"},
                   "detail": {"type": "string"},
                   "events": {"type": "array", "items": {"type": "object", "properties": {
                       "index": {"type": "integer"}, "field": {"type": "string"}, "reason": {"type": "string"}}}}},
}


def _tag(path: str) -> str:
    if path in _OPS_PATHS:
        return "operations"
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"] and len(parts) > 2:
        return "live" if parts[2] == "stream" or path.endswith("/live") else parts[2]
    return "pages"


def query_parameters(doc: str) -> list[dict]:
    """Query parameters named in the docstring's first backquoted `path?a=x|y&b=1..9&c=` block: `x|y`
    becomes an enum, `1..9` an integer range, known id/paging names integers, the rest strings."""
    m = _QUERY_BLOCK.search(doc)
    if not m:
        return []
    out, seen = [], set()
    for item in re.sub(r"\s+", "", m.group(1)).split("&"):
        name, _, values = item.partition("=")
        if not re.fullmatch(r"\w+", name) or name in seen:
            continue
        seen.add(name)
        schema: dict = {"type": "string"}
        if re.fullmatch(r"\d+\.\.\d+", values):
            lo, hi = values.split("..")
            schema = {"type": "integer", "minimum": int(lo), "maximum": int(hi)}
        elif "|" in values:
            schema = {"type": "string", "enum": values.split("|")}
        elif name in INT_PARAMS:
            # The ranges fragstats.params enforces: ids and offsets are Postgres `integer`s.
            schema = {"type": "integer", "minimum": 0, "maximum": INT4_MAX}
        param = {"name": name, "in": "query", "required": False, "schema": schema}
        if name == "type":
            param.update(explode=True, schema={"type": "array", "items": {"type": "string"}})
        out.append(param)
    return out


def event_schemas() -> tuple[dict, dict]:
    """(request body schema of `POST /api/v1/ingest/events`, component schemas of every event type),
    from `ingest.events.STRUCTS`; server-owned fields (`server_id`, `received_at`, `extra`) left out."""

    refs, components = msgspec.json.schema_components(list(STRUCTS.values()),
                                                      ref_template="#/components/schemas/{name}")
    for schema in components.values():
        for name in SERVER_OWNED:
            schema.get("properties", {}).pop(name, None)
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r not in SERVER_OWNED]
    one = {"oneOf": list(refs), "discriminator": {"propertyName": "type"}}
    components["Event"] = one
    body = {"oneOf": [{"$ref": "#/components/schemas/Event"},
                      {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}]}
    return body, components


def webhook_schemas() -> tuple[dict, dict]:
    """(the OpenAPI `webhooks` object, its component schemas): the tournaments' webhook events
    (`tournaments.catalogue`)."""

    return openapi_webhooks()


@functools.cache  # reading the source costs ~0.5 ms a route; `/openapi.json` and `/docs` ask per request
def request_body(endpoint) -> tuple[dict | None, list]:
    """(OpenAPI `requestBody` of a non-ingest route, the Struct types it names) read from the
    handler's source: `read_json(request, T)` gives `application/json` with T's schema (any JSON
    object when T is not a plain name, e.g. `dict[str, Any]`), `read_text(request)` a `text/csv` body;
    (None, []) for a route that reads no body. Cached: treat the answer as read-only."""
    fn = inspect.unwrap(endpoint)
    declared = getattr(fn, "openapi_body", None)  # (content type, Struct or JSON schema): fragstats.bodies.body_of
    if declared is not None:
        ctype, typ = declared
        if isinstance(typ, type) and issubclass(typ, msgspec.Struct):
            return {"required": True, "content": {ctype: {"schema": {"$ref": f"#/components/schemas/{typ.__name__}"}}}}, [typ]
        return {"required": True, "content": {ctype: {"schema": typ}}}, []
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return None, []
    if _READS_TEXT.search(source):
        return {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}, []
    m = _READS_JSON.search(source)
    if not m:
        return None, []
    typ = fn.__globals__.get(m.group(1).strip())
    if isinstance(typ, type) and issubclass(typ, msgspec.Struct):
        schema, types = {"$ref": f"#/components/schemas/{typ.__name__}"}, [typ]
    else:
        schema, types = {"type": "object"}, []
    return {"required": False, "content": {"application/json": {"schema": schema}}}, types


def summary_of(doc: str) -> str:
    """A one-line summary: the docstring's first words after its leading `METHOD /path...` block (from
    the next paragraph when the block stands alone), up to the first sentence end, at most 160 chars."""
    text = re.sub(r"^`[^`]*`:?\s*", "", doc.strip(), flags=re.S).strip()
    text = re.sub(r"\s+", " ", text.split("\n\n", 1)[0] if text else doc.strip())
    m = re.search(r"(?<=[.;])\s", text)
    text = text[:m.start()].rstrip(";") if m else text
    return text[:160].strip("` ") or doc[:80]


def _operation(route: Route, method: str, path: str) -> dict:
    doc = inspect.getdoc(route.endpoint) or ""
    op_summary = summary_of(doc)
    op: dict = {"operationId": f"{method.lower()}_{route.endpoint.__name__}", "tags": [_tag(path)],
                "summary": op_summary, "description": doc, "parameters": []}
    for name, conv in route.param_convertors.items():
        typ = "integer" if isinstance(conv, IntegerConvertor) else "number" if isinstance(conv, FloatConvertor) else "string"
        # `{x:int}` is digits only, and every such parameter is a Postgres `integer` id (fragstats.params).
        schema = {"type": typ, "minimum": 0, "maximum": INT4_MAX} if typ == "integer" else {"type": typ}
        op["parameters"].append({"name": name, "in": "path", "required": True, "schema": schema})
    if method == "GET":
        op["parameters"] += query_parameters(doc)
    tag = op["tags"][0]
    if tag == "pages":
        op["responses"] = {"200": {"description": "HTML page", "content": {"text/html": {}}}}
    elif path == "/api/v1/stream/live":
        op["responses"] = {"200": {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}}
    elif path == "/metrics":
        op["responses"] = {"200": {"description": "Prometheus text exposition", "content": {"text/plain": {}}}}
    else:
        op["responses"] = {"200": {"description": "JSON, as described above",
                                   "content": {"application/json": {"schema": {"type": "object"}}}},
                           "4XX": {"description": "error", "content": {"application/json": {
                               "schema": {"$ref": "#/components/schemas/Error"}}}}}
    if path == "/api/v1/ingest/events":
        op["security"] = [{"serverToken": []}]
        op["requestBody"] = {"required": True, "description": "One event, an array, NDJSON or URL-encoded "
                             "lines; numbers may be sent as strings; gzip allowed.",
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBody"}},
                                         "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/Event"}},
                                         "application/x-www-form-urlencoded": {}}}
        op["responses"]["202"] = op["responses"].pop("200")
    else:
        body, _ = request_body(route.endpoint)
        if body is not None and method != "GET":
            op["requestBody"] = body
        if _ADMIN_DOC.search(doc[:400]):
            op["security"] = [{"bearer": []}]
    if getattr(route.endpoint, "deprecated", False):  # an old route name kept as an alias
        op["deprecated"] = True
    if not op["parameters"]:
        del op["parameters"]
    return op


def flat_routes(routes, prefix: str = "") -> list[tuple[str, Route]]:
    """`(full path template, route)` of every `Route` in `routes`, those inside a `Mount` of routes
    with the mount's path in front (`Mount("/api/v1/tournaments", routes=[Route("/{id:int}", ...)])`
    gives `/api/v1/tournaments/{id:int}`); mounted apps without routes (`/static`) are left out."""
    out: list[tuple[str, Route]] = []
    for route in routes:
        if isinstance(route, Route):
            out.append((prefix + route.path, route))
        elif isinstance(route, Mount):
            out += flat_routes(route.routes, prefix + route.path)
    return out


def spec(routes) -> dict:
    """The OpenAPI 3.1 document of `routes` (an app's route list, mounts included)."""
    paths: dict[str, dict] = {}
    flat = flat_routes(routes)
    for full, route in flat:
        path = _CONVERTED.sub(r"{\1}", full)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation(route, method, path)
    body, events = event_schemas()
    bodies = [t for _, route in flat for t in request_body(route.endpoint)[1]]
    _, body_components = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    hooks, hook_components = webhook_schemas()
    tags = sorted({op["tags"][0] for ops in paths.values() for op in ops.values()})
    return {
        "openapi": "3.1.0",
        "info": {"title": "fragstats", "version": "1",
                 "description": "Game telemetry in, leaderboards, profiles, heatmaps, matches, live state and "
                                "tournaments out. Times are UTC; each operation says ISO-8601 or epoch."},
        "tags": [{"name": t} for t in tags],
        "paths": dict(sorted(paths.items())),
        "webhooks": hooks,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, "IngestBody": body, **events, **body_components, **hook_components},
            "securitySchemes": {
                "serverToken": {"type": "apiKey", "in": "header", "name": "X-Server-Token",
                                "description": "a game server's token (`POST /api/v1/servers`)"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "the admin token, or an API key with the needed scope"}}},
    }


def encode(doc: dict) -> bytes:
    """The document as JSON bytes."""
    return msgspec.json.encode(doc)


def by_tag(doc: dict) -> list[tuple[str, list[dict]]]:
    """Operations grouped by tag for the docs page: `[(tag, [{"method", "path", **operation}])]`."""
    groups: dict[str, list[dict]] = {t["name"]: [] for t in doc["tags"]}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            groups[op["tags"][0]].append({"method": method.upper(), "path": path, **op})
    order = ["ingest", "stats", "live", "servers", "keys", "tournaments", "operations", "pages"]
    return sorted(groups.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 50, kv[0]))


def _type_name(schema: dict) -> str:
    if "anyOf" in schema:
        return " | ".join(_type_name(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    if schema.get("type") == "object":
        return "object"
    return schema.get("type", "any")


def event_table(doc: dict) -> list[dict]:
    """Each event type with its fields and types, for the docs page: `[{"type", "fields": [(name, type)]}]`."""
    out = []
    for ref in doc["components"]["schemas"]["Event"]["oneOf"]:
        schema = doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
        props = schema["properties"]
        out.append({"type": props["type"]["enum"][0],
                    "fields": [(k, _type_name(v)) for k, v in props.items() if k != "type"]})
    return out


async def openapi_json(request):
    """`GET /openapi.json`: the OpenAPI 3.1 description of every route, generated from the routes and
    their docstrings, with the ingest event schemas from the msgspec Structs."""
    return Response(encode(spec(request.app.routes)), media_type="application/json")


async def docs_page(request):
    """`GET /docs`: the same OpenAPI document rendered as one HTML page (no JavaScript, no CDN)."""
    doc = spec(request.app.routes)
    return render(request, "docs.html", {"doc": doc, "groups": by_tag(doc), "events": event_table(doc)})
