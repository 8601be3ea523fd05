"""JSON routes for running an event around a bracket: event config, registration, waitlist,
check-in, launch with seeds, and the iCal schedule. All under `/api/v1/tournaments/{id}`.

Who may call what:
  * organiser (the tournament's owner key, or the admin; `Authorization: Bearer`): everything;
  * entrant (`X-Registration-Token: <token>` given once at registration): its own check-in and
    withdrawal (and, in `result_routes`, its captain's result reports);
  * anyone: reads, and signing up while the organiser has opened registration.

Errors as in `tournaments.bracket_routes`: 401/403 auth, 404 unknown tournament/registration, 409 the
operation does not fit the state (`stage_error`: after the launch, check-in closed or not open,
...), 422 a body that cannot be (`invalid_body`, `invalid_settings`, `invalid_time`). Times in
answers: `{"utc": ISO-8601 "Z", "local": ISO-8601 with the event zone's offset, "viewer": in the
`?tz=` zone when given}`.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fragstats.bodies import read_json
from fragstats.errors import ApiError

from . import entrants, event_store, registration, schedule, store
from .errors import StageError
from .http import (check_owner, clean_name, db, deprecated, entrant_token, json_response, now, organiser,
                   organiser_if_sent, owned, path_id, pool, tournament_id)
from .registration import Registration
from .schemas import EntrantBody, EventPatch, EventSpec, Extend, RegistrationWindow, given
from .shapes import event_json, registration_json, tournament_json


def _viewer_zone(request: Request) -> str | None:
    tz = request.query_params.get("tz") or None
    if tz is not None:
        schedule.zone(tz)  # 422 for an unknown zone
    return tz


# --- event config ------------------------------------------------------------------------------

async def put_event(request: Request) -> Response:
    """`PUT /api/v1/tournaments/{id}/event` (organiser): the whole event configuration, body `{"kind":
    "player"|"team", "capacity": int? (null: no limit), "roster_min", "roster_max", "substitutes",
    "approval": bool, "open_registration": bool (default false: only the organiser registers),
    "starts_at": ISO-8601 in the future (with offset, or local time in `timezone`), "timezone": IANA
    name, "checkin_minutes": minutes before the start the check-in opens (0: no check-in),
    "round_minutes"? (for the iCal schedule)}`; fields left out take their defaults (`PATCH` changes
    only those given). 200 the event (`GET` shape). 409 after the start; 422 a bad value, a
    `starts_at` in the past or a local one that daylight saving skips."""
    principal = await organiser(request)
    spec = await read_json(request, EventSpec)
    return await _configure(request, principal, msgspec.structs.asdict(spec), replace=True)


async def patch_event(request: Request) -> Response:
    """`PATCH /api/v1/tournaments/{id}/event` (organiser): body any fields of `PUT .../event`; only
    those change (`starts_at` in the future, read in the event's zone). 200 the event (`GET` shape);
    409 after the start; 422 a bad value."""
    principal = await organiser(request)
    spec = await read_json(request, EventPatch)
    return await _configure(request, principal, given(spec), replace=False)


async def _configure(request: Request, principal, changes: dict, *, replace: bool) -> Response:
    async with owned(request, principal) as w:
        at = now()
        cfg, entries = await entrants.configure(w, changes, principal.label, at, replace=replace)
        await w.save(w.state, entries)
        regs = await event_store.registrations(w.conn, w.meta.id)
    return json_response(event_json(cfg, regs, _viewer_zone(request), at))


async def open_registration(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/registration/open` (organiser): body (optional) `{"opens_at"?,
    "closes_at"?}` (ISO-8601; local times in the event's zone). From then on anyone may sign up
    (`POST .../registrations`) until `closes_at` or `.../registration/close`; registration is closed
    until the organiser opens it. 200 the event; 409 after the start; 422 a bad or past `closes_at`,
    or one before `opens_at`."""
    principal = await organiser(request)
    spec = await read_json(request, RegistrationWindow)
    async with owned(request, principal) as w:
        at = now()
        old = await event_store.config(w.conn, w.meta.id)
        entrants.not_started(w.state, "opening registration")
        opens = schedule.parse_time(spec.opens_at, old.timezone) if spec.opens_at else None
        closes = entrants.future_time(spec.closes_at, old.timezone, at, "closes_at") if spec.closes_at else None
        cfg = msgspec.structs.replace(old, open_registration=True, registration_opens_at=opens,
                                      registration_closes_at=closes)
        registration.check_config(cfg)
        await event_store.put_config(w.conn, w.meta.id, cfg)
        window = {"opens_at": schedule.iso_utc(opens), "closes_at": schedule.iso_utc(closes)}
        await w.save(w.state, [entrants.entry(principal.label, at, "open_registration", None, None, window)])
        regs = await event_store.registrations(w.conn, w.meta.id)
    return json_response(event_json(cfg, regs, _viewer_zone(request), at))


async def close_registration(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/registration/close` (organiser): the public may no longer sign up
    (the organiser still registers entrants). Idempotent. 200 the event."""
    principal = await organiser(request)
    async with owned(request, principal) as w:
        at = now()
        old = await event_store.config(w.conn, w.meta.id)
        cfg = msgspec.structs.replace(old, open_registration=False)
        if cfg != old:
            await event_store.put_config(w.conn, w.meta.id, cfg)
            await w.save(w.state, [entrants.entry(principal.label, at, "close_registration", None, None, None)])
        regs = await event_store.registrations(w.conn, w.meta.id)
    return json_response(event_json(cfg, regs, _viewer_zone(request), at))


async def get_event(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/event?tz=<IANA zone>`: 200 `{"kind", "capacity", "roster_min",
    "roster_max", "substitutes", "approval", "open_registration", "timezone", "starts_at": times,
    "checkin_minutes", "checkin_extra_minutes", "round_minutes", "checkin": {"opens", "closes", "open":
    bool, "closed_at"} | null, "seeding", "random_seed", "launched_at", "counts": {status: n}}` where a
    time is `{"utc", "local", "viewer"?}`. Defaults when never configured. 404; 422 unknown `tz`."""
    pg = pool(request)
    tid = tournament_id(request)
    await store.load(pg, tid)
    cfg = await event_store.config(pg, tid)
    return json_response(event_json(cfg, await event_store.registrations(pg, tid), _viewer_zone(request), now()))


async def get_ical(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/schedule.ics`: `text/calendar` (RFC 5545) with the check-in
    window, the start, and one event per round when `round_minutes` is set (round r starts at
    `starts_at + (r - 1) * round_minutes`). Times in UTC. 404; 409 without `starts_at`."""
    pg = pool(request)
    tid = tournament_id(request)
    meta, t = await store.load(pg, tid)
    cfg = await event_store.config(pg, tid)
    if cfg.starts_at is None:
        raise StageError("the event has no start time")
    entries = []
    window = schedule.checkin_window(cfg.starts_at, cfg.checkin_minutes, cfg.checkin_extra_minutes)
    if window:
        entries.append((f"{meta.name}: check-in", window[0], window[1]))
    if cfg.round_minutes:
        rounds = max((m.round for m in t.matches), default=1)
        step = dt.timedelta(minutes=cfg.round_minutes)
        entries += [(f"{meta.name}: round {r}", cfg.starts_at + (r - 1) * step, cfg.starts_at + r * step)
                    for r in range(1, rounds + 1)]
    else:
        entries.append((f"{meta.name}: start", cfg.starts_at, cfg.starts_at + dt.timedelta(hours=1)))
    body = schedule.ical(f"tournament-{tid}", meta.name, cfg.timezone, entries, now())
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="tournament-{tid}.ics"'})


# --- registration ------------------------------------------------------------------------------

async def register(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/registrations`: body `{"name", "tag"?, "seed"? (organiser only),
    "player_id"? (player events: the telemetry id), "members"?: [{"name", "player_id"?, "substitute"?}]}`.

    Anyone may register while the organiser has opened registration (`POST .../registration/open`,
    within its window; an approval event makes it `pending`); the organiser always may (never
    pending). Members without `player_id` are linked to the telemetry
    player seen with that exact name when there is exactly one. A place is given while capacity
    lasts, else the entrant is `waitlisted`. 201 `{"registration": {...}, "token": "fsr_..."}` -- the
    entrant's token, shown only here. 401 registration not opened (without organiser key), 403 a seed
    from the public, 409 outside the registration window, after check-in closed or the start, 422
    roster rules / name or seed taken / bad body."""
    principal = await organiser_if_sent(request)
    spec = await read_json(request, EntrantBody)
    async with db(request).write(tournament_id(request)) as w:
        cfg = await event_store.config(w.conn, w.meta.id)
        if principal is not None:
            check_owner(principal, w.meta)
        elif not cfg.open_registration:
            raise ApiError(401, "unauthorized", registration.registration_window(cfg, now()))
        elif (why := registration.registration_window(cfg, now())) is not None:
            raise StageError(why)
        if principal is None and spec.seed is not None:
            raise ApiError(403, "forbidden", "only the organiser sets seeds")
        actor = principal.label if principal else "public"
        name, tag = clean_name(spec.name), clean_name(spec.tag) if spec.tag else None
        r, token, entry = await entrants.register_one(request.app.state.engines, w, cfg, spec, name, tag, actor,
                                                      now())
        await w.save(w.state, [entry])
        regs = await event_store.registrations(w.conn, w.meta.id)
    return json_response({"registration": registration_json(r, regs), "token": token}, 201)


async def list_registrations(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/registrations?status=`: 200 `{"registrations": [registration]}` in
    order of registration (waitlist order within `waitlisted`); 404."""
    pg = pool(request)
    tid = tournament_id(request)
    await store.load(pg, tid)
    regs = await event_store.registrations(pg, tid)
    want = request.query_params.get("status")
    return json_response({"registrations": [registration_json(r, regs) for r in regs
                                             if not want or r.status == want]})


async def _entrant_or_organiser(request: Request, w: store.Writer, rid: int) -> tuple[str, Registration]:
    token = entrant_token(request)
    if token is not None and not request.headers.get("authorization"):
        r = await event_store.by_token(w.conn, w.meta.id, token)
        if r is None or r.id != rid:
            raise ApiError(403, "forbidden", "this registration token belongs to another entrant")
        return f"registration:{rid}", r
    principal = await organiser(request)
    check_owner(principal, w.meta)
    return principal.label, await event_store.get(w.conn, w.meta.id, rid)


async def _transition(request: Request, action: str) -> Response:
    """Shared body of withdraw / approve / reject / check-in / undo check-in / re-admit."""
    rid = path_id(request, "registration_id")
    async with db(request).write(tournament_id(request)) as w:
        tid = w.meta.id
        cfg = await event_store.config(w.conn, tid)
        if action in ("approve", "reject", "readmit"):
            principal = await organiser(request)
            check_owner(principal, w.meta)
            actor, r = principal.label, await event_store.get(w.conn, tid, rid)
        else:
            actor, r = await _entrant_or_organiser(request, w, rid)
        entrants.not_launched(cfg, action)
        at = now()
        before = registration_json(r)
        regs = await event_store.registrations(w.conn, tid)
        if action == "withdraw":
            if r.status not in registration.ACTIVE:
                raise StageError(f"a {r.status} entrant cannot withdraw")
            await event_store.set_status(w.conn, tid, [rid], "withdrawn")
        elif action == "approve":
            if r.status != "pending":
                raise StageError(f"only a pending entrant can be approved (this one is {r.status})")
            # Approval order is the queue order: the entrant goes behind everyone placed so far.
            await event_store.set_status(w.conn, tid, [rid], registration.place_for_new(cfg, regs), queued_at=at)
        elif action == "reject":
            if r.status not in registration.ACTIVE:
                raise StageError(f"a {r.status} entrant cannot be rejected")
            await event_store.set_status(w.conn, tid, [rid], "rejected")
        elif action == "checkin":
            window = schedule.checkin_window(cfg.starts_at, cfg.checkin_minutes, cfg.checkin_extra_minutes)
            if window is None:
                raise StageError("this event has no check-in")
            if cfg.checkin_closed_at is not None or not window[0] <= at < window[1]:
                raise StageError(f"check-in is open from {schedule.iso_utc(window[0])}"
                                 f" to {schedule.iso_utc(window[1])}")
            if r.status not in ("registered", "waitlisted"):
                raise StageError(f"a {r.status} entrant cannot check in")
            if r.checked_in_at is None:
                await event_store.set_checkin(w.conn, tid, rid, at)
        elif action == "undo_checkin":
            window = schedule.checkin_window(cfg.starts_at, cfg.checkin_minutes, cfg.checkin_extra_minutes)
            if window is None or cfg.checkin_closed_at is not None or not at < window[1]:
                raise StageError("check-in is over (or there is none): a check-in can no longer be undone")
            if r.checked_in_at is not None:
                await event_store.set_checkin(w.conn, tid, rid, None)
        elif action == "readmit":
            if r.status not in ("no_show", "withdrawn", "rejected"):
                raise StageError("only a no-show, withdrawn or rejected entrant can be re-admitted"
                                 f" (this one is {r.status})")
            others = [x for x in regs if x.id != rid]
            await event_store.set_status(w.conn, tid, [rid], registration.place_for_new(cfg, others))
            await event_store.set_checkin(w.conn, tid, rid, r.checked_in_at or at)
        after_r = await event_store.get(w.conn, tid, rid)
        entries = [entrants.entry(actor, at, action, after_r, before, registration_json(after_r))]
        if action in ("withdraw", "reject"):
            entries += await entrants.promote(w.conn, tid, cfg, actor, at)
        await w.save(w.state, entries)
        regs = await event_store.registrations(w.conn, tid)
    return json_response({"registration": registration_json(after_r, regs),
                          "promoted": [e.participant_id for e in entries if e.action == "promote"]})


async def withdraw(request: Request) -> Response:
    """`POST .../registrations/{rid}/withdraw` (the entrant's token or the organiser): the entrant
    leaves; its place goes to the first of the waitlist. 200 `{"registration", "promoted": [ids]}`;
    403 another entrant's token; 409 already out, or after the launch (then: disqualify)."""
    return await _transition(request, "withdraw")


async def approve(request: Request) -> Response:
    """`POST .../registrations/{rid}/approve` (organiser): a `pending` entrant gets a place (or the end
    of the waitlist). 200 `{"registration", "promoted": []}`; 409 when not pending."""
    return await _transition(request, "approve")


async def reject(request: Request) -> Response:
    """`POST .../registrations/{rid}/reject` (organiser): the entrant is out (`rejected`); a freed
    place is promoted. 200 `{"registration", "promoted"}`; 409 when already out."""
    return await _transition(request, "reject")


async def checkin(request: Request) -> Response:
    """`POST .../registrations/{rid}/checkin` (the entrant's token or the organiser): check in while
    the window is open (registered or waitlisted entrants). Idempotent. 200 `{"registration",
    "promoted": []}`; 409 outside the window, after it closed, or for an entrant that is out."""
    return await _transition(request, "checkin")


async def checkin_by_token(request: Request) -> Response:
    """`POST /api/v1/tournaments/{tournament_id}/checkin` (the entrant's `X-Registration-Token`): check
    in the entrant the token belongs to, as `POST .../registrations/{registration_id}/checkin` (the
    route the system fragstats replaces documented). 401 without the token, 404 when it belongs to no
    entrant of this tournament."""
    token = request.headers.get("x-registration-token")
    if not token:
        raise ApiError(401, "unauthorized", "X-Registration-Token required (the token given at registration)")
    entrant = await event_store.by_token(pool(request), tournament_id(request), token)
    if entrant is None:
        raise ApiError(404, "not_found", "no entrant of this tournament holds that token")
    request.scope["path_params"] = {**request.path_params, "registration_id": entrant.id}
    return await checkin(request)


async def undo_checkin(request: Request) -> Response:
    """`DELETE .../registrations/{rid}/checkin` (the entrant's token or the organiser): undo a check-in
    while check-in has not closed (the entrant must check in again to keep its place). Idempotent.
    200 `{"registration", "promoted": []}`; 409 once check-in is over."""
    return await _transition(request, "undo_checkin")


async def readmit(request: Request) -> Response:
    """`POST .../registrations/{rid}/readmit` (organiser): a no-show, withdrawn or rejected entrant
    comes back checked in -- registered when a place is free, else waitlisted in its original order.
    200 `{"registration", "promoted": []}`; 409 otherwise or after the launch."""
    return await _transition(request, "readmit")


# --- check-in window and launch ----------------------------------------------------------------

async def close_checkin(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/checkin/close` (organiser): end check-in now. Registered entrants
    who did not check in become `no_show`; their places go to checked-in waitlisted entrants in
    order. Idempotent (a second call changes nothing). `launch` does this by itself.
    200 `{"no_shows": [ids], "promoted": [ids], "registrations": [...]}`; 409 after the launch."""
    principal = await organiser(request)
    async with owned(request, principal) as w:
        cfg = await event_store.config(w.conn, w.meta.id)
        entrants.not_launched(cfg, "closing check-in")
        cfg, entries, no_shows, promoted = await entrants.close_checkin(w, cfg, principal.label, now())
        if entries:
            await w.save(w.state, entries)
        regs = await event_store.registrations(w.conn, w.meta.id)
    return json_response({"no_shows": no_shows, "promoted": promoted,
                          "registrations": [registration_json(r, regs) for r in regs]})


async def extend_checkin(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/checkin/extend` (organiser): body `{"minutes": 1..1440}` keeps the
    window open that much longer past the start (cumulative). 200 the event; 409 once check-in has
    closed or without a check-in window; 422 bad minutes."""
    principal = await organiser(request)
    spec = await read_json(request, Extend)
    if not 1 <= spec.minutes <= 1440:
        raise ApiError(422, "invalid_body", "minutes must be 1..1440")
    async with owned(request, principal) as w:
        cfg = await event_store.config(w.conn, w.meta.id)
        entrants.not_launched(cfg, "extending check-in")
        if cfg.checkin_minutes <= 0 or cfg.checkin_closed_at is not None:
            raise StageError("no open check-in to extend")
        cfg = msgspec.structs.replace(cfg, checkin_extra_minutes=cfg.checkin_extra_minutes + spec.minutes)
        registration.check_config(cfg)
        await event_store.put_config(w.conn, w.meta.id, cfg)
        at = now()
        await w.save(w.state, [entrants.entry(principal.label, at, "extend_checkin", None, None,
                                              {"checkin_extra_minutes": cfg.checkin_extra_minutes})])
        regs = await event_store.registrations(w.conn, w.meta.id)
    return json_response(event_json(cfg, regs, _viewer_zone(request), at))


@deprecated
async def launch(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/launch` (organiser): the same operation as `POST .../start` (an
    alias kept for clients of Tournaments II), answered in its own shape: body `{"seeding":
    "manual"|"random"|"rating", "random_seed"?}`; 200 `{"tournament": {...}, "seeding", "random_seed",
    "seeds": [{"participant_id", "name", "seed", "rating"}], "no_shows", "promoted"}`. 409 started
    already; 422 bad seeding or too few entrants for the format."""
    meta, t, info = await entrants.start_requested(request)
    return json_response({"tournament": tournament_json(meta, t), **info})
