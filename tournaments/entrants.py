"""Entrants around a bracket, inside a locked write (`Store.write`): registering one, promoting the
waitlist, closing check-in, linking members to telemetry players, rating entrants, and starting the
bracket with them. Shared by the routes that add entrants (`/participants`, `/registrations`, the CSV
import) and start (`/start`, `/launch`); the rules themselves are pure (`tournaments.registration`,
`tournaments.seeds`), the rows are `tournaments.event_store`'s.

One entrant model: every entrant is a registration row, whether it signed up or the organiser added
it; before the start the bracket has no participants, and `start` enters the registered entrants
(participant id = registration id). `participants` shows either, as the API's participants.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

import asyncpg
import msgspec

from fragstats.auth import new_token
from fragstats.bodies import read_json

from . import event_store, lifecycle, ratings, registration, schedule, seeds
from .errors import InvalidSettings, InvalidTime, StageError
from .http import now, organiser, owned
from .model import AuditEntry, Participant, Tournament
from .registration import EventConfig, Member, Registration
from .schemas import EntrantBody, StartBody
from .shapes import registration_json

TOKEN_PREFIX = "fsr_"
"""Prefix of an entrant's token (`X-Registration-Token`)."""
MAX_SEED = 100_000


def entry(actor: str, at: dt.datetime, action: str, r: Registration | None, before: dict | None = None,
          after: dict | None = None) -> AuditEntry:
    """An audit entry about registration ``r`` (or the event, when None)."""
    return AuditEntry(actor=actor, at=at, action=action, match_id=None, participant_id=r.id if r else None,
                      before=before, after=after)


def not_started(t: Tournament, what: str) -> None:
    """Raises ``StageError`` (409) once the bracket has started."""
    if t.matches:
        raise StageError(f"{what} is not possible after the start")


async def rename(conn, tid: int, r: Registration, name: str, tag: str | None) -> None:
    """Give registration ``r`` a new name and tag; ``InvalidSettings`` (422) when the name is taken."""
    try:
        async with conn.transaction():
            await event_store.rename(conn, tid, r.id, name, tag)
    except asyncpg.UniqueViolationError:
        raise InvalidSettings(f"the name {name!r} is already registered") from None


async def set_seeds(conn, tid: int, regs: list[Registration], new: dict[int, int | None], actor: str,
                    at: dt.datetime, action: str) -> list[AuditEntry]:
    """Store the organiser's seeds ``new`` (registration id -> seed); one audit entry ``action`` per
    entrant whose seed changed, with the seed before and after."""
    by_id = {r.id: r for r in regs}
    changed = {rid: seed for rid, seed in new.items() if by_id[rid].seed != seed}
    await event_store.set_seeds(conn, tid, changed)
    return [entry(actor, at, action, by_id[rid], {"seed": by_id[rid].seed}, {"seed": seed})
            for rid, seed in sorted(changed.items())]


def not_launched(cfg: EventConfig, what: str) -> None:
    """Raises ``StageError`` (409) once the event is launched."""
    if cfg.launched_at is not None:
        raise StageError(f"{what} is not possible after the launch")


async def promote(conn, tid: int, cfg: EventConfig, actor: str, at: dt.datetime) -> list[AuditEntry]:
    """Give free places to the waitlist in order (``registration.promotions``); their audit entries."""
    regs = await event_store.registrations(conn, tid)
    ids = registration.promotions(cfg, regs)
    await event_store.set_status(conn, tid, ids, "registered")
    by_id = {r.id: r for r in regs}
    return [entry(actor, at, "promote", by_id[i], {"status": "waitlisted"}, {"status": "registered"}) for i in ids]


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


async def register_one(engines, w, cfg: EventConfig, spec: EntrantBody, name: str, tag: str | None,
                       actor: str, at: dt.datetime, *, placed: bool = False
                       ) -> tuple[Registration, str, AuditEntry]:
    """Validate and insert one registration inside the locked write ``w`` (``name`` and ``tag``
    already cleaned); returns it, its entrant token (shown once) and its audit entry. ``placed``: the
    organiser enters it with a place whatever the capacity (`POST /participants`); else it is placed
    by the event's rules (approval, capacity, waitlist).

    Raises ``StageError`` (409) after the start or the close of check-in; ``InvalidSettings`` (422)
    for a seed outside 1..100000 or already held, a roster that breaks the event's rules, or a name
    already registered."""
    tid = w.meta.id
    not_launched(cfg, "registering")
    if w.state.matches:
        raise StageError("the bracket has already been started")
    if cfg.checkin_closed_at is not None:
        raise StageError("check-in has closed; registration is over")
    if spec.seed is not None and not 1 <= spec.seed <= MAX_SEED:
        raise InvalidSettings(f"seed must be 1..{MAX_SEED}")
    members = list(spec.members or [])
    if cfg.kind == "player" and not members:
        members = [Member(name=name, player_id=spec.player_id)]
    registration.check_roster(cfg, members)
    members = await link_members(engines, members)
    regs = await event_store.registrations(w.conn, tid)
    if registration.seed_taken(regs, spec.seed):
        raise InvalidSettings(f"seed {spec.seed} is already taken")
    if placed:
        status = "registered"
    else:
        status = "pending" if cfg.approval and actor == "public" else registration.place_for_new(cfg, regs)
    token = new_token(TOKEN_PREFIX)
    try:
        async with w.conn.transaction():
            r = await event_store.insert(w.conn, tid, name=name, tag=tag, seed=spec.seed, members=members,
                                         status=status, token=token, at=at)
    except asyncpg.UniqueViolationError:
        raise InvalidSettings(f"the name {name!r} is already registered") from None
    return r, token, entry(actor, at, "register", r, None, registration_json(r))


async def close_checkin(w, cfg: EventConfig, actor: str, at: dt.datetime
                        ) -> tuple[EventConfig, list[AuditEntry], list[int], list[int]]:
    """End check-in inside the locked write ``w``: (new config, audit entries, no-show ids, promoted
    ids). Registered entrants without a check-in become ``no_show``; checked-in waitlisted entrants
    take the freed places in order. Nothing happens when it is closed already."""
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
    entries = [entry(actor, at, "close_checkin", None, None, {"no_shows": no_shows, "promoted": promoted})]
    entries += [entry(actor, at, "no_show", by_id[i], {"status": "registered"}, {"status": "no_show"})
                for i in no_shows]
    entries += [entry(actor, at, "promote", by_id[i], {"status": "waitlisted"}, {"status": "registered"})
                for i in promoted]
    return cfg, entries, no_shows, promoted


async def entrant_ratings(conn, entrants: list[Registration]) -> dict[int, ratings.Rating]:
    """registration id -> (mu, sigma) of the entrant: its starters' stored ratings combined
    (``ratings.team_rating``; unrated or unlinked members at the defaults)."""
    ids = [m.player_id for r in entrants for m in r.members if m.player_id]
    stored = await ratings.get_many(conn, ids)
    default = (ratings.DEFAULT_MU, ratings.DEFAULT_SIGMA)
    out = {}
    for r in entrants:
        starters = [m for m in r.members if not m.substitute] or r.members
        out[r.id] = ratings.team_rating([stored.get(m.player_id or "", default) for m in starters])
    return out


async def participants(conn, tournament_id: int, t: Tournament) -> list[Participant]:
    """The tournament's participants as the API shows them: the bracket's once it has started, else
    the entrants with a place (registered), in seed order, with the organiser's seeds."""
    if t.matches:
        return t.participants
    regs = await event_store.registrations(conn, tournament_id)
    return [Participant(id=r.id, name=r.name, seed=r.seed) for r in registration.seed_order(regs)]


async def start(w, cfg: EventConfig, *, seeding: str, random_seed: int | None, actor: str,
                at: dt.datetime) -> tuple[Tournament, dict]:
    """Start the bracket of the locked write ``w`` with its entrants: close check-in (no-shows out,
    waitlist promoted), seed the registered entrants (``tournaments.seeds``: ``manual`` keeps the
    organiser's order; ``random`` without a ``random_seed`` draws one and records it; ``rating``),
    enter them into the bracket (participant id = registration id) and build the matches. Saves it
    all with the audit entries (``close_checkin`` ..., ``add_participant`` per entrant, ``start`` per
    match, one ``launch`` with the seeds).

    Returns the new state and ``{"seeding", "random_seed", "seeds": [{"participant_id", "name",
    "seed", "rating"}], "no_shows", "promoted"}``. Raises ``StageError`` (409) when already started,
    ``InvalidSettings`` (422) for an unknown seeding or entrants that do not fit the format (then
    nothing is changed)."""
    tid = w.meta.id
    if w.state.matches or cfg.launched_at is not None:
        raise StageError("the tournament has already been started")
    if seeding not in seeds.METHODS:
        raise InvalidSettings(f"seeding must be one of {list(seeds.METHODS)}")
    cfg, entries, no_shows, promoted = await close_checkin(w, cfg, actor, at)
    regs = registration.entrants(await event_store.registrations(w.conn, tid))
    if seeding == "random" and random_seed is None:
        random_seed = secrets.randbelow(2**31)
    rates = await entrant_ratings(w.conn, regs)
    seeded = seeds.assign(regs, seeding, random_seed=random_seed, ratings=rates)
    t = w.state
    for r in sorted(regs, key=lambda r: seeded[r.id]):
        t, _, more = lifecycle.add_participant(t, r.name, seeded[r.id], actor=actor, at=at, participant_id=r.id)
        entries += more
    t, more = await asyncio.to_thread(lifecycle.start, t, actor=actor, at=at)
    entries += more
    cfg = msgspec.structs.replace(cfg, seeding=seeding, random_seed=random_seed, launched_at=at)
    await event_store.put_config(w.conn, tid, cfg)
    entries.append(entry(actor, at, "launch", None, None,
                         {"seeding": seeding, "random_seed": random_seed, "seeds": seeded}))
    await w.save(t, entries)
    rows = [{"participant_id": r.id, "name": r.name, "seed": seeded[r.id],
             "rating": round(ratings.conservative(rates[r.id]), 3)} for r in regs]
    return t, {"seeding": seeding, "random_seed": random_seed, "seeds": sorted(rows, key=lambda x: x["seed"]),
               "no_shows": no_shows, "promoted": promoted}


EVENT_TIMES = ("starts_at", "timezone", "checkin_minutes", "round_minutes")


def future_time(value: str, zone: str, now: dt.datetime, what: str) -> dt.datetime:
    """``value`` (ISO-8601; local time in ``zone`` without an offset) as UTC; ``InvalidTime`` (422)
    when it cannot be read or is not after ``now``."""
    t = schedule.parse_time(value, zone)
    if t <= now:
        raise InvalidTime(f"{what} {schedule.iso_utc(t)} is in the past")
    return t


async def configure(w, changes: dict, actor: str, at: dt.datetime, *, replace: bool = False
                    ) -> tuple[EventConfig, list[AuditEntry]]:
    """Change the event configuration of the locked write ``w`` (``replace``: the whole of it, fields
    not in ``changes`` back to their defaults; else only those given). ``starts_at`` is read in the
    event's (new) ``timezone`` and must be in the future. A larger capacity promotes the waitlist.

    Returns the new config and the audit entries (``configure_event``, ``promote``...). Raises
    ``StageError`` (409) after the start, ``InvalidSettings`` / ``InvalidTime`` (422)."""
    tid = w.meta.id
    old = await event_store.config(w.conn, tid)
    not_launched(old, "changing the event")
    not_started(w.state, "changing the event")
    base = EventConfig() if replace else old
    fields = dict(changes)
    zone = fields.get("timezone", base.timezone if not replace else "UTC")
    schedule.zone(zone)
    if fields.get("kind", base.kind) not in ("player", "team"):
        raise InvalidSettings("kind must be player or team")
    if isinstance(fields.get("starts_at"), str):
        fields["starts_at"] = future_time(fields["starts_at"], zone, at, "starts_at")
    keep = {k: getattr(old, k) for k in ("checkin_closed_at", "checkin_extra_minutes", "seeding", "random_seed",
                                         "launched_at", "registration_opens_at", "registration_closes_at")}
    cfg = msgspec.structs.replace(base, **({**keep, **fields} if replace else fields))
    registration.check_config(cfg)
    await event_store.put_config(w.conn, tid, cfg)
    entries = [entry(actor, at, "configure_event", None, {"event": msgspec.to_builtins(old)},
                     {"event": msgspec.to_builtins(cfg)})]
    entries += await promote(w.conn, tid, cfg, actor, at)  # a larger capacity frees places
    return cfg, entries


async def start_requested(request):
    """The start operation of `POST .../start` and its alias `.../launch`: the organiser, the body
    `StartBody`, the locked write; returns (tournament meta, the started Tournament, the seeding
    info). Raises ApiError/StageError as the routes document."""
    principal = await organiser(request)
    spec = await read_json(request, StartBody)
    async with owned(request, principal) as w:
        cfg = await event_store.config(w.conn, w.meta.id)
        new, info = await start(w, cfg, seeding=spec.seeding, random_seed=spec.random_seed,
                                actor=principal.label, at=now())
        return w.meta, new, info
