"""JSON routes for running an event around a bracket: event config, registration, waitlist,
check-in, launch with seeds, and the iCal schedule. All under `/api/v1/tournaments/{id}`.

Who may call what:
  * organiser (the tournament's owner key, or the admin; `Authorization: Bearer`): everything;
  * entrant (`X-Registration-Token: <token>` given once at registration): its own check-in and
    withdrawal (and, in `result_routes`, its captain's result reports);
  * anyone: reads, and registering while the event has `open_registration`.

Errors as in `tournaments.routes`: 401/403 auth, 404 unknown tournament/registration, 409 the
operation does not fit the state (`stage_error`: after the launch, check-in closed or not open,
...), 422 a body that cannot be (`invalid_body`, `invalid_settings`, `invalid_time`). Times in
answers: `{"utc": ISO-8601 "Z", "local": ISO-8601 with the event zone's offset, "viewer": in the
`?tz=` zone when given}`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

import asyncpg
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fragstats.auth import Principal, new_token
from fragstats.errors import ApiError
from fragstats.bodies import read_json

from . import event_store, lifecycle, ratings, registration, schedule, seeds, store, webhooks
from .errors import InvalidSettings, StageError
from .model import AuditEntry
from .registration import EventConfig, Member, Registration
from .routes import _check_owner, _json, _name, _now, _tid, _writer, engine_errors, tournament_json

TOKEN_PREFIX_ENTRANT = "fsr_"


class EventSpec(msgspec.Struct, forbid_unknown_fields=True):
    kind: str = "player"
    capacity: int | None = None
    roster_min: int = 1
    roster_max: int = 1
    substitutes: int = 0
    approval: bool = False
    open_registration: bool = True
    starts_at: str | None = None
    timezone: str = "UTC"
    checkin_minutes: int = 0
    round_minutes: int | None = None


class NewRegistration(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    tag: str | None = None
    seed: int | None = None
    player_id: str | None = None
    members: list[Member] | None = None


class Extend(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int


class Launch(msgspec.Struct, forbid_unknown_fields=True):
    seeding: str = "manual"
    random_seed: int | None = None


# --- helpers -----------------------------------------------------------------------------------

def _viewer_zone(request: Request) -> str | None:
    tz = request.query_params.get("tz") or None
    if tz is not None:
        schedule.zone(tz)  # 422 for an unknown zone
    return tz


def event_json(cfg: EventConfig, regs: list[Registration], viewer: str | None, now: dt.datetime) -> dict:
    """The event as the API shows it (see ``get_event``)."""
    window = schedule.checkin_window(cfg.starts_at, cfg.checkin_minutes, cfg.checkin_extra_minutes)
    counts = {s: sum(1 for r in regs if r.status == s) for s in ("pending", "registered", "waitlisted",
                                                                  "withdrawn", "rejected", "no_show")}
    t = lambda x: schedule.times_json(x, cfg.timezone, viewer)  # noqa: E731
    return {"kind": cfg.kind, "capacity": cfg.capacity, "roster_min": cfg.roster_min, "roster_max": cfg.roster_max,
            "substitutes": cfg.substitutes, "approval": cfg.approval, "open_registration": cfg.open_registration,
            "timezone": cfg.timezone, "starts_at": t(cfg.starts_at), "checkin_minutes": cfg.checkin_minutes,
            "checkin_extra_minutes": cfg.checkin_extra_minutes, "round_minutes": cfg.round_minutes,
            "checkin": None if window is None else {
                "opens": t(window[0]), "closes": t(window[1]),
                "open": cfg.checkin_closed_at is None and window[0] <= now < window[1],
                "closed_at": t(cfg.checkin_closed_at)},
            "seeding": cfg.seeding, "random_seed": cfg.random_seed, "launched_at": t(cfg.launched_at),
            "counts": counts}


def registration_json(r: Registration, regs: list[Registration] | None = None) -> dict:
    """``{"id" (also the bracket participant id after the launch), "name", "tag", "seed", "members":
    [{"name", "player_id", "substitute"}], "status", "checked_in", "checked_in_at", "registered_at",
    "waitlist_position" (1-based, waitlisted only)}``."""
    position = None
    if r.status == "waitlisted" and regs is not None:
        queue = [x.id for x in sorted(regs, key=lambda x: (x.queued_at, x.id)) if x.status == "waitlisted"]
        position = queue.index(r.id) + 1
    return {"id": r.id, "name": r.name, "tag": r.tag, "seed": r.seed, "members": msgspec.to_builtins(r.members),
            "status": r.status, "checked_in": r.checked_in_at is not None,
            "checked_in_at": schedule.iso_utc(r.checked_in_at), "registered_at": schedule.iso_utc(r.queued_at),
            "waitlist_position": position}


async def _config(conn, tid: int) -> EventConfig:
    return await event_store.get_config(conn, tid) or EventConfig()


def _entrant_token(request: Request) -> str | None:
    return request.headers.get("x-registration-token") or None


async def _organiser_or_none(request: Request) -> Principal | None:
    """The organiser when an `Authorization` header is sent (401/403 when it is wrong), else None."""
    if request.headers.get("authorization"):
        return await _writer(request)
    return None


def _entry(actor: str, at: dt.datetime, action: str, r: Registration | None, before: dict | None = None,
           after: dict | None = None) -> AuditEntry:
    return AuditEntry(actor=actor, at=at, action=action, match_id=None, participant_id=r.id if r else None,
                      before=before, after=after)


def _not_launched(cfg: EventConfig, what: str) -> None:
    if cfg.launched_at is not None:
        raise StageError(f"{what} is not possible after the launch")


async def _promote(conn, tid: int, cfg: EventConfig, actor: str, at: dt.datetime) -> list[AuditEntry]:
    regs = await event_store.registrations(conn, tid)
    ids = registration.promotions(cfg, regs)
    await event_store.set_status(conn, tid, ids, "registered")
    by_id = {r.id: r for r in regs}
    return [_entry(actor, at, "promote", by_id[i], {"status": "waitlisted"}, {"status": "registered"}) for i in ids]


async def link_members(engines, members: list[Member]) -> list[Member]:
    """Members without a ``player_id`` get the one telemetry player id seen with exactly that name
    (``player_match.player_name``); names seen with several ids, or none, stay unlinked."""
    names = sorted({m.name for m in members if not m.player_id})
    if not names:
        return members
    rows = await engines.query("SELECT player_name, groupUniqArray(2)(player_id) FROM player_match"
                               " WHERE player_name IN {names:Array(String)} GROUP BY player_name", {"names": names})
    found = {name: ids[0] for name, ids in rows if len(ids) == 1}
    return [m if m.player_id else msgspec.structs.replace(m, player_id=found.get(m.name)) for m in members]


# --- event config ------------------------------------------------------------------------------

@engine_errors
async def put_event(request: Request) -> Response:
    """`PUT /api/v1/tournaments/{id}/event` (organiser): body `{"kind": "player"|"team", "capacity": int?
    (null: no limit), "roster_min", "roster_max", "substitutes", "approval": bool, "open_registration":
    bool, "starts_at": ISO-8601 (with offset, or local time in `timezone`), "timezone": IANA name,
    "checkin_minutes": minutes before the start the check-in opens (0: no check-in), "round_minutes"?
    (for the iCal schedule)}`. 200 the event (`GET` shape). 409 after the launch; 422 a bad value or
    a local `starts_at` that daylight saving skips."""
    principal = await _writer(request)
    spec = await read_json(request, EventSpec)
    tid = _tid(request)
    starts = schedule.parse_time(spec.starts_at, spec.timezone) if spec.starts_at else None
    schedule.zone(spec.timezone)
    if spec.kind not in ("player", "team"):
        raise InvalidSettings("kind must be player or team")
    async with store.write(request.app.state.engines.pg, tid) as w:
        _check_owner(principal, w.meta)
        old = await _config(w.conn, tid)
        _not_launched(old, "changing the event")
        if w.state.matches:
            raise StageError("the bracket has already been started")
        cfg = msgspec.structs.replace(old, kind=spec.kind, capacity=spec.capacity, roster_min=spec.roster_min,
                                      roster_max=spec.roster_max, substitutes=spec.substitutes,
                                      approval=spec.approval, open_registration=spec.open_registration,
                                      starts_at=starts, timezone=spec.timezone, checkin_minutes=spec.checkin_minutes,
                                      round_minutes=spec.round_minutes)
        registration.check_config(cfg)
        await event_store.put_config(w.conn, tid, cfg)
        at = _now()
        entries = [_entry(principal.label, at, "configure_event", None, None, {"event": msgspec.to_builtins(cfg)})]
        entries += await _promote(w.conn, tid, cfg, principal.label, at)  # a larger capacity frees places
        await w.save(w.state, entries)
        regs = await event_store.registrations(w.conn, tid)
    webhooks.kick(request.app)
    return _json(event_json(cfg, regs, _viewer_zone(request), at))


@engine_errors
async def get_event(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/event?tz=<IANA zone>`: 200 `{"kind", "capacity", "roster_min",
    "roster_max", "substitutes", "approval", "open_registration", "timezone", "starts_at": times,
    "checkin_minutes", "checkin_extra_minutes", "round_minutes", "checkin": {"opens", "closes", "open":
    bool, "closed_at"} | null, "seeding", "random_seed", "launched_at", "counts": {status: n}}` where a
    time is `{"utc", "local", "viewer"?}`. Defaults when never configured. 404; 422 unknown `tz`."""
    pool = request.app.state.engines.pg
    tid = _tid(request)
    await store.load(pool, tid)
    cfg = await _config(pool, tid)
    return _json(event_json(cfg, await event_store.registrations(pool, tid), _viewer_zone(request), _now()))


@engine_errors
async def get_ical(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/schedule.ics`: `text/calendar` (RFC 5545) with the check-in
    window, the start, and one event per round when `round_minutes` is set (round r starts at
    `starts_at + (r - 1) * round_minutes`). Times in UTC. 404; 409 without `starts_at`."""
    pool = request.app.state.engines.pg
    tid = _tid(request)
    meta, t = await store.load(pool, tid)
    cfg = await _config(pool, tid)
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
    body = schedule.ical(f"tournament-{tid}", meta.name, cfg.timezone, entries, _now())
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="tournament-{tid}.ics"'})


# --- registration ------------------------------------------------------------------------------

async def register_one(request: Request, w: store.Writer, cfg: EventConfig, spec: NewRegistration,
                       actor: str, at: dt.datetime) -> tuple[Registration, str, AuditEntry]:
    """Validate and insert one registration inside the locked write ``w``; returns it, its entrant
    token and its audit entry."""
    tid = w.meta.id
    _not_launched(cfg, "registering")
    if w.state.matches:
        raise StageError("the bracket has already been started")
    if cfg.checkin_closed_at is not None:
        raise StageError("check-in has closed; registration is over")
    name = _name(spec.name)
    tag = _name(spec.tag) if spec.tag else None
    if spec.seed is not None and not 1 <= spec.seed <= 100_000:
        raise InvalidSettings("seed must be 1..100000")
    members = list(spec.members or [])
    if cfg.kind == "player" and not members:
        members = [Member(name=name, player_id=spec.player_id)]
    registration.check_roster(cfg, members)
    members = await link_members(request.app.state.engines, members)
    regs = await event_store.registrations(w.conn, tid)
    status = "pending" if cfg.approval and actor == "public" else registration.place_for_new(cfg, regs)
    token = new_token(TOKEN_PREFIX_ENTRANT)
    try:
        async with w.conn.transaction():
            r = await event_store.insert(w.conn, tid, name=name, tag=tag, seed=spec.seed, members=members,
                                         status=status, token=token, at=at)
    except asyncpg.UniqueViolationError:
        raise InvalidSettings(f"the name {name!r} is already registered") from None
    return r, token, _entry(actor, at, "register", r, None, registration_json(r))


@engine_errors
async def register(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/registrations`: body `{"name", "tag"?, "seed"? (organiser only),
    "player_id"? (player events: the telemetry id), "members"?: [{"name", "player_id"?, "substitute"?}]}`.

    Anyone may register while `open_registration` (then an approval event makes it `pending`);
    the organiser always may (never pending). Members without `player_id` are linked to the telemetry
    player seen with that exact name when there is exactly one. A place is given while capacity
    lasts, else the entrant is `waitlisted`. 201 `{"registration": {...}, "token": "fsr_..."}` -- the
    entrant's token, shown only here. 401/403 (closed registration without organiser key), 409 after
    check-in closed or the launch, 422 roster rules / name taken / bad body."""
    principal = await _organiser_or_none(request)
    spec = await read_json(request, NewRegistration)
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        cfg = await _config(w.conn, w.meta.id)
        if principal is not None:
            _check_owner(principal, w.meta)
        elif not cfg.open_registration:
            raise ApiError(401, "unauthorized", "registration is closed to the public; the organiser registers")
        if principal is None and spec.seed is not None:
            raise ApiError(403, "forbidden", "only the organiser sets seeds")
        actor = principal.label if principal else "public"
        r, token, entry = await register_one(request, w, cfg, spec, actor, _now())
        await w.save(w.state, [entry])
        regs = await event_store.registrations(w.conn, w.meta.id)
    webhooks.kick(request.app)
    return _json({"registration": registration_json(r, regs), "token": token}, 201)


@engine_errors
async def list_registrations(request: Request) -> Response:
    """`GET /api/v1/tournaments/{id}/registrations?status=`: 200 `{"registrations": [registration]}` in
    order of registration (waitlist order within `waitlisted`); 404."""
    pool = request.app.state.engines.pg
    tid = _tid(request)
    await store.load(pool, tid)
    regs = await event_store.registrations(pool, tid)
    want = request.query_params.get("status")
    return _json({"registrations": [registration_json(r, regs) for r in regs if not want or r.status == want]})


async def _entrant_or_organiser(request: Request, w: store.Writer, rid: int) -> tuple[str, Registration]:
    token = _entrant_token(request)
    if token is not None and not request.headers.get("authorization"):
        r = await event_store.by_token(w.conn, w.meta.id, token)
        if r is None or r.id != rid:
            raise ApiError(403, "forbidden", "this registration token belongs to another entrant")
        return f"registration:{rid}", r
    principal = await _writer(request)
    _check_owner(principal, w.meta)
    return principal.label, await event_store.get(w.conn, w.meta.id, rid)


def _rid(request: Request) -> int:
    from .routes import _path_id
    return _path_id(request, "registration_id")


async def _transition(request: Request, action: str) -> Response:
    """Shared body of withdraw / approve / reject / check-in / re-admit."""
    rid = _rid(request)
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        tid = w.meta.id
        cfg = await _config(w.conn, tid)
        if action in ("approve", "reject", "readmit"):
            principal = await _writer(request)
            _check_owner(principal, w.meta)
            actor, r = principal.label, await event_store.get(w.conn, tid, rid)
        else:
            actor, r = await _entrant_or_organiser(request, w, rid)
        _not_launched(cfg, action)
        at = _now()
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
                raise StageError(f"check-in is open from {schedule.iso_utc(window[0])} to {schedule.iso_utc(window[1])}")
            if r.status not in ("registered", "waitlisted"):
                raise StageError(f"a {r.status} entrant cannot check in")
            if r.checked_in_at is None:
                await event_store.set_checkin(w.conn, tid, rid, at)
        elif action == "readmit":
            if r.status not in ("no_show", "withdrawn", "rejected"):
                raise StageError(f"only a no-show, withdrawn or rejected entrant can be re-admitted (this one is {r.status})")
            others = [x for x in regs if x.id != rid]
            await event_store.set_status(w.conn, tid, [rid], registration.place_for_new(cfg, others))
            await event_store.set_checkin(w.conn, tid, rid, r.checked_in_at or at)
        after_r = await event_store.get(w.conn, tid, rid)
        entries = [_entry(actor, at, action, after_r, before, registration_json(after_r))]
        if action in ("withdraw", "reject"):
            entries += await _promote(w.conn, tid, cfg, actor, at)
        await w.save(w.state, entries)
        regs = await event_store.registrations(w.conn, tid)
    webhooks.kick(request.app)
    return _json({"registration": registration_json(after_r, regs),
                  "promoted": [e.participant_id for e in entries if e.action == "promote"]})


@engine_errors
async def withdraw(request: Request) -> Response:
    """`POST .../registrations/{rid}/withdraw` (the entrant's token or the organiser): the entrant
    leaves; its place goes to the first of the waitlist. 200 `{"registration", "promoted": [ids]}`;
    403 another entrant's token; 409 already out, or after the launch (then: disqualify)."""
    return await _transition(request, "withdraw")


@engine_errors
async def approve(request: Request) -> Response:
    """`POST .../registrations/{rid}/approve` (organiser): a `pending` entrant gets a place (or the end
    of the waitlist). 200 `{"registration", "promoted": []}`; 409 when not pending."""
    return await _transition(request, "approve")


@engine_errors
async def reject(request: Request) -> Response:
    """`POST .../registrations/{rid}/reject` (organiser): the entrant is out (`rejected`); a freed
    place is promoted. 200 `{"registration", "promoted"}`; 409 when already out."""
    return await _transition(request, "reject")


@engine_errors
async def checkin(request: Request) -> Response:
    """`POST .../registrations/{rid}/checkin` (the entrant's token or the organiser): check in while
    the window is open (registered or waitlisted entrants). Idempotent. 200 `{"registration",
    "promoted": []}`; 409 outside the window, after it closed, or for an entrant that is out."""
    return await _transition(request, "checkin")


@engine_errors
async def readmit(request: Request) -> Response:
    """`POST .../registrations/{rid}/readmit` (organiser): a no-show, withdrawn or rejected entrant
    comes back checked in -- registered when a place is free, else waitlisted in its original order.
    200 `{"registration", "promoted": []}`; 409 otherwise or after the launch."""
    return await _transition(request, "readmit")


# --- check-in window and launch ----------------------------------------------------------------

async def _close_checkin(w: store.Writer, cfg: EventConfig, actor: str, at: dt.datetime) -> tuple[EventConfig, list[AuditEntry], list[int], list[int]]:
    tid = w.meta.id
    if cfg.checkin_closed_at is not None:
        return cfg, [], [], []
    regs = await event_store.registrations(w.conn, tid)
    no_shows, promoted = registration.close_checkin(cfg, regs)
    await event_store.set_status(w.conn, tid, no_shows, "no_show")
    await event_store.set_status(w.conn, tid, promoted, "registered")
    cfg = msgspec.structs.replace(cfg, checkin_closed_at=at)
    await event_store.put_config(w.conn, tid, cfg)
    by_id = {r.id: r for r in regs}
    entries = [_entry(actor, at, "close_checkin", None, None, {"no_shows": no_shows, "promoted": promoted})]
    entries += [_entry(actor, at, "no_show", by_id[i], {"status": "registered"}, {"status": "no_show"})
                for i in no_shows]
    entries += [_entry(actor, at, "promote", by_id[i], {"status": "waitlisted"}, {"status": "registered"})
                for i in promoted]
    return cfg, entries, no_shows, promoted


@engine_errors
async def close_checkin(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/checkin/close` (organiser): end check-in now. Registered entrants
    who did not check in become `no_show`; their places go to checked-in waitlisted entrants in
    order. Idempotent (a second call changes nothing). `launch` does this by itself.
    200 `{"no_shows": [ids], "promoted": [ids], "registrations": [...]}`; 409 after the launch."""
    principal = await _writer(request)
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        cfg = await _config(w.conn, w.meta.id)
        _not_launched(cfg, "closing check-in")
        cfg, entries, no_shows, promoted = await _close_checkin(w, cfg, principal.label, _now())
        if entries:
            await w.save(w.state, entries)
        regs = await event_store.registrations(w.conn, w.meta.id)
    webhooks.kick(request.app)
    return _json({"no_shows": no_shows, "promoted": promoted,
                  "registrations": [registration_json(r, regs) for r in regs]})


@engine_errors
async def extend_checkin(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/checkin/extend` (organiser): body `{"minutes": 1..1440}` keeps the
    window open that much longer past the start (cumulative). 200 the event; 409 once check-in has
    closed or without a check-in window; 422 bad minutes."""
    principal = await _writer(request)
    spec = await read_json(request, Extend)
    if not 1 <= spec.minutes <= 1440:
        raise ApiError(422, "invalid_body", "minutes must be 1..1440")
    async with store.write(request.app.state.engines.pg, _tid(request)) as w:
        _check_owner(principal, w.meta)
        cfg = await _config(w.conn, w.meta.id)
        _not_launched(cfg, "extending check-in")
        if cfg.checkin_minutes <= 0 or cfg.checkin_closed_at is not None:
            raise StageError("no open check-in to extend")
        cfg = msgspec.structs.replace(cfg, checkin_extra_minutes=cfg.checkin_extra_minutes + spec.minutes)
        registration.check_config(cfg)
        await event_store.put_config(w.conn, w.meta.id, cfg)
        at = _now()
        await w.save(w.state, [_entry(principal.label, at, "extend_checkin", None, None,
                                      {"checkin_extra_minutes": cfg.checkin_extra_minutes})])
        regs = await event_store.registrations(w.conn, w.meta.id)
    webhooks.kick(request.app)
    return _json(event_json(cfg, regs, _viewer_zone(request), at))


async def entrant_ratings(pool, entrants: list[Registration]) -> dict[int, ratings.Rating]:
    """registration id -> (mu, sigma) of the entrant: its starters' stored ratings combined
    (``ratings.team_rating``; unrated or unlinked members at the defaults)."""
    ids = [m.player_id for r in entrants for m in r.members if m.player_id]
    stored = await ratings.get_many(pool, ids)
    default = (ratings.DEFAULT_MU, ratings.DEFAULT_SIGMA)
    out = {}
    for r in entrants:
        starters = [m for m in r.members if not m.substitute] or r.members
        out[r.id] = ratings.team_rating([stored.get(m.player_id or "", default) for m in starters])
    return out


@engine_errors
async def launch(request: Request) -> Response:
    """`POST /api/v1/tournaments/{id}/launch` (organiser): body `{"seeding": "manual"|"random"|"rating",
    "random_seed": int?}`. Closes check-in (no-shows out, waitlist promoted), seeds the registered
    entrants (`tournaments.seeds`; random without a `random_seed` draws one and records it), enters
    them into the bracket (participant id = registration id) and starts it.

    200 `{"tournament": {...}, "seeding", "random_seed", "seeds": [{"participant_id", "name", "seed",
    "rating"}], "no_shows", "promoted"}`. 409 launched already / bracket started; 422 bad seeding or
    too few entrants for the format."""
    principal = await _writer(request)
    spec = await read_json(request, Launch)
    if spec.seeding not in seeds.METHODS:
        raise ApiError(422, "invalid_body", f"seeding must be one of {list(seeds.METHODS)}")
    pool = request.app.state.engines.pg
    async with store.write(pool, _tid(request)) as w:
        _check_owner(principal, w.meta)
        tid = w.meta.id
        cfg = await _config(w.conn, tid)
        _not_launched(cfg, "launching")
        if w.state.matches or w.state.participants:
            raise StageError("the bracket already has participants; launch works on registrations only")
        at = _now()
        cfg, entries, no_shows, promoted = await _close_checkin(w, cfg, principal.label, at)
        regs = registration.entrants(await event_store.registrations(w.conn, tid))
        rng_seed = spec.random_seed
        if spec.seeding == "random" and rng_seed is None:
            rng_seed = secrets.randbelow(2**31)
        rates = await entrant_ratings(w.conn, regs)
        seeded = seeds.assign(regs, spec.seeding, random_seed=rng_seed, ratings=rates)
        t = w.state
        for r in sorted(regs, key=lambda r: seeded[r.id]):
            t, _, more = lifecycle.add_participant(t, r.name, seeded[r.id], actor=principal.label, at=at,
                                                   participant_id=r.id)
            entries += more
        t, more = await asyncio.to_thread(lifecycle.start, t, actor=principal.label, at=at)
        entries += more
        cfg = msgspec.structs.replace(cfg, seeding=spec.seeding, random_seed=rng_seed, launched_at=at)
        await event_store.put_config(w.conn, tid, cfg)
        entries.append(_entry(principal.label, at, "launch", None, None,
                              {"seeding": spec.seeding, "random_seed": rng_seed, "seeds": seeded}))
        meta = await w.save(t, entries)
    webhooks.kick(request.app)
    rows = [{"participant_id": r.id, "name": r.name, "seed": seeded[r.id],
             "rating": round(ratings.conservative(rates[r.id]), 3)} for r in regs]
    return _json({"tournament": tournament_json(meta, t), "seeding": spec.seeding, "random_seed": rng_seed,
                  "seeds": sorted(rows, key=lambda x: x["seed"]), "no_shows": no_shows, "promoted": promoted})


R = "/api/v1/tournaments/{tournament_id:int}"
RR = R + "/registrations/{registration_id:int}"


def _routes() -> list:
    from starlette.routing import Route
    return [
        Route(R + "/event", put_event, methods=["PUT"]),
        Route(R + "/event", get_event, methods=["GET"]),
        Route(R + "/schedule.ics", get_ical, methods=["GET"]),
        Route(R + "/registrations", register, methods=["POST"]),
        Route(R + "/registrations", list_registrations, methods=["GET"]),
        Route(RR + "/withdraw", withdraw, methods=["POST"]),
        Route(RR + "/approve", approve, methods=["POST"]),
        Route(RR + "/reject", reject, methods=["POST"]),
        Route(RR + "/checkin", checkin, methods=["POST"]),
        Route(RR + "/readmit", readmit, methods=["POST"]),
        Route(R + "/checkin/close", close_checkin, methods=["POST"]),
        Route(R + "/checkin/extend", extend_checkin, methods=["POST"]),
        Route(R + "/launch", launch, methods=["POST"]),
    ]


routes = _routes()
