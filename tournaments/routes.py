"""JSON routes under `/api/v1/tournaments`: the HTTP face of the pure bracket engine.

Reads are public. Writes need `Authorization: Bearer <key>` with the `tournaments` scope (an
organiser key from `POST /api/v1/keys`) or the admin token; an organiser may change only the
tournaments it created (else 403), the admin any. Every write is one transaction with the
tournament row locked (see `tournaments.store`), and every change lands in the audit log.

Errors are `{"error": code, "detail": ...}`: 400 malformed JSON, 401 no/unknown key, 403 not the
owner, 404 unknown tournament/match/participant, 409 the operation does not fit the state
(`match_not_ready`, `downstream_started`, `round_not_complete`, `stage_error`), 422 a body or
result that cannot be (`invalid_body`, `invalid_settings`, `invalid_result`). Times are ISO-8601 UTC.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats.auth import Principal
from fragstats.bodies import read_json
from fragstats.errors import ApiError
from fragstats.params import INT4_MAX, int_param, path_id

from . import lifecycle, results, standings, store, swiss
from .errors import TournamentError
from .model import FORMATS, Match, Participant, Tournament

Handler = Callable[[Request], Awaitable[Response]]


class NewTournament(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    format: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class NewParticipant(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    seed: int | None = None


class RoundRequest(msgspec.Struct, forbid_unknown_fields=True):
    round: int | None = None


class ResultReport(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly one of ``scores``, ``games``, ``forfeit``; ``forfeit`` is the side (1 or 2) that gives up."""

    scores: list[int] | None = None
    games: list[list[int]] | None = None
    forfeit: int | None = None
    winner: int | None = None
    force: bool = False


def _code(exc: TournamentError) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def engine_errors(handler: Handler) -> Handler:
    """Answer the engine's errors with their ``http_status`` and a snake_case code (``match_not_ready``)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except TournamentError as exc:
            raise ApiError(exc.http_status, _code(exc), str(exc)) from None

    return wrapped


def _json(body: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _int_param(request: Request, name: str, default: int | None, lo: int = 0, hi: int = INT4_MAX) -> int | None:
    """A query integer in [lo, hi] (ids and offsets: Postgres `integer`); 400 `invalid_parameter`."""
    return int_param(request.query_params, name, default, lo=lo, hi=hi)


def _path_id(request: Request, name: str) -> int:
    """An id from the path; one too large to be stored cannot exist (404)."""
    return path_id(request.path_params, name)


def _tid(request: Request) -> int:
    return _path_id(request, "tournament_id")


def _name(raw: str) -> str:
    """A tournament or participant name: trimmed, 1..200 characters, no control characters."""
    name = raw.strip()
    if not 1 <= len(name) <= 200:
        raise ApiError(422, "invalid_body", "name must be 1..200 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ApiError(422, "invalid_body", "name must not contain control characters")
    return name


async def _writer(request: Request) -> Principal:
    return await request.app.state.auth.require_scope(request, "tournaments")


def _check_owner(principal: Principal, meta: store.Meta) -> None:
    if not principal.is_admin and meta.owner_key_id != principal.key_id:
        raise ApiError(403, "forbidden", f"tournament {meta.id} belongs to another organiser")


def participant_json(p: Participant) -> dict:
    return {"id": p.id, "name": p.name, "seed": p.seed, "disqualified": p.disqualified}


def match_json(m: Match) -> dict:
    return msgspec.to_builtins(m)


def tournament_json(meta: store.Meta, t: Tournament | None = None) -> dict:
    body = {"id": meta.id, "name": meta.name, "format": meta.format, "settings": meta.settings,
            "status": meta.status, "owner_key_id": meta.owner_key_id,
            "created_at": meta.created_at.isoformat(), "updated_at": meta.updated_at.isoformat()}
    if t is not None:
        body["participants"] = [participant_json(p) for p in t.participants]
        body["matches"] = len(t.matches)
        if t.format in ("swiss", "valve_swiss"):
            body["round"] = swiss.current_round(t)
    return body


def _changed(entries: list) -> list[int]:
    return sorted({e.match_id for e in entries if e.match_id is not None})


# --- tournaments -------------------------------------------------------------------------------

@engine_errors
async def create_tournament(request: Request) -> Response:
    """`POST /api/v1/tournaments` (organiser or admin): body `{"name": str (1..200), "format":
    "single_elimination"|"double_elimination"|"round_robin"|"swiss"|"valve_swiss", "settings": {...}}`
    (settings per format: `tournaments.lifecycle`).

    201 with the tournament (`GET /tournaments/{id}` shape); the caller's key becomes its owner.
    401/403 without a `tournaments` key, 422 for a bad name, format or setting.
    """
    principal = await _writer(request)
    spec = await read_json(request, NewTournament)
    name = _name(spec.name)
    t = lifecycle.new_tournament(spec.format, spec.settings)
    meta = await store.create(request.app.state.engines.pg, name, t, principal.key_id,
                              actor=principal.label, at=_now())
    return _json(tournament_json(meta, t), 201)


@engine_errors
async def list_tournaments(request: Request) -> Response:
    """`GET /api/v1/tournaments?format=&status=setup|running|completed&owner_key_id=&limit=1..500&offset=`

    200 `{"total", "limit", "offset", "tournaments": [{"id", "name", "format", "settings", "status",
    "owner_key_id", "created_at", "updated_at"}]}`, newest first; 400 for a bad parameter.
    """
    q = request.query_params
    fmt, state = q.get("format") or None, q.get("status") or None
    if fmt is not None and fmt not in FORMATS:
        raise ApiError(400, "bad_request", f"format must be one of {list(FORMATS)}")
    if state is not None and state not in ("setup", "running", "completed"):
        raise ApiError(400, "bad_request", "status must be setup, running or completed")
    limit = _int_param(request, "limit", 100, 1, 500)
    offset = _int_param(request, "offset", 0, 0)
    total, metas = await store.list_all(request.app.state.engines.pg, format=fmt, status=state,
                                        owner_key_id=_int_param(request, "owner_key_id", None, 1),
                                        limit=limit, offset=offset)
    return _json({"total": total, "limit": limit, "offset": offset,
                  "tournaments": [tournament_json(m) for m in metas]})


@engine_errors
async def get_tournament(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}`: 200 `{"id", "name", "format", "settings" (effective, defaults
    filled in), "status": "setup"|"running"|"completed", "owner_key_id" (null: the admin's),
    "created_at", "updated_at", "participants": [{"id", "name", "seed", "disqualified"}],
    "matches": count, "round" (Swiss formats: last paired round)}`; 404 when unknown."""
    meta, t = await store.load(request.app.state.engines.pg, _tid(request))
    return _json(tournament_json(meta, t))


@engine_errors
async def delete_tournament(request: Request) -> Response:
    """`DELETE /api/v1/tournaments/{id}` (owner or admin): 204; its participants and matches go, its
    audit log stays (ending with `delete_tournament`). 401/403, 404 when unknown."""
    principal = await _writer(request)
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        await w.delete(actor=principal.label, at=_now())
    return Response(status_code=204)


# --- participants ------------------------------------------------------------------------------

@engine_errors
async def add_participant(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/participants` (owner or admin): body `{"name": str, "seed": int?}`
    (seed 1 = best; unseeded entrants follow the seeded ones in order of entry).

    201 `{"id", "name", "seed", "disqualified": false}`. 409 after the start; 422 for an empty name or
    a seed below 1 or already taken; 401/403/404.
    """
    principal = await _writer(request)
    spec = await read_json(request, NewParticipant)
    name = _name(spec.name)
    if spec.seed is not None and spec.seed > INT4_MAX:
        raise ApiError(422, "invalid_body", f"seed must be at most {INT4_MAX}")
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        new, p, entries = lifecycle.add_participant(w.state, name, spec.seed,
                                                    actor=principal.label, at=_now())
        await w.save(new, entries)
    return _json(participant_json(p), 201)


@engine_errors
async def list_participants(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/participants`: 200 `{"participants": [{"id", "name", "seed",
    "disqualified"}]}` in order of entry; 404 when the tournament is unknown."""
    _, t = await store.load(request.app.state.engines.pg, _tid(request))
    return _json({"participants": [participant_json(p) for p in t.participants]})


@engine_errors
async def disqualify(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/participants/{participant_id}/disqualify` (owner or admin), no body.

    Every match of the participant not yet completed (now or later, losers' bracket included) becomes
    a forfeit win for the opponent; completed results stay; Swiss stops pairing them. Idempotent.
    200 `{"participant": {...}, "changed": [match ids]}`; 404 unknown participant; 401/403.
    """
    principal = await _writer(request)
    pid = _path_id(request, "participant_id")
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        new, entries = await asyncio.to_thread(results.disqualify, w.state, pid, actor=principal.label, at=_now())
        await w.save(new, entries)
    p = next(x for x in new.participants if x.id == pid)
    return _json({"participant": participant_json(p), "changed": _changed(entries)})


# --- stages and rounds -------------------------------------------------------------------------

@engine_errors
async def start(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/start` (owner or admin), no body: builds the matches (Swiss
    formats: round 1), byes advance at once. 200 with the tournament (`GET /tournaments/{id}` shape).
    409 when already started; 422 when the participants do not fit the settings; 401/403/404."""
    principal = await _writer(request)
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        new, entries = await asyncio.to_thread(lifecycle.start, w.state, actor=principal.label, at=_now())
        meta = await w.save(new, entries)
    return _json(tournament_json(meta, new))


@engine_errors
async def pair_round(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/rounds` (owner or admin; Swiss formats), body `{"round": int?}`.

    Pairs the next round once every match of the current one has a result. With `"round": n` the call
    is idempotent: a round that exists already is returned as it is (200, `"created": false`), so
    asking twice for the same round creates nothing new; without it, a second call while the new round
    is unplayed answers 409 `round_not_complete`. Round 1 is paired by `start`.
    201 (created) or 200 `{"round", "created", "matches": [match]}`. 409 `round_not_complete`, or
    `stage_error` (not Swiss, not started, stage over, `round` beyond the next); 401/403/404.
    """
    principal = await _writer(request)
    spec = await read_json(request, RoundRequest)
    if spec.round is not None and spec.round < 1:
        raise ApiError(422, "invalid_body", "round must be 1 or more")
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        new, entries = await asyncio.to_thread(swiss.pair_round, w.state, actor=principal.label, at=_now(),
                                               round=spec.round)
        if entries:
            await w.save(new, entries)
    round_no = spec.round if spec.round is not None else swiss.current_round(new)
    matches = [match_json(m) for m in swiss.swiss_matches(new) if m.round == round_no]
    return _json({"round": round_no, "created": bool(entries), "matches": matches}, 201 if entries else 200)


# --- matches -----------------------------------------------------------------------------------

@engine_errors
async def list_matches(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/matches?bracket=&round=&status=`: 200 `{"matches": [{"id", "bracket",
    "group", "round", "number", "status", "best_of", "opponent1": {"participant_id", "seed", "score",
    "result", "forfeit"} or null for a bye, "opponent2", "games": [{"number", "status", "scores"}],
    "winner_to": {"match_id", "slot"}|null, "loser_to"}]}` in id order. `participant_id: null` means
    not decided yet. 404 when the tournament is unknown."""
    _, t = await store.load(request.app.state.engines.pg, _tid(request))
    q = request.query_params
    rnd = _int_param(request, "round", None, 0)
    ms = [m for m in sorted(t.matches, key=lambda m: m.id)
          if (not q.get("bracket") or m.bracket == q["bracket"]) and (rnd is None or m.round == rnd)
          and (not q.get("status") or m.status == q["status"])]
    return _json({"matches": [match_json(m) for m in ms]})


@engine_errors
async def get_match(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/matches/{match_id}`: 200 one match (shape of `/matches`); 404."""
    _, t = await store.load(request.app.state.engines.pg, _tid(request))
    mid = _path_id(request, "match_id")
    m = next((x for x in t.matches if x.id == mid), None)
    if m is None:
        raise ApiError(404, "not_found", f"match {mid} does not exist in this tournament")
    return _json(match_json(m))


@engine_errors
async def start_match(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/matches/{match_id}/start` (owner or admin), no body: a `ready`
    match becomes `running`. 200 `{"match": {...}, "changed": [ids]}`; 409 when not ready; 401/403/404."""
    principal = await _writer(request)
    mid = _path_id(request, "match_id")
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        new, entries = results.start_match(w.state, mid, actor=principal.label, at=_now())
        await w.save(new, entries)
    return _json({"match": match_json(next(m for m in new.matches if m.id == mid)), "changed": _changed(entries)})


@engine_errors
async def report_result(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/matches/{match_id}/result` (owner or admin).

    Body: exactly one of `{"scores": [a, b]}` (best of 1: the game's score; best of 3/5: games won,
    a side short of the majority leaves the match `running`), `{"games": [[a, b], ...]}` (every game),
    or `{"forfeit": 1|2}` -- the side (opponent1 = 1, opponent2 = 2) that gives up; the other side wins
    with no score. Optional `"winner": 1|2`, checked against the scores, and `"force": true`.
    Reporting again corrects the result; when the winner changes, matches it fed are taken back and
    fed again -- 409 `downstream_started` if one of them is running or completed, unless
    `"force": true`, which resets them (and removes later Swiss rounds / an unstarted playoff).

    200 `{"match": {...}, "changed": [ids of every match that changed]}`. 404 unknown match; 409
    `match_not_ready` (pending, bye, not needed) or `downstream_started`; 422 `invalid_result`
    (winner with the lower score, a draw where none is allowed, more games than the best-of, ...).
    """
    principal = await _writer(request)
    spec = await read_json(request, ResultReport)
    mid = _path_id(request, "match_id")
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        new, entries = await asyncio.to_thread(
            results.report_result, w.state, mid, scores=spec.scores, games=spec.games, forfeit=spec.forfeit,
            winner=spec.winner, force=spec.force, actor=principal.label, at=_now())
        await w.save(new, entries)
    return _json({"match": match_json(next(m for m in new.matches if m.id == mid)), "changed": _changed(entries)})


# --- standings and audit -----------------------------------------------------------------------

@engine_errors
async def get_standings(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/standings`: 200 `{"status", "standings": [{"participant_id", "name",
    "place" ("1", or a shared range "5-8"), "wins", "losses", "draws", "points", "tiebreaks": {name:
    value}, "disqualified"}]}` best first (disqualified last); 404 when unknown."""
    meta, t = await store.load(request.app.state.engines.pg, _tid(request))
    rows = await asyncio.to_thread(standings.standings, t)
    return _json({"status": meta.status, "standings": [msgspec.to_builtins(s) for s in rows]})


@engine_errors
async def get_audit(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/audit?after=&limit=1..1000&match_id=&participant_id=`

    200 `{"entries": [{"seq", "at", "actor" ("admin" or "key:<id>"), "action", "match_id",
    "participant_id", "before", "after"}], "next_after": seq of the last entry or null}`, oldest first;
    page on with `after=next_after`. `before` null: created; `after` null: removed. The log outlives a
    deleted tournament. 404 when the tournament never existed.
    """
    pool = request.app.state.engines.pg
    tid = _tid(request)
    if not await store.known(pool, tid):
        raise ApiError(404, "not_found", f"tournament {tid} does not exist")
    entries = await store.audit(pool, tid, after_seq=_int_param(request, "after", 0, 0),
                                limit=_int_param(request, "limit", 500, 1, 1000),
                                match_id=_int_param(request, "match_id", None, 0),
                                participant_id=_int_param(request, "participant_id", None, 0))
    return _json({"entries": entries, "next_after": entries[-1]["seq"] if entries else None})


T = "/api/v1/tournaments/{tournament_id:int}"
routes = [
    Route("/api/v1/tournaments", create_tournament, methods=["POST"]),
    Route("/api/v1/tournaments", list_tournaments, methods=["GET"]),
    Route(T, get_tournament, methods=["GET"]),
    Route(T, delete_tournament, methods=["DELETE"]),
    Route(T + "/participants", add_participant, methods=["POST"]),
    Route(T + "/participants", list_participants, methods=["GET"]),
    Route(T + "/participants/{participant_id:int}/disqualify", disqualify, methods=["POST"]),
    Route(T + "/start", start, methods=["POST"]),
    Route(T + "/rounds", pair_round, methods=["POST"]),
    Route(T + "/matches", list_matches, methods=["GET"]),
    Route(T + "/matches/{match_id:int}", get_match, methods=["GET"]),
    Route(T + "/matches/{match_id:int}/start", start_match, methods=["POST"]),
    Route(T + "/matches/{match_id:int}/result", report_result, methods=["POST"]),
    Route(T + "/standings", get_standings, methods=["GET"]),
    Route(T + "/audit", get_audit, methods=["GET"]),
]

# Tournaments II: the event around the bracket (registration, check-in, launch, results from the game
# servers, ratings, odds, import/export, webhooks), in its own modules; mounted with these routes.
from .event_routes import routes as _event_routes  # noqa: E402
from .result_routes import routes as _result_routes  # noqa: E402

routes += _event_routes + _result_routes

# The HTML pages (`/tournaments`, `/tournaments/{id}`), rendered with the kernel's layout (`fragstats.web`).
from .pages import routes as _page_routes  # noqa: E402

routes += _page_routes

# The previous system's documented tournament routes, as aliases of these (`tournaments/aliases.py`).
from .aliases import routes as _alias_routes  # noqa: E402

routes += _alias_routes
