"""Issue 10, "no 500 from input": nesting-depth and size limits on every JSON body, NDJSON lines that
are not event objects, bounded integer parameters, and keep-alive connections that survive an
error answer. Through the real app and engines, and a real `fragstats serve` where the connection
matters."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from conftest import ADMIN, new_server, on_uvicorn, settle
from fragstats.bodies import JsonError, depth_exceeds, loads
from fragstats.errors import ErrorAnswerMiddleware
from fragstats.params import INT4_MAX, MAX_OFFSET

DEPTH = 32  # FRAGSTATS_MAX_JSON_DEPTH's default, which the session app uses


def nested_object(levels: int) -> dict:
    """`{"a": {"a": ... 1}}`: `levels` levels of objects."""
    doc: object = 1
    for _ in range(levels):
        doc = {"a": doc}
    return doc  # type: ignore[return-value]


def deep_array_bytes(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def deep_object_bytes(levels: int, key: bytes = b'"a"') -> bytes:
    """`nested_object(levels)` as JSON, built as bytes (the stdlib encoder itself stops near 1,000)."""
    return (b"{" + key + b":") * levels + b"1" + b"}" * levels


def event(match_id: str, **extra) -> dict:
    return {"type": "weapon_fire", "match_id": match_id, "session_id": "s_" + match_id, "timestamp": "1.5",
            "player_name": "P", "player_guid": "g1", "weapon": "MP40", **extra}


@pytest.fixture(scope="module")
async def token(client):
    _, tok = await new_server(client, "input limit tests")
    return tok


async def ingest(client, token, content: bytes, content_type: str = "application/json"):
    return await client.post("/api/v1/ingest/events", content=content,
                             headers={"X-Server-Token": token, "Content-Type": content_type})


# --- the depth measure itself ------------------------------------------------------------------

def test_depth_counts_levels_of_arrays_and_objects():
    assert not depth_exceeds(1, 0)
    assert not depth_exceeds({"a": 1}, 1) and depth_exceeds({"a": 1}, 0)
    assert not depth_exceeds([{"a": [1]}], 3) and depth_exceeds([{"a": [1]}], 2)
    assert depth_exceeds([[], [[[[]]]]], 4) and not depth_exceeds([[], [[[[]]]]], 5)
    assert not depth_exceeds(nested_object(DEPTH), DEPTH) and depth_exceeds(nested_object(DEPTH + 1), DEPTH)


def test_loads_refuses_past_the_limit_and_past_the_recursion_limit():
    assert loads(b"[" * DEPTH + b"]" * DEPTH, DEPTH) is not None
    for body in (deep_array_bytes(DEPTH + 1), deep_array_bytes(100_000)):
        with pytest.raises(JsonError) as err:
            loads(body, DEPTH)
        assert err.value.code == "too_deep"
    with pytest.raises(JsonError) as err:
        loads(b"{nope", DEPTH)
    assert err.value.code == "malformed_json"


# --- ingest ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
async def test_ingest_body_nested_1000_deep_is_400_too_deep(client, token, content_type):
    """The issue's 2 KB body: a RecursionError (500) before."""
    for body in (deep_array_bytes(1000), deep_object_bytes(1000)):
        resp = await ingest(client, token, body, content_type)
        assert resp.status_code == 400, resp.text
        if content_type == "application/json":
            assert resp.json()["error"] == "too_deep"
        else:  # NDJSON: the one line is rejected on its own
            assert resp.json()["events"] == [{"index": 0, "field": None, "reason": resp.json()["events"][0]["reason"]}]
            assert "deeper than 32" in resp.json()["events"][0]["reason"]


async def test_json_array_too_deep_event_rejected_alone(client, app, token):
    m = "match_" + uuid.uuid4().hex[:16]
    body = [event(m), event(m, note=nested_object(DEPTH)), event(m, note=nested_object(DEPTH - 1))]
    resp = await ingest(client, token, json.dumps(body).encode())
    assert resp.status_code == 202, resp.text
    out = resp.json()
    assert (out["accepted"], out["rejected"]) == (2, 1)
    assert out["errors"][0]["index"] == 1 and "FRAGSTATS_MAX_JSON_DEPTH" in out["errors"][0]["reason"]
    await settle(app)
    rows = await app.state.engines.query("SELECT count() FROM raw_events WHERE match_id = {m:String}", {"m": m})
    assert rows[0][0] == 2


async def test_ndjson_lines_that_are_not_objects_or_too_deep_rejected_per_line(client, app, token):
    """An array line raised AttributeError (500) before: the NDJSON fast path decoded every line as
    a *list* of events, so a line holding an array of valid events reached `stamp` as a list."""
    m = "match_" + uuid.uuid4().hex[:16]
    lines = [json.dumps(event(m)), json.dumps([event(m), event(m)]), "42", json.dumps(event(m)),
             json.dumps(event(m, note=nested_object(DEPTH))), "[" * 5000 + "]" * 5000, json.dumps(event(m))]
    resp = await ingest(client, token, "\n".join(lines).encode(), "application/x-ndjson")
    assert resp.status_code == 202, resp.text
    out = resp.json()
    assert (out["accepted"], out["rejected"]) == (3, 4)
    assert [e["index"] for e in out["errors"]] == [1, 2, 4, 5]
    assert out["errors"][0]["reason"] == "each NDJSON line must be one event object"
    await settle(app)
    rows = await app.state.engines.query("SELECT count() FROM raw_events WHERE match_id = {m:String}", {"m": m})
    assert rows[0][0] == 3


async def test_ndjson_of_valid_events_takes_the_one_call_path(client, app, token):
    from ingest.decode import decode_fast

    m = "match_" + uuid.uuid4().hex[:16]
    body = "\n".join(json.dumps(event(m, timestamp=str(i))) for i in range(5)).encode() + b"\n"
    assert len(decode_fast(body, "application/x-ndjson")) == 5
    resp = await ingest(client, token, body, "application/x-ndjson")
    assert resp.json() == {"accepted": 5, "rejected": 0, "errors": []}


# --- organiser and admin routes ----------------------------------------------------------------

DEEP_SETTINGS = b'{"name": "deep", "format": "single_elimination", "settings": ' + deep_object_bytes(1000) + b"}"


@pytest.mark.parametrize("path", ["/api/v1/tournaments", "/api/v1/tournaments/import", "/api/v1/servers",
                                  "/api/v1/keys"])
async def test_organiser_and_admin_bodies_nested_1000_deep_are_400(client, path):
    resp = await client.post(path, content=DEEP_SETTINGS, headers=ADMIN)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "too_deep"
    resp = await client.post(path, content=deep_array_bytes(1000), headers=ADMIN)
    assert resp.status_code == 400 and resp.json()["error"] == "too_deep"


async def test_tournament_settings_one_level_past_the_limit_is_400_and_at_the_limit_is_read(client):
    ok = {"name": "depth ok", "format": "single_elimination", "settings": {"x": nested_object(DEPTH - 2)}}
    resp = await client.post("/api/v1/tournaments", json=ok, headers=ADMIN)
    assert resp.status_code == 422 and resp.json()["error"] != "too_deep"  # read, then refused as a setting
    deep = {**ok, "settings": {"x": nested_object(DEPTH - 1)}}
    resp = await client.post("/api/v1/tournaments", json=deep, headers=ADMIN)
    assert resp.status_code == 400 and resp.json()["error"] == "too_deep"


async def test_organiser_body_over_the_size_limit_is_413(client, app):
    limit = app.state.settings.max_api_body_bytes
    resp = await client.post("/api/v1/tournaments", headers=ADMIN,
                             content=b'{"name": "' + b"x" * limit + b'", "format": "swiss"}')
    assert resp.status_code == 413 and resp.json()["error"] == "body_too_large"
    resp = await client.post("/api/v1/tournaments/1/registrations/import", headers={**ADMIN, "Content-Type": "text/csv"},
                             content=b"name\n" + b"x\n" * limit)
    assert resp.status_code == 413


async def test_malformed_and_non_utf8_bodies_are_400(client):
    for body in (b"{", b'{"name": "\xff"}', b"\x00"):
        resp = await client.post("/api/v1/tournaments", content=body, headers=ADMIN)
        assert resp.status_code == 400 and resp.json()["error"] == "malformed_json", resp.text


# --- integer parameters ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/stats/leaderboard", "/api/v1/stats/matches",
                                  "/api/v1/stats/match/m1/timeline", "/api/v1/tournaments", "/leaderboard",
                                  "/matches", "/tournaments"])
async def test_offset_past_its_range_is_400_naming_it_never_a_wrap(client, path):
    for raw in ("18446744073709551617", str(MAX_OFFSET + 1), "-1", "9" * 5000):
        resp = await client.get(path, params={"offset": raw}, headers=ADMIN)
        assert resp.status_code == 400, (path, raw, resp.text)
        if resp.headers["content-type"].startswith("application/json"):
            assert resp.json()["error"] == "invalid_parameter"
            assert f"offset must be an integer in 0..{MAX_OFFSET}" in resp.json()["detail"]
    resp = await client.get(path, params={"offset": str(MAX_OFFSET)}, headers=ADMIN)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("path", ["/api/v1/stats/leaderboard", "/api/v1/stats/matches", "/api/v1/stats/overview"])
async def test_server_id_past_its_column_is_400(client, path):
    resp = await client.get(path, params={"server_id": str(2**32 + 1)})
    assert resp.status_code == 400 and "server_id must be an integer in 1.." in resp.json()["detail"]
    assert (await client.get(path, params={"server_id": str(INT4_MAX)})).status_code == 200


@pytest.mark.parametrize("method,path", [("DELETE", "/api/v1/servers/{}"), ("GET", "/api/v1/servers/{}/live"),
                                         ("GET", "/api/v1/tournaments/{}"), ("GET", "/tournaments/{}")])
async def test_path_ids_past_int4_are_404(client, method, path):
    resp = await client.request(method, path.format(2**64 + 1), headers=ADMIN)
    assert resp.status_code == 404, resp.text


# --- keep-alive after an error answer ----------------------------------------------------------

def http_exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on an open socket; (status, body), reading exactly Content-Length."""
    sock.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed by the server after {buf!r}"
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(head.split(b" ", 2)[1]), body


def request_bytes(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {len(body)}",
             *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_one_connection_survives_bad_requests_on_a_real_server(serve_factory):
    """The issue's sequence on one keep-alive connection of `fragstats serve`: each bad body used to be
    a 500 after which the server closed the connection (see ErrorAnswerMiddleware)."""
    served = serve_factory().start()
    token = httpx.post(served.url + "/api/v1/servers", json={"name": "ka"}, headers=ADMIN).json()["token"]
    auth = {"Authorization": ADMIN["Authorization"]}
    bad = [
        request_bytes("POST", "/api/v1/tournaments", DEEP_SETTINGS,
                      Content_Type="application/json", **auth),
        request_bytes("POST", "/api/v1/ingest/events", deep_array_bytes(1000), Content_Type="application/json",
                      X_Server_Token=token),
        request_bytes("POST", "/api/v1/ingest/events", b'[{"type": "weapon_fire", "session_id": "s"}]\n',
                      Content_Type="application/x-ndjson", X_Server_Token=token),
        request_bytes("GET", "/api/v1/stats/leaderboard?offset=18446744073709551617"),
    ]
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        statuses = []
        for req in bad:
            statuses.append(http_exchange(sock, req)[0])
            status, body = http_exchange(sock, request_bytes("GET", "/health"))
            assert status == 200 and json.loads(body)["status"] == "ok"
    assert statuses == [400, 400, 400, 400]


async def test_a_500_keeps_the_connection_open_on_real_uvicorn():
    """A genuine internal error (a route that raises) still answers the JSON 500, and the same
    connection serves the next request: Starlette's ServerErrorMiddleware re-raises after its 500 and
    uvicorn then closes the connection; ErrorAnswerMiddleware ends the exception with the answer."""

    async def broken(request):
        raise RuntimeError("boom")

    async def fine(request):
        return PlainTextResponse("fine")

    app = Starlette(routes=[Route("/broken", broken), Route("/fine", fine)],
                    middleware=[Middleware(ErrorAnswerMiddleware)])
    async with on_uvicorn(app) as port:
        def exchange() -> list[tuple[int, bytes]]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                return [http_exchange(sock, request_bytes("GET", p)) for p in ("/broken", "/fine", "/broken", "/fine")]

        answers = await asyncio.to_thread(exchange)
    assert [a[0] for a in answers] == [500, 200, 500, 200]
    assert json.loads(answers[0][1])["error"] == "internal_error" and answers[1][1] == b"fine"


@pytest.mark.parametrize("csv_body", [b"\rR\xc2\x9c", b"name\n" + b"x" * 200_000, b"name,seed\nx," + b"9" * 5000,
                                      "name,seed\nx,\u00b2".encode()])
async def test_participant_csv_that_python_cannot_read_is_422(client, csv_body):
    """Found by the schemathesis fuzz: csv.Error (a bare CR, a field over the csv module's 128 KiB)
    and int() of a 5,000-digit or non-ASCII seed were 500s."""
    resp = await client.post("/api/v1/tournaments/1/registrations/import", content=csv_body,
                             headers={**ADMIN, "Content-Type": "text/csv"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid_settings"


async def test_time_zone_name_too_long_for_a_file_name_is_422(client):
    """zoneinfo opens a file named after the zone: a 5,000-character name raised OSError (500)."""
    tid = (await client.post("/api/v1/tournaments", json={"name": "tz cup", "format": "single_elimination"},
                             headers=ADMIN)).json()["id"]
    resp = await client.put(f"/api/v1/tournaments/{tid}/event", json={"timezone": "a" * 5000}, headers=ADMIN)
    assert resp.status_code == 422 and resp.json()["error"] == "invalid_time", resp.text
    assert (await client.put(f"/api/v1/tournaments/{tid}/event", json={}, headers=ADMIN)).status_code == 200
    resp = await client.get(f"/api/v1/tournaments/{tid}/event", params={"tz": "a" * 5000})
    assert resp.status_code == 422 and resp.json()["error"] == "invalid_time", resp.text


@pytest.mark.parametrize("path,body", [
    ("/api/v1/servers", {"name": "a\u0000b"}),
    ("/api/v1/keys", {"name": "k\u0000"}),
    ("/api/v1/tournaments", {"name": "t", "format": "swiss", "settings": {"x\u0000": 1}}),
])
async def test_nul_in_a_json_string_is_422_not_a_postgres_error(client, path, body):
    """Postgres `text`/`jsonb` refuse U+0000 (CharacterNotInRepertoireError: a 500 before)."""
    resp = await client.post(path, json=body, headers=ADMIN)
    assert resp.status_code == 422 and "U+0000" in resp.json()["detail"], resp.text
    # An escaped backslash followed by the letters u0000 is no NUL: read as usual.
    resp = await client.post("/api/v1/servers", content=b'{"name": "x\\\\u0000"}', headers=ADMIN)
    assert resp.status_code == 201 and resp.json()["name"] == "x\\u0000"


async def test_nul_in_a_participants_csv_is_422(client):
    resp = await client.post("/api/v1/tournaments/1/registrations/import", content=b"name,player_id\na,b\x00c\n",
                             headers={**ADMIN, "Content-Type": "text/csv"})
    assert resp.status_code == 422 and "U+0000" in resp.json()["detail"]


async def test_event_capacity_beyond_an_integer_column_is_422(client):
    tid = (await client.post("/api/v1/tournaments", json={"name": "cap cup", "format": "single_elimination"},
                             headers=ADMIN)).json()["id"]
    resp = await client.put(f"/api/v1/tournaments/{tid}/event", json={"capacity": 2**40}, headers=ADMIN)
    assert resp.status_code == 422 and "capacity must be 2..100000" in resp.json()["detail"], resp.text
