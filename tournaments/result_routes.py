"""JSON routes for results with provenance (match tokens, captains' reports, disputes, game-server
results), ratings, bracket odds, import/export and webhooks.

Auth as in `tournaments.http`: organiser (`Authorization: Bearer`, owner or admin), entrant
(`X-Registration-Token`), game server (`X-Server-Token`). Errors `{"error", "detail"}`: 400
malformed, 401/403 auth, 404 unknown, 409 state (`match_not_ready`, `downstream_started`,
`stage_error`), 422 (`invalid_body`, `invalid_result`, `invalid_settings`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fragstats.auth import token_hash
from fragstats.bodies import read_json, read_text
from fragstats.errors import ApiError

from . import catalogue, entrants, event_store, exports, odds, outcomes, ratings, results, store, telemetry, webhooks
from .audit import diff
from .errors import InvalidSettings, NotFound
from .http import (check_owner, clean_name, db, int_query, json_response, now, organiser, owned, path_id, pool,
                   tournament_id)
from .model import Match, Tournament
from .schemas import ResultBody, MatchResult, EntrantBody, TokenRequest, WebhookBody
from .shapes import registration_json, tournament_json


def _match(t: Tournament, mid: int) -> Match:
    m = next((x for x in t.matches if x.id == mid), None)
    if m is None:
        raise NotFound(f"match {mid} does not exist in this tournament")
    return m


async def _apply_claim(request: Request, source_of, spec: ResultBody) -> Response:
    """Shared body of `report` and `resolve`: the claim of `source_of(w, match)` -> (source, actor),
    validated as any result is (`results.check_result`), recorded and applied (`outcomes.add_claim`)."""
    mid = path_id(request, "match_id")
    async with db(request).write(tournament_id(request)) as w:
        m = _match(w.state, mid)
        source, actor = await source_of(w, m)
        at = now()
        result = spec.result(m.best_of)
        results.check_result(w.state, mid, **result)
        claim = outcomes.Claim(by=actor, at=at.isoformat(), **result)
        o = await outcomes.load(w.conn, w.meta.id, mid)
        new_t, o, entries = await asyncio.to_thread(outcomes.add_claim, w.state, o, source, claim, actor=actor,
                                                    at=at, force=spec.force and source == "organiser")
        await outcomes.save(w.conn, w.meta.id, o, at)
        await w.save(new_t, entries)
    m = _match(new_t, mid)
    return json_response({"match": msgspec.to_builtins(m), "outcome": outcomes.outcome_json(o, m)})


# --- results -----------------------------------------------------------------------------------

async def issue_token(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/matches/{match_id}/token` (organiser): body `{"allies_side": 1|2
    (which opponent plays allies; default 1), "server_id"?: only this game server may use it; without
    it, the first game server that uses the token is bound to it}`.
    201 `{"match_id", "token": "fst_...", "key": "tournament_match_token", "allies_side", "server_id"}`:
    the game server sends the token under that extra key in `match_start`/`match_end`, or to
    `POST /api/v1/ingest/match-result`. A new token replaces the old one. 404; 422 bad side."""
    principal = await organiser(request)
    spec = await read_json(request, TokenRequest)
    if spec.allies_side not in (1, 2):
        raise ApiError(422, "invalid_body", "allies_side must be 1 or 2")
    mid = path_id(request, "match_id")
    async with owned(request, principal) as w:
        m = _match(w.state, mid)
        token = await telemetry.issue_token(w.conn, w.meta.id, m, allies_side=spec.allies_side,
                                            server_id=spec.server_id)
    return json_response({"match_id": mid, "token": token, "key": telemetry.TOKEN_KEY,
                          "allies_side": spec.allies_side, "server_id": spec.server_id}, 201)


async def captain_report(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/matches/{match_id}/report` (an opponent's captain, with its
    `X-Registration-Token`): body one of `{"scores": [a, b]}`, `{"games": [[a, b], ...]}`,
    `{"forfeit": 1|2}`, `{"scores_csv": "3-1,3-2"}` -- always opponent1 first.

    The first report is applied at once (provenance `reported`); the other captain's agreeing
    report, or the telemetry, makes it `confirmed`; a disagreeing one opens a dispute and changes
    nothing (see `tournaments.outcomes`). 200 `{"match", "outcome"}`. 401 without a token, 403 not
    a captain of this match, 409 match not ready / downstream started, 422 impossible result."""
    spec = await read_json(request, ResultBody)
    token = request.headers.get("x-registration-token")
    if not token:
        raise ApiError(401, "unauthorized", "X-Registration-Token required")

    async def source_of(w: store.Writer, m: Match) -> tuple[str, str]:
        r = await event_store.by_token(w.conn, w.meta.id, token)
        sides = [m.opponent1 and m.opponent1.participant_id, m.opponent2 and m.opponent2.participant_id]
        if r is None or r.id not in sides:
            raise ApiError(403, "forbidden", "only the captains of this match's opponents may report it")
        return f"captain{sides.index(r.id) + 1}", f"registration:{r.id}"

    return await _apply_claim(request, source_of, spec)


async def resolve(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/matches/{match_id}/resolve` (organiser): the organiser's result,
    final (provenance `organiser`, an open dispute becomes `resolved`). Body as for `report`, plus
    `"force": true` to reset started downstream matches. 200 `{"match", "outcome"}`; 409/422 as the
    engine decides."""
    principal = await organiser(request)
    spec = await read_json(request, ResultBody)

    async def source_of(w: store.Writer, m: Match) -> tuple[str, str]:
        check_owner(principal, w.meta)
        return "organiser", principal.label

    return await _apply_claim(request, source_of, spec)


async def get_outcome(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/matches/{match_id}/outcome`: 200 `{"match_id" (the bracket's, int),
    "status", "provenance": "telemetry"|"reported"|"confirmed"|"organiser"|null, "dispute":
    "none"|"open"|"resolved", "claims": {source: claim}, "evidence": [{"server_id", "telemetry_match_id"
    (the game's, str), "url": "/api/v1/stats/match/..", "game": [a, b], "match_id" (deprecated copy of
    telemetry_match_id)}], "note"}`; 404."""
    pg = pool(request)
    _, t = await store.load(pg, tournament_id(request))
    m = _match(t, path_id(request, "match_id"))
    return json_response(outcomes.outcome_json(await outcomes.load(pg, tournament_id(request), m.id), m))


async def list_outcomes(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/outcomes?dispute=open`: 200 `{"outcomes": [outcome]}` for every
    match (or only those with that dispute state), in match order; 404."""
    pg = pool(request)
    tid = tournament_id(request)
    _, t = await store.load(pg, tid)
    rows = await outcomes.load_all(pg, tid)
    want = request.query_params.get("dispute")
    out = [outcomes.outcome_json(rows.get(m.id), m) for m in sorted(t.matches, key=lambda m: m.id)]
    return json_response({"outcomes": [o for o in out if not want or o["dispute"] == want]})


async def ingest_match_result(request: Request) -> Response:
    """`POST /api/v1/ingest/match-result` (game server, `X-Server-Token`): body `{"token": match token,
    "match_id": the telemetry match id, "event": "match_end"|"match_start", "allies_score"?,
    "axis_score"?, "winning_team"?: "allies"|"axis"}` -- the same as sending the token in those events.
    A `match_end`'s result is its team scores, else `winning_team` alone (the token's `allies_side`
    says which opponent played allies), else the linked players' kills in that telemetry match.

    200 `{"tournament_id", "match_id", "outcome"}` when the result is applied (or recorded as a claim
    disputing a captain's). 401 bad server token; 403 token bound to another server (the one named at
    issue, else the first server that used it); 404 unknown token; 422 bad body, or a `match_end` that
    tells no result, or a result the bracket cannot take (`invalid_result`: a draw in an elimination
    match, ...); 409 a match not ready for it (`match_not_ready`, `downstream_started`). The evidence
    and the refusal (outcome `note`, audit `telemetry_rejected`) are recorded either way."""
    server_id = await request.app.state.auth.server_for(request)
    spec = await read_json(request, MatchResult)
    if spec.event not in ("match_start", "match_end"):
        raise ApiError(422, "invalid_body", "event must be match_start or match_end")
    if not 1 <= len(spec.match_id) <= 200:
        raise ApiError(422, "invalid_body", "match_id must be 1..200 characters")
    if spec.winning_team is not None and spec.winning_team.lower() not in ("allies", "axis", "draw", "none", ""):
        raise ApiError(422, "invalid_body", "winning_team must be allies or axis")
    body, refused = await telemetry.match_event(
        request.app, server_id=server_id, token_digest=token_hash(spec.token), kind=spec.event,
        telemetry_match=spec.match_id, allies_score=spec.allies_score, axis_score=spec.axis_score,
        winning_team=spec.winning_team)
    if refused is not None:
        raise refused
    return json_response(body)


# --- ratings and odds --------------------------------------------------------------------------

async def get_ratings(request: Request) -> Response:
    """`GET /api/v1/stats/ratings?limit=1..500&offset=`: players by conservative OpenSkill rating
    (`mu - 3 sigma`): 200 `{"stat": "rating", "total", "limit", "offset", "players": [{"rank",
    "player_id", "player_name", "rating", "mu", "sigma", "matches"}]}` (`tournaments.ratings.leaderboard`)."""
    limit = int_query(request, "limit", 100, 1, 500)
    offset = int_query(request, "offset", 0, 0)
    body = await ratings.leaderboard(request.app.state.engines, limit=limit, offset=offset)
    return json_response({"stat": "rating", "limit": limit, "offset": offset, **body})


async def refresh_ratings(request: Request) -> Response:
    """`POST /api/v1/stats/ratings/refresh` (admin): rate every ended match not rated yet (up to
    10,000, oldest first). 200 `{"rated": n}`."""
    request.app.state.auth.require_admin(request)
    return json_response({"rated": await ratings.update_from_telemetry(request.app.state.engines, None, limit=10_000)})


async def get_odds(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/odds?runs=100..20000&seed=`: Monte Carlo odds from the current
    bracket (`tournaments.odds`): 200 `{"runs", "seed", "status", "participants": [{"participant_id",
    "name", "rating" (mu - 3 sigma), "win", "reach": {"<bracket>:<round>": p}}]}` best chance first.
    Every format: elimination, round robin, Swiss (the pairing rules played run by run; `valve_swiss`:
    `win` is the chance to advance) and group stages with their playoff. `runs` defaults to 2000,
    500 for Swiss and group stages (each run plays the engine's rules, ~2 ms for 16 entrants).
    Recomputed on every call, so always after the latest result; the same seed gives the same
    numbers. 404; 422 before the start."""
    pg = pool(request)
    tid = tournament_id(request)
    meta, t = await store.load(pg, tid)
    runs = int_query(request, "runs", odds.PLAYED_RUNS if odds.played(t) else 2000, 100, 20000)
    seed = int_query(request, "seed", 0, 0)
    regs = {r.id: r for r in await event_store.registrations(pg, tid)}
    rates = await entrants.entrant_ratings(pg, [regs[p.id] for p in t.participants if p.id in regs])
    default = (ratings.DEFAULT_MU, ratings.DEFAULT_SIGMA)
    dq = {p.id for p in t.participants if p.disqualified}

    def p_win(a: int, b: int) -> float:
        if a in dq or b in dq:
            return 0.0 if a in dq else 1.0
        return ratings.win_probability([rates.get(a, default)], [rates.get(b, default)])

    sims = await asyncio.to_thread(odds.simulate, t, p_win, runs=runs, seed=seed)
    names = {p.id: p.name for p in t.participants}
    rows = [{"participant_id": pid, "name": names[pid],
             "rating": round(ratings.conservative(rates.get(pid, default)), 3), **v} for pid, v in sims.items()]
    rows.sort(key=lambda r: (-r["win"], r["participant_id"]))
    return json_response({"runs": runs, "seed": seed, "status": meta.status, "participants": rows})


# --- import / export ---------------------------------------------------------------------------

async def export_bracket(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/export`: the bracket as JSON (`tournaments.exports.bracket_json`:
    format_version, name, format, settings, participants, matches each with `scores_csv` and
    `provenance`), re-importable with `POST /api/v1/tournaments/import`. 404."""
    pg = pool(request)
    meta, t = await store.load(pg, tournament_id(request))
    rows = await outcomes.load_all(pg, meta.id)
    prov = {m.id: outcomes.outcome_json(rows.get(m.id), m)["provenance"] for m in t.matches}
    return json_response(exports.bracket_json(meta.name, t, prov))


async def import_bracket(request: Request) -> Response:
    """`POST /api/v1/tournaments/import` (organiser): body an export. Creates a new tournament owned
    by the caller with the same participants (ids, seeds), started and every result replayed.
    201 the tournament (`GET /tournaments/{id}` shape); 422 when it does not replay."""
    principal = await organiser(request)
    doc = await read_json(request, dict[str, Any])
    name = clean_name(str(doc.get("name", "")))
    try:
        t = await asyncio.to_thread(exports.rebuild, doc, actor=principal.label, at=now())
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(422, "invalid_body", f"not a bracket export: {exc!r}") from None
    meta = await db(request).create(name, msgspec.structs.replace(t, matches=[], participants=[]),
                                    principal.key_id, actor=principal.label, at=now())
    async with db(request).write(meta.id) as w:
        meta = await w.save(t, diff(w.state, t, actor=principal.label, at=now(), action="import"))
    return json_response(tournament_json(meta, t), 201)


async def import_participants(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/registrations/import` (organiser): a participants CSV (`text/csv`,
    columns in `tournaments.exports`), registered in order as the organiser would (capacity and
    waitlist apply), all or none. 201 `{"registrations": [...], "tokens": {"<id>": "fsr_..."}}`;
    422 naming the line of a bad row; 409 after the launch."""
    principal = await organiser(request)
    text = await read_text(request)
    rows = exports.parse_participants_csv(text)
    created, tokens = [], {}
    async with owned(request, principal) as w:
        cfg = await event_store.config(w.conn, w.meta.id)
        entries = []
        for line, row in enumerate(rows, start=2):
            try:
                spec = msgspec.convert(row, EntrantBody)
                name, tag = clean_name(spec.name), clean_name(spec.tag) if spec.tag else None
                r, token, entry = await entrants.register_one(request.app.state.engines, w, cfg, spec, name, tag,
                                                              principal.label, now())
            except (InvalidSettings, msgspec.ValidationError, ApiError) as exc:
                raise InvalidSettings(f"line {line}: {getattr(exc, 'detail', exc)}") from None
            created.append(r)
            tokens[str(r.id)] = token
            entries.append(entry)
        await w.save(w.state, entries)
        regs = await event_store.registrations(w.conn, w.meta.id)
    return json_response({"registrations": [registration_json(r, regs) for r in created], "tokens": tokens},
                         201)


# --- webhooks ----------------------------------------------------------------------------------

async def add_webhook(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/webhooks` (organiser): body `{"url": http(s) URL, "secret"?:
    "whsec_<base64 of 24..64 bytes>"}` (one is made when left out). Every later change of the
    tournament is POSTed there as an event of the catalogue (`GET .../webhook-events`), signed as
    Standard Webhooks (`tournaments.webhooks`). 201 `{"id", "url", "secret", "created_at"}` (the
    secret is shown only here). 422 a URL that is not http(s), or a secret not in that form."""
    principal = await organiser(request)
    spec = await read_json(request, WebhookBody)
    if not spec.url.startswith(("http://", "https://")) or len(spec.url) > 2000:
        raise ApiError(422, "invalid_body", "url must be an http(s) URL of at most 2000 characters")
    pg = pool(request)
    meta, _ = await store.load(pg, tournament_id(request))
    check_owner(principal, meta)
    row = await webhooks.register(pg, meta.id, spec.url, spec.secret)
    return json_response({"id": row["id"], "url": row["url"], "secret": row["secret"],
                          "created_at": row["created_at"].isoformat()}, 201)


async def webhook_events(request: Request) -> Response:
    """`GET /api/v1/tournaments/webhook-events`: the public catalogue of webhook events, 200 `{"version",
    "events": [{"type", "description", "schema"}]}` (`tournaments.catalogue`). Each payload is
    `{"type", "version", "timestamp", "data": {"tournament_id", "seq", "at", "actor", "action", "forced",
    "match_id", "participant_id", "before", "after"}}`, signed as Standard Webhooks; the schemas are in
    the OpenAPI document's `webhooks`."""
    return json_response(catalogue.catalogue())


async def list_webhooks(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/webhooks` (organiser): 200 `{"webhooks": [{"id", "url", "last_seq",
    "deliveries": [{"id", "seq", "event", "status": "delivered"|"failed", "attempts",
    "response_status", "error", "at"}] (newest first, 100)}]}`."""
    principal = await organiser(request)
    pg = pool(request)
    meta, _ = await store.load(pg, tournament_id(request))
    check_owner(principal, meta)
    rows = await pg.fetch("SELECT id, url, last_seq FROM tournament_webhooks WHERE tournament_id = $1 ORDER BY id",
                          meta.id)
    return json_response({"webhooks": [{"id": r["id"], "url": r["url"], "last_seq": r["last_seq"],
                                        "deliveries": await webhooks.deliveries(pg, r["id"])} for r in rows]})


async def delete_webhook(request: Request) -> Response:
    """`DELETE /api/v1/tournaments/{id}/webhooks/{webhook_id}` (organiser): 204; 404 unknown."""
    principal = await organiser(request)
    pg = pool(request)
    meta, _ = await store.load(pg, tournament_id(request))
    check_owner(principal, meta)
    done = await pg.execute("DELETE FROM tournament_webhooks WHERE tournament_id = $1 AND id = $2", meta.id,
                            path_id(request, "webhook_id"))
    if done.endswith(" 0"):
        raise NotFound("no such webhook")
    return Response(status_code=204)
