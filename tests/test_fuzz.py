"""Bounded property-based fuzzing (issue 10): no input, on any route, gets a 5xx.

- the ingest door with hypothesis: JSON arrays / objects / NDJSON / forms, optionally gzip, made of
  events with wrong types, huge numbers, odd strings, unknown keys and deep nesting; every answer
  is a 4xx or a 202 whose accounting holds (accepted + rejected = items sent);
- every organiser/admin route that reads a body, with hypothesis: the fields of the body's Struct
  filled with any JSON (strings with NUL and lone surrogates, 70-bit integers, nested values);
- every operation of `/openapi.json` with schemathesis (valid and invalid parameters and bodies),
  checked with `not_a_server_error`, authenticated as the admin (and as a game server on ingest).

Both run against one real `fragstats serve` (uvicorn, embedded engines) on one keep-alive
connection per test, so a 500 that also broke the connection would show too. Budget: about 30 s
for the whole module on the 2-core box (examples per test below).
"""

from __future__ import annotations

import gzip
import json
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from conftest import ADMIN, ServeProcess
from fragstats import openapi
from fragstats.app import create_app
from fragstats.settings import Settings
from ingest.events import EVENT_TYPES, WIRE_FIELDS

INGEST_EXAMPLES = 250
ORGANISER_EXAMPLES = 300
EXAMPLES_PER_OPERATION = 12
# Server-Sent Events: an endless stream, not a request/answer. The ingest door has its own fuzz above
# (schemathesis spends ~2 s generating each example of its 30-type event union).
SKIPPED = [("GET", "/api/v1/stream/live"), ("POST", "/api/v1/ingest/events")]



def fuzz(examples: int) -> settings:
    """Bounded runs: no deadline (a real server shares 2 cores), no replay database between runs."""
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One real server for the module, with a server token and a started tournament (id 1) so that
    fuzzed ids reach the handlers, not only their 404s."""
    proc = ServeProcess(tmp_path_factory.mktemp("fuzz"), {"FRAGSTATS_FLUSH_INTERVAL_MS": "50"}).start()
    try:
        with httpx.Client(base_url=proc.url, headers=ADMIN, timeout=30) as c:
            proc.token = c.post("/api/v1/servers", json={"name": "fuzz"}).json()["token"]
            tid = c.post("/api/v1/tournaments", json={"name": "fuzz cup", "format": "single_elimination"}).json()["id"]
            for name in ("a", "b", "c"):
                c.post(f"/api/v1/tournaments/{tid}/participants", json={"name": name})
            c.post(f"/api/v1/tournaments/{tid}/start")
        yield proc
    finally:
        proc.stop()


# --- ingest ------------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.integers(-5, 5)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(["", "9.8", "-0", "1e400", "NaN", "0x10", "no_match", "2026-01-01T00:00:00Z",
                              "18446744073709551617", "\u0000", "\ud7ff\ue000", "^1Name"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=12)
field_names = st.sampled_from(sorted({f for fields in WIRE_FIELDS.values() for f in fields}))
events = st.fixed_dictionaries(
    {"type": st.sampled_from([*EVENT_TYPES, "custom_thing"]) | scalars},
    optional={"match_id": st.text(max_size=8), "session_id": st.text(max_size=8), "timestamp": scalars,
              "occurred_at": scalars, "server_id": scalars, "extra": json_values},
).flatmap(lambda ev: st.dictionaries(field_names | st.text(max_size=6), scalars | json_values, max_size=6)
          .map(lambda more: {**more, **ev}))
items = events | json_values
valid_events = st.builds(lambda t, s, ts: {"type": t, "session_id": s, "timestamp": ts},
                         st.sampled_from(["jump", "player_spawn", "crouch"]), st.text(max_size=5), st.integers(0, 999))


def deep(levels: int, open_: str = "[", close: str = "]") -> str:
    return open_ * levels + close * levels


@st.composite
def ingest_bodies(draw) -> tuple[bytes, str, int | None]:
    """(body, content type, number of items the server must account for; None when the body as a
    whole may be refused, e.g. not JSON)."""
    kind = draw(st.sampled_from(["json_array", "json_object", "ndjson", "form", "raw", "deep"]))
    if kind == "json_array":
        xs = draw(st.lists(items, max_size=8))
        body, ctype, n = json.dumps(xs).encode(), "application/json", len(xs)
    elif kind == "json_object":
        body, ctype, n = json.dumps(draw(events)).encode(), "application/json", 1
    elif kind == "ndjson":
        # An array of valid events on one line reached `stamp` as a list (AttributeError) before.
        lines = draw(st.lists(items.map(json.dumps) | valid_events.map(json.dumps) | st.text(max_size=10)
                              | st.lists(valid_events, min_size=1, max_size=3).map(json.dumps)
                              | st.sampled_from([deep(2000), "[]", "{"]), max_size=8))
        body, ctype = "\n".join(lines).encode(), draw(st.sampled_from(["application/x-ndjson", "application/jsonl"]))
        n = sum(1 for line in body.splitlines() if line.strip())
    elif kind == "form":
        rows = draw(st.lists(st.dictionaries(field_names | st.text(max_size=5), st.text(max_size=8), max_size=5)
                             .map(lambda d: {"type": "weapon_fire", **d}), min_size=1, max_size=4))
        text = "\n".join(urlencode(r) for r in rows)
        body, ctype = text.encode(), "application/x-www-form-urlencoded"
        n = sum(1 for line in text.splitlines() if line.strip())
    elif kind == "deep":
        levels = draw(st.sampled_from([31, 32, 33, 999, 5000]))
        body = draw(st.sampled_from([deep(levels), deep(levels, '{"a":', "}").replace("{}", "{\"a\":1}"),
                                     "[" + json.dumps({"type": "jump"})[:-1] + ', "x": ' + deep(levels) + "}]"])).encode()
        ctype, n = draw(st.sampled_from(["application/json", "application/x-ndjson"])), None
    else:
        body, n = draw(st.binary(max_size=64)), None
        ctype = draw(st.sampled_from(["application/json", "application/x-ndjson", "application/x-www-form-urlencoded",
                                      "text/plain", ""]))
    return body, ctype, n


@fuzz(INGEST_EXAMPLES)
@given(case=ingest_bodies(), gzipped=st.booleans())
def test_ingest_never_5xx_and_accounts_for_every_item(served, case, gzipped):
    body, ctype, n_items = case
    headers = {"X-Server-Token": served.token, "Content-Type": ctype}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    resp = served.client.post("/api/v1/ingest/events", content=body, headers=headers)
    assert resp.status_code < 500, resp.text
    out = resp.json()
    if resp.status_code == 202:
        indexes = [e["index"] for e in out["errors"]]
        assert len(set(indexes)) == len(indexes) == out["rejected"]
        if n_items is not None:
            assert out["accepted"] + out["rejected"] == n_items, out
            assert all(0 <= i < n_items for i in indexes)
    else:
        assert 400 <= resp.status_code < 500 and out["error"], out
        if out["error"] == "no_valid_events" and n_items:
            assert len(out["events"]) == n_items, out


@pytest.fixture(scope="module", autouse=True)
def _client(served):
    """One keep-alive connection for the module's requests (`served.client`)."""
    with httpx.Client(base_url=served.url, timeout=30) as client:
        served.client = client
        yield


# --- every organiser/admin body, with hypothesis' own strings (NUL, surrogates, huge numbers) -----

SPEC = openapi.spec(create_app(Settings()).routes)
BODY_OPERATIONS = [
    (method.upper(), path, op["requestBody"]["content"])
    for path, ops in SPEC["paths"].items() if path != "/api/v1/ingest/events"
    for method, op in ops.items() if "requestBody" in op
]


def body_fields(content: dict) -> list[str]:
    """The property names of a JSON body's Struct (none for a free-form object or a CSV body)."""
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return sorted(SPEC["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))


# Values a Struct field may be given: mostly of a plausible kind, with the characters and sizes
# that the engines behind refuse (NUL, a lone surrogate, 70-bit integers).
field_values = st.one_of(st.sampled_from(["a\x00b", "\ud800", "http://x/\x00"]), st.text(max_size=12),
                         st.sampled_from(["", "x" * 300, -1, 0, 1, 2**31, 2**63, 2**70, True, None]),
                         st.lists(st.integers(-(2**40), 2**40) | st.text(max_size=5), max_size=3), json_values)


@st.composite
def organiser_requests(draw) -> tuple[str, str, bytes, str]:
    method, path, content = draw(st.sampled_from(BODY_OPERATIONS))
    for name in ("tournament_id", "match_id"):  # the fixture's tournament 1 and its first match
        path = path.replace("{" + name + "}", str(draw(st.sampled_from([1, 2, 2**31]))))
    if "text/csv" in content:
        header = draw(st.sampled_from(["name", "name,seed", "name,tag,seed,player_id,members", ""]))
        rows = draw(st.lists(st.text(max_size=12), max_size=4))
        return method, path, "\n".join([header, *rows]).encode("utf-8", "surrogatepass"), "text/csv"
    fields = body_fields(content)
    if fields:  # every field half the time (more of them reach the engines), any subset otherwise
        doc = draw(st.fixed_dictionaries({f: field_values for f in fields})
                   | st.fixed_dictionaries({}, optional={f: field_values for f in fields}))
    else:
        doc = draw(json_values)
    return method, path, json.dumps(doc).encode(), "application/json"


@fuzz(ORGANISER_EXAMPLES)
@given(request=organiser_requests())
def test_organiser_and_admin_bodies_never_5xx(served, request):
    method, path, body, ctype = request
    resp = served.client.request(method, path, content=body, headers={**ADMIN, "Content-Type": ctype})
    assert resp.status_code < 500, (method, path, body[:300], resp.text)


# --- every route of /openapi.json --------------------------------------------------------------

schema = schemathesis.openapi.from_dict(SPEC)
for method, path in SKIPPED:
    schema = schema.exclude(method=method, path=path)


@schema.parametrize()
@fuzz(EXAMPLES_PER_OPERATION)
def test_no_route_answers_5xx(case, served):
    case.call_and_validate(base_url=served.url, headers=dict(ADMIN), checks=[not_a_server_error])
