"""Entrants around a bracket, inside a locked write (`store.write`): registering one, promoting the
waitlist, closing check-in, linking members to telemetry players and rating entrants. Shared by the
routes that register (one by one, or from a CSV) and launch; the rules themselves are pure
(`tournaments.registration`, `tournaments.seeds`), the rows are `tournaments.event_store`'s.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from fragstats.auth import new_token

from . import event_store, ratings, registration
from .errors import InvalidSettings, StageError
from .model import AuditEntry
from .registration import EventConfig, Member, Registration
from .schemas import NewRegistration
from .shapes import registration_json

TOKEN_PREFIX = "fsr_"
"""Prefix of an entrant's token (`X-Registration-Token`)."""
MAX_SEED = 100_000


def entry(actor: str, at: dt.datetime, action: str, r: Registration | None, before: dict | None = None,
          after: dict | None = None) -> AuditEntry:
    """An audit entry about registration ``r`` (or the event, when None)."""
    return AuditEntry(actor=actor, at=at, action=action, match_id=None, participant_id=r.id if r else None,
                      before=before, after=after)


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


async def register_one(engines, w, cfg: EventConfig, spec: NewRegistration, name: str, tag: str | None,
                       actor: str, at: dt.datetime) -> tuple[Registration, str, AuditEntry]:
    """Validate and insert one registration inside the locked write ``w`` (``name`` and ``tag``
    already cleaned); returns it, its entrant token (shown once) and its audit entry.

    Raises ``StageError`` (409) after the launch, the start or the close of check-in;
    ``InvalidSettings`` (422) for a seed outside 1..100000, a roster that breaks the event's rules, or
    a name already registered."""
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
