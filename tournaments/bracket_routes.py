"""JSON routes of the bracket itself under `/api/v1/tournaments`: tournaments, participants, start,
Swiss rounds, matches and results, standings and the audit log.

Reads are public. Writes need an organiser (`tournaments.http`): the tournament's owner key or the
admin. Every write is one transaction with the tournament row locked (`tournaments.store`), and every
change lands in the audit log.

Errors are `{"error": code, "detail": ...}`: 400 malformed JSON, 401 no/unknown key, 403 not the
owner, 404 unknown tournament/match/participant, 409 the operation does not fit the state
(`match_not_ready`, `downstream_started`, `round_not_complete`, `stage_error`), 422 a body or
result that cannot be (`invalid_body`, `invalid_settings`, `invalid_result`). Times are ISO-8601 UTC.
"""

from __future__ import annotations

import asyncio
import random
import secrets

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fragstats.bodies import read_json
from fragstats.errors import ApiError
from fragstats.params import INT4_MAX

from . import entrants, event_store, lifecycle, outcomes, registration, results, standings, store, swiss
from .errors import InvalidSettings, StageError
from .http import (changed_ids, clean_name, db, int_query, json_response, now, organiser, owned, path_id, pool,
                   tournament_id)
from .model import FORMATS, AuditEntry, Participant
from .schemas import (EntrantBody, NewTournament, ParticipantPatch, Randomize, ResetBody, ResultBody, RoundRequest,
                      TournamentPatch, given)
from .shapes import match_json, participant_json, registration_json, tournament_json


# --- tournaments -------------------------------------------------------------------------------

async def create_tournament(request: Request) -> Response:
    """`POST /api/v1/tournaments` (organiser or admin): body `{"name": str (1..200), "format":
    "single_elimination"|"double_elimination"|"round_robin"|"swiss"|"valve_swiss", "settings": {...}}`
    (settings per format: `tournaments.lifecycle`).

    201 with the tournament (`GET /tournaments/{id}` shape); the caller's key becomes its owner.
    401/403 without a `tournaments` key, 422 for a bad name, format or setting.
    """
    principal = await organiser(request)
    spec = await read_json(request, NewTournament)
    name = clean_name(spec.name)
    t = lifecycle.new_tournament(spec.format, spec.settings)
    meta = await db(request).create(name, t, principal.key_id,
                              actor=principal.label, at=now())
    return json_response(tournament_json(meta, t), 201)


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
    limit = int_query(request, "limit", 100, 1, 500)
    offset = int_query(request, "offset", 0, 0)
    total, metas = await store.list_all(pool(request), format=fmt, status=state,
                                        owner_key_id=int_query(request, "owner_key_id", None, 1),
                                        limit=limit, offset=offset)
    return json_response({"total": total, "limit": limit, "offset": offset,
                          "tournaments": [tournament_json(m) for m in metas]})


async def get_tournament(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}`: 200 `{"id", "name", "format", "settings" (effective, defaults
    filled in), "status": "setup"|"running"|"completed", "owner_key_id" (null: the admin's),
    "created_at", "updated_at", "participants": [{"id", "name", "seed", "disqualified"}],
    "matches": count, "round" (Swiss formats: last paired round)}`; 404 when unknown."""
    pg = pool(request)
    meta, t = await store.load(pg, tournament_id(request))
    return json_response(tournament_json(meta, t, await entrants.participants(pg, meta.id, t)))


async def update_tournament(request: Request) -> Response:
    """`PATCH /api/v1/tournaments/{id}` (owner or admin): body `{"name"?, "format"?, "settings"?,
    "starts_at"?, "timezone"?, "checkin_minutes"?, "round_minutes"?}`, only those change. `format`
    and `settings` (validated as at creation; `settings` replaces them whole) only before the start;
    the event's times as `PATCH .../event` takes them (`starts_at` in the future). Audited as
    `update_tournament` (and `configure_event`). 200 the tournament (`GET` shape); 409 a format,
    settings or times change after the start; 422 a bad name, format, setting or time."""
    principal = await organiser(request)
    spec = await read_json(request, TournamentPatch)
    changes = given(spec)
    name = clean_name(changes.pop("name")) if "name" in changes else None
    fmt, settings = changes.pop("format", None), changes.pop("settings", None)
    async with owned(request, principal) as w:
        at, entries = now(), []
        meta, t = w.meta, w.state
        if changes:  # the event's times
            _, entries = await entrants.configure(w, changes, principal.label, at)
        if fmt is not None or settings is not None:
            entrants.not_started(t, "changing the format or settings")
            t = lifecycle.new_tournament(fmt or t.format, settings if settings is not None
                                         else (store.public_settings(t) if fmt is None else {}))
        if name is not None or t is not w.state:
            before = {"name": meta.name, "format": meta.format, "settings": meta.settings}
            after = {"name": name or meta.name, "format": t.format, "settings": store.public_settings(t)}
            entries.append(AuditEntry(actor=principal.label, at=at, action="update_tournament", match_id=None,
                                      participant_id=None, before=before, after=after))
            meta = await w.rename(name or meta.name, t, entries)
        elif entries:
            meta = await w.save(t, entries)
        shown = await entrants.participants(w.conn, meta.id, t)
    return json_response(tournament_json(meta, t, shown))


async def delete_tournament(request: Request) -> Response:
    """`DELETE /api/v1/tournaments/{id}` (owner or admin): 204; its participants and matches go, its
    audit log stays (ending with `delete_tournament`). 401/403, 404 when unknown."""
    principal = await organiser(request)
    async with owned(request, principal) as w:
        await w.delete(actor=principal.label, at=now())
    return Response(status_code=204)


# --- participants ------------------------------------------------------------------------------

async def add_participant(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/participants` (owner or admin): body an entrant `{"name", "seed"?,
    "tag"?, "player_id"?, "members"?}` (as `POST .../registrations`; seed 1 = best, unseeded entrants
    follow the seeded ones in order of entry). The organiser enters it with a place, whatever the
    capacity; it is the same entrant as a registration (same id, listed in `/registrations` too, its
    token in the audit-free `GET .../registrations` never shown) and `start` takes both alike.

    201 `{"id", "name", "seed", "disqualified": false}`. 409 after the start; 422 for an empty or
    taken name, a seed below 1 or already taken; 401/403/404.
    """
    principal = await organiser(request)
    spec = await read_json(request, EntrantBody)
    name, tag = clean_name(spec.name), clean_name(spec.tag) if spec.tag else None
    if spec.seed is not None and spec.seed > INT4_MAX:
        raise ApiError(422, "invalid_body", f"seed must be at most {INT4_MAX}")
    async with owned(request, principal) as w:
        cfg = await event_store.config(w.conn, w.meta.id)
        r, _, audit_entry = await entrants.register_one(request.app.state.engines, w, cfg, spec, name, tag,
                                                        principal.label, now(), placed=True)
        await w.save(w.state, [audit_entry])
    return json_response(participant_json(Participant(id=r.id, name=r.name, seed=r.seed)), 201)


async def list_participants(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/participants`: 200 `{"participants": [{"id", "name", "seed",
    "disqualified"}]}`: before the start the entrants with a place (registered, however they came)
    in seed order, after it the bracket's participants; 404 when the tournament is unknown."""
    pg = pool(request)
    tid = tournament_id(request)
    _, t = await store.load(pg, tid)
    return json_response({"participants": [participant_json(p) for p in await entrants.participants(pg, tid, t)]})


async def update_participant(request: Request) -> Response:
    """`PATCH /api/v1/tournaments/{id}/participants/{participant_id}` (owner or admin), before the start:
    body `{"name"?, "tag"?, "seed"?}`. A new `seed` s (1..n, among the n entrants with a place) moves
    the entrant there and the others keep their order around it (Challonge's reseed); all n then
    have explicit seeds 1..n. 200 `{"participant": {...}, "participants": [all, in seed order]}`;
    404 unknown; 409 after the start; 422 a seed outside 1..n or a taken name."""
    principal = await organiser(request)
    spec = await read_json(request, ParticipantPatch)
    pid = path_id(request, "participant_id")
    name = clean_name(spec.name) if spec.name is not None else None
    tag = clean_name(spec.tag) if spec.tag else None
    async with owned(request, principal) as w:
        tid, at = w.meta.id, now()
        entrants.not_started(w.state, "changing a participant")
        r = await event_store.get(w.conn, tid, pid)
        regs = await event_store.registrations(w.conn, tid)
        entries = []
        if name is not None or spec.tag is not None:
            before = registration_json(r)
            await entrants.rename(w.conn, tid, r, name or r.name, tag if spec.tag is not None else r.tag)
            after = await event_store.get(w.conn, tid, pid)
            entries.append(entrants.entry(principal.label, at, "update_participant", r, before,
                                          registration_json(after)))
        if spec.seed is not None:
            if not 1 <= spec.seed <= entrants.MAX_SEED:
                raise InvalidSettings(f"seed must be 1..{entrants.MAX_SEED}")
            if r.status != "registered":
                if registration.seed_taken(regs, spec.seed, other_than=pid) or spec.seed < 1:
                    raise InvalidSettings(f"seed {spec.seed} is below 1 or already taken")
                new_seeds = {pid: spec.seed}
            else:
                new_seeds = registration.reseed(regs, pid, spec.seed)
            entries += await entrants.set_seeds(w.conn, tid, regs, new_seeds, principal.label, at, "reseed")
        if entries:
            await w.save(w.state, entries)
        shown = await entrants.participants(w.conn, tid, w.state)
        r = await event_store.get(w.conn, tid, pid)
    return json_response({"participant": participant_json(Participant(id=r.id, name=r.name, seed=r.seed)),
                          "participants": [participant_json(p) for p in shown]})


async def randomize_participants(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/participants/randomize` (owner or admin), before the start: body
    `{"random_seed"?}` (drawn and recorded when absent). The entrants with a place get seeds 1..n in a
    random order (`random.Random(random_seed).shuffle` of them in order of registration: the same
    entrants and seed give the same seeds). 200 `{"random_seed", "participants": [in seed order]}`;
    409 after the start."""
    principal = await organiser(request)
    spec = await read_json(request, Randomize)
    rng_seed = spec.random_seed if spec.random_seed is not None else secrets.randbelow(2**31)
    async with owned(request, principal) as w:
        tid, at = w.meta.id, now()
        entrants.not_started(w.state, "randomizing the seeds")
        regs = await event_store.registrations(w.conn, tid)
        order = [r.id for r in registration.entrants(regs)]  # in order of registration, as `seeds.assign`
        random.Random(rng_seed).shuffle(order)
        entries = await entrants.set_seeds(w.conn, tid, regs, {rid: i + 1 for i, rid in enumerate(order)},
                                           principal.label, at, "randomize")
        entries.append(entrants.entry(principal.label, at, "randomize_seeds", None, None,
                                      {"random_seed": rng_seed, "order": order}))
        await w.save(w.state, entries)
        shown = await entrants.participants(w.conn, tid, w.state)
    return json_response({"random_seed": rng_seed, "participants": [participant_json(p) for p in shown]})


async def remove_participant(request: Request) -> Response:
    """`DELETE /api/v1/tournaments/{id}/participants/{participant_id}` (owner or admin), before the
    start: the entrant is removed (its id is not given out again); a place it freed goes to the
    waitlist. 204; 404 unknown; 409 after the start (then: disqualify)."""
    principal = await organiser(request)
    pid = path_id(request, "participant_id")
    async with owned(request, principal) as w:
        tid, at = w.meta.id, now()
        entrants.not_started(w.state, "removing a participant")
        r = await event_store.get(w.conn, tid, pid)
        await event_store.delete(w.conn, tid, pid)
        entries = [entrants.entry(principal.label, at, "remove_participant", r, registration_json(r), None)]
        entries += await entrants.promote(w.conn, tid, await event_store.config(w.conn, tid), principal.label, at)
        await w.save(w.state, entries)
    return Response(status_code=204)


async def disqualify(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/participants/{participant_id}/disqualify` (owner or admin), no body.

    Every match of the participant not yet completed (now or later, losers' bracket included) becomes
    a forfeit win for the opponent; completed results stay; Swiss stops pairing them. Idempotent.
    200 `{"participant": {...}, "changed": [match ids]}`; 404 unknown participant; 409 before the
    start (remove the entrant instead); 401/403.
    """
    principal = await organiser(request)
    pid = path_id(request, "participant_id")
    async with owned(request, principal) as w:
        if not w.state.matches:
            raise StageError("the tournament has not started: remove the participant instead")
        new, entries = await asyncio.to_thread(results.disqualify, w.state, pid, actor=principal.label, at=now())
        await w.save(new, entries)
    p = next(x for x in new.participants if x.id == pid)
    return json_response({"participant": participant_json(p), "changed": changed_ids(entries)})


# --- stages and rounds -------------------------------------------------------------------------

async def start(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/start` (owner or admin): body (optional) `{"seeding":
    "manual"|"random"|"rating", "random_seed"?}`. Starts with every entrant that has a place, however
    it was entered (`/participants` or `/registrations`): closes check-in (no-shows out, waitlist
    promoted), seeds them (`manual`: the organiser's order), builds the matches (Swiss formats: round
    1); byes advance at once. `POST .../launch` is the same operation (kept as an alias).

    200 the tournament (`GET /tournaments/{id}` shape) plus `"seeding"`, `"random_seed"`, `"seeds":
    [{"participant_id", "name", "seed", "rating"}]`, `"no_shows"`, `"promoted"`. 409 when already
    started; 422 when the entrants do not fit the settings or an unknown seeding; 401/403/404."""
    meta, new, info = await entrants.start_requested(request)
    return json_response({**tournament_json(meta, new), **info})



async def pair_round(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/rounds` (owner or admin; Swiss formats), body `{"round": int?}`.

    Pairs the next round once every match of the current one has a result. With `"round": n` the call
    is idempotent: a round that exists already is returned as it is (200, `"created": false`), so
    asking twice for the same round creates nothing new; without it, a second call while the new round
    is unplayed answers 409 `round_not_complete`. Round 1 is paired by `start`.
    201 (created) or 200 `{"round", "created", "matches": [match]}`. 409 `round_not_complete`, or
    `stage_error` (not Swiss, not started, stage over, `round` beyond the next); 401/403/404.
    """
    principal = await organiser(request)
    spec = await read_json(request, RoundRequest)
    if spec.round is not None and spec.round < 1:
        raise ApiError(422, "invalid_body", "round must be 1 or more")
    async with owned(request, principal) as w:
        new, entries = await asyncio.to_thread(swiss.pair_round, w.state, actor=principal.label, at=now(),
                                               round=spec.round)
        if entries:
            await w.save(new, entries)
    round_no = spec.round if spec.round is not None else swiss.current_round(new)
    matches = [match_json(m) for m in swiss.swiss_matches(new) if m.round == round_no]
    return json_response({"round": round_no, "created": bool(entries), "matches": matches}, 201 if entries else 200)


# --- matches -----------------------------------------------------------------------------------

async def list_matches(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/matches?bracket=&round=&status=`: 200 `{"matches": [{"id", "bracket",
    "group", "round", "number", "status", "best_of", "opponent1": {"participant_id", "seed", "score",
    "result", "forfeit"} or null for a bye, "opponent2", "games": [{"number", "status", "scores"}],
    "winner_to": {"match_id", "slot"}|null, "loser_to"}]}` in id order. `participant_id: null` means
    not decided yet. 404 when the tournament is unknown."""
    _, t = await store.load(pool(request), tournament_id(request))
    q = request.query_params
    rnd = int_query(request, "round", None, 0)
    ms = [m for m in sorted(t.matches, key=lambda m: m.id)
          if (not q.get("bracket") or m.bracket == q["bracket"]) and (rnd is None or m.round == rnd)
          and (not q.get("status") or m.status == q["status"])]
    return json_response({"matches": [match_json(m) for m in ms]})


async def get_match(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/matches/{match_id}`: 200 one match (shape of `/matches`); 404."""
    _, t = await store.load(pool(request), tournament_id(request))
    mid = path_id(request, "match_id")
    m = next((x for x in t.matches if x.id == mid), None)
    if m is None:
        raise ApiError(404, "not_found", f"match {mid} does not exist in this tournament")
    return json_response(match_json(m))


async def mark_underway(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/matches/{match_id}/underway` (owner or admin), no body: a `ready`
    match is being played (`running`). `POST .../matches/{match_id}/start` is the same (kept as an
    alias). 200 `{"match": {...}, "changed": [ids]}`; 409 when not ready; 401/403/404."""
    principal = await organiser(request)
    mid = path_id(request, "match_id")
    async with owned(request, principal) as w:
        new, entries = results.start_match(w.state, mid, actor=principal.label, at=now())
        await w.save(new, entries)
    return json_response({"match": match_json(results.find(new, mid)), "changed": changed_ids(entries)})


async def reset_match(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/matches/{match_id}/reset` (owner or admin): body (optional)
    `{"force": bool}`. Takes the result back: a completed or running match is `ready` again with no
    score, and what it fed is taken back as for a correction -- 409 `downstream_started` if one of
    those matches is running or completed, unless `"force": true` resets them too (audited with
    `"forced": true`). `POST .../reopen` is the same (Challonge's name). Audited as `reset_match`
    with before and after. 200 `{"match", "changed": [ids]}`; 409 `stage_error` for a match without a
    result; 401/403/404."""
    principal = await organiser(request)
    spec = await read_json(request, ResetBody)
    mid = path_id(request, "match_id")
    async with owned(request, principal) as w:
        new, entries = await asyncio.to_thread(results.reset_match, w.state, mid, force=spec.force,
                                               actor=principal.label, at=now())
        await outcomes.clear(w.conn, w.meta.id, mid)
        await w.save(new, entries)
    return json_response({"match": match_json(results.find(new, mid)), "changed": changed_ids(entries)})


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
    principal = await organiser(request)
    spec = await read_json(request, ResultBody)
    mid = path_id(request, "match_id")
    async with owned(request, principal) as w:
        result = spec.result(results.find(w.state, mid).best_of)
        new, entries = await asyncio.to_thread(results.report_result, w.state, mid, **result, force=spec.force,
                                               actor=principal.label, at=now())
        await w.save(new, entries)
    return json_response({"match": match_json(next(m for m in new.matches if m.id == mid)),
                          "changed": changed_ids(entries)})


# --- standings and audit -----------------------------------------------------------------------

async def get_standings(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/standings`: 200 `{"status", "standings": [{"participant_id", "name",
    "place" ("1", or a shared range "5-8"), "wins", "losses", "draws", "points", "tiebreaks": {name:
    value}, "disqualified"}]}` best first (disqualified last); 404 when unknown."""
    meta, t = await store.load(pool(request), tournament_id(request))
    rows = await asyncio.to_thread(standings.standings, t)
    return json_response({"status": meta.status, "standings": [msgspec.to_builtins(s) for s in rows]})


async def get_audit(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/audit?after=&limit=1..1000&match_id=&participant_id=`

    200 `{"entries": [{"seq", "at", "actor" ("admin" or "key:<id>"), "action", "match_id",
    "participant_id", "before", "after"}], "next_after": seq of the last entry or null}`, oldest first;
    page on with `after=next_after`. `before` null: created; `after` null: removed. The log outlives a
    deleted tournament. 404 when the tournament never existed.
    """
    pg = pool(request)
    tid = tournament_id(request)
    if not await store.known(pg, tid):
        raise ApiError(404, "not_found", f"tournament {tid} does not exist")
    entries = await store.audit(pg, tid, after_seq=int_query(request, "after", 0, 0),
                                limit=int_query(request, "limit", 500, 1, 1000),
                                match_id=int_query(request, "match_id", None, 0),
                                participant_id=int_query(request, "participant_id", None, 0))
    return json_response({"entries": entries, "next_after": entries[-1]["seq"] if entries else None})
