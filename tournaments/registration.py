"""Registration rules, as pure functions over plain records: rosters, capacity, waitlist, check-in.

Statuses of an entrant: ``pending`` (awaits the organiser's approval), ``registered`` (has a place),
``waitlisted`` (queued for a place), ``withdrawn``, ``rejected``, ``no_show`` (had a place, did not
check in). Rules chosen:
  * Places go in order of ``queued_at`` (the time of registration, or of approval when the event
    needs approval); the waitlist is promoted in that order whenever a place frees up.
  * A team's starters (members not marked ``substitute``) number ``roster_min``..``roster_max``,
    its substitutes at most ``substitutes``; a player entrant has at most one member (itself).
  * Check-in: while the window is open, registered and waitlisted entrants may check in. When it
    closes, registered entrants who did not check in become ``no_show`` and the freed places go to
    checked-in waitlisted entrants, in order. After that, only checked-in entrants are promoted.
  * ``capacity`` None means no limit (nobody is ever waitlisted).
  * Sign-up is closed unless the organiser opens it (``open_registration``), optionally for a window
    ``[registration_opens_at, registration_closes_at)``; the organiser may always register entrants.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from .errors import InvalidSettings

Status = Literal["pending", "registered", "waitlisted", "withdrawn", "rejected", "no_show"]
ACTIVE = ("pending", "registered", "waitlisted")
MAX_CAPACITY = 100_000  # as many entrants as seeds can number (`register_one`: seed 1..100000); fits `integer`


class Member(msgspec.Struct, forbid_unknown_fields=True):
    """One roster member; ``player_id`` is the telemetry player id (``ingest.identity.player_id``)."""

    name: str
    player_id: str | None = None
    substitute: bool = False


class EventConfig(msgspec.Struct):
    """The event around a bracket (row of ``tournament_events``)."""

    kind: Literal["player", "team"] = "player"
    capacity: int | None = None
    roster_min: int = 1
    roster_max: int = 1
    substitutes: int = 0
    approval: bool = False
    open_registration: bool = False
    starts_at: dt.datetime | None = None
    timezone: str = "UTC"
    checkin_minutes: int = 0
    checkin_extra_minutes: int = 0
    round_minutes: int | None = None
    checkin_closed_at: dt.datetime | None = None
    seeding: str | None = None
    random_seed: int | None = None
    launched_at: dt.datetime | None = None
    registration_opens_at: dt.datetime | None = None
    registration_closes_at: dt.datetime | None = None


class Registration(msgspec.Struct):
    """One entrant (row of ``tournament_registrations``); ``id`` becomes its bracket participant id."""

    id: int
    name: str
    tag: str | None
    seed: int | None
    members: list[Member]
    status: Status
    queued_at: dt.datetime
    checked_in_at: dt.datetime | None = None


def check_config(cfg: EventConfig) -> None:
    """Raises ``InvalidSettings`` (422) for a config that cannot be."""
    if cfg.capacity is not None and not 2 <= cfg.capacity <= MAX_CAPACITY:
        raise InvalidSettings(f"capacity must be 2..{MAX_CAPACITY} (or null for no limit)")
    if not 1 <= cfg.roster_min <= cfg.roster_max <= 100:
        raise InvalidSettings("need 1 <= roster_min <= roster_max <= 100")
    if cfg.kind == "player" and cfg.roster_max != 1:
        raise InvalidSettings("a player event has rosters of exactly 1 (roster_min = roster_max = 1)")
    if not 0 <= cfg.substitutes <= 50:
        raise InvalidSettings("substitutes must be 0..50")
    if cfg.kind == "player" and cfg.substitutes:
        raise InvalidSettings("a player event has no substitutes")
    if not 0 <= cfg.checkin_minutes <= 7 * 24 * 60 or not 0 <= cfg.checkin_extra_minutes <= 7 * 24 * 60:
        raise InvalidSettings("checkin_minutes and extensions must be 0..10080")
    if cfg.checkin_minutes and cfg.starts_at is None:
        raise InvalidSettings("a check-in window needs starts_at")
    if cfg.round_minutes is not None and not 1 <= cfg.round_minutes <= 24 * 60:
        raise InvalidSettings("round_minutes must be 1..1440")
    if (cfg.registration_opens_at is not None and cfg.registration_closes_at is not None
            and cfg.registration_closes_at <= cfg.registration_opens_at):
        raise InvalidSettings("registration must close after it opens")


def registration_window(cfg: EventConfig, now: dt.datetime) -> str | None:
    """None while the public may sign up at ``now``, else why not (closed, not open yet, over)."""
    if not cfg.open_registration:
        return "registration is closed to the public; the organiser registers entrants"
    if cfg.registration_opens_at is not None and now < cfg.registration_opens_at:
        return f"registration opens at {cfg.registration_opens_at.isoformat()}"
    if cfg.registration_closes_at is not None and now >= cfg.registration_closes_at:
        return f"registration closed at {cfg.registration_closes_at.isoformat()}"
    return None


def check_roster(cfg: EventConfig, members: list[Member]) -> None:
    """Raises ``InvalidSettings`` (422) unless ``members`` fits the event's roster rules."""
    starters = [m for m in members if not m.substitute]
    subs = [m for m in members if m.substitute]
    if cfg.kind == "player":
        if len(members) > 1 or subs:
            raise InvalidSettings("a player entrant has at most one member (itself), no substitutes")
        return
    if not cfg.roster_min <= len(starters) <= cfg.roster_max:
        raise InvalidSettings(f"a team needs {cfg.roster_min}..{cfg.roster_max} starters, got {len(starters)}")
    if len(subs) > cfg.substitutes:
        raise InvalidSettings(f"at most {cfg.substitutes} substitutes, got {len(subs)}")
    names = [m.name.strip().lower() for m in members]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise InvalidSettings("member names must be non-empty and distinct")


def _ordered(regs: list[Registration], status: str) -> list[Registration]:
    return sorted((r for r in regs if r.status == status), key=lambda r: (r.queued_at, r.id))


def place_for_new(cfg: EventConfig, regs: list[Registration]) -> Status:
    """``registered`` while a place is free, else ``waitlisted`` (approval events use ``pending`` first)."""
    taken = sum(1 for r in regs if r.status == "registered")
    return "registered" if cfg.capacity is None or taken < cfg.capacity else "waitlisted"


def promotions(cfg: EventConfig, regs: list[Registration]) -> list[int]:
    """Ids of waitlisted entrants that get the free places now, in waitlist order. After check-in
    has closed only checked-in entrants qualify."""
    taken = sum(1 for r in regs if r.status == "registered")
    free = None if cfg.capacity is None else cfg.capacity - taken
    out = []
    for r in _ordered(regs, "waitlisted"):
        if free is not None and free <= 0:
            break
        if cfg.checkin_closed_at is not None and r.checked_in_at is None:
            continue
        out.append(r.id)
        if free is not None:
            free -= 1
    return out


def close_checkin(cfg: EventConfig, regs: list[Registration]) -> tuple[list[int], list[int]]:
    """(no-show ids, promoted ids) when check-in closes: registered entrants without a check-in lose
    their place, which goes to checked-in waitlisted entrants in order. Without a check-in window
    (``checkin_minutes`` 0) nobody is a no-show."""
    if cfg.checkin_minutes <= 0:
        return [], []
    no_shows = [r.id for r in _ordered(regs, "registered") if r.checked_in_at is None]
    after = [msgspec.structs.replace(r, status="no_show") if r.id in no_shows else r for r in regs]
    closed = msgspec.structs.replace(cfg, checkin_closed_at=cfg.checkin_closed_at or dt.datetime.now(dt.timezone.utc))
    return no_shows, promotions(closed, after)


def entrants(regs: list[Registration]) -> list[Registration]:
    """Those who enter the bracket: registered, in order of registration."""
    return _ordered(regs, "registered")


def seed_order(regs: list[Registration]) -> list[Registration]:
    """Entrants with a place (``registered``) in seed order: the organiser's seeds ascending, then
    the unseeded in order of registration -- the order ``seeds.assign`` gives with ``manual``."""
    return sorted(entrants(regs), key=lambda r: (r.seed is None, r.seed or 0))


def reseed(regs: list[Registration], registration_id: int, seed: int) -> dict[int, int]:
    """Challonge's rule for moving one entrant: ``registration_id`` (registered) takes seed ``seed``
    (1..n) and the others keep their order around it. Returns the new seed of every registered
    entrant (all explicit, 1..n). Raises ``InvalidSettings`` (422) for a seed outside 1..n."""
    order = [r.id for r in seed_order(regs)]
    if not 1 <= seed <= len(order):
        raise InvalidSettings(f"seed must be 1..{len(order)} (the entrants with a place)")
    order.remove(registration_id)
    order.insert(seed - 1, registration_id)
    return {rid: i + 1 for i, rid in enumerate(order)}


def seed_taken(regs: list[Registration], seed: int | None, other_than: int | None = None) -> bool:
    """Whether an active entrant other than ``other_than`` already holds the organiser's seed ``seed``."""
    return seed is not None and any(r.seed == seed and r.status in ACTIVE and r.id != other_than for r in regs)
