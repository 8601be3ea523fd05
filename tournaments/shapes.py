"""The JSON shapes of the tournaments API: one function per record, used by every route that shows it.

Times are ISO-8601 UTC; an event's times are `{"utc", "local", "viewer"?}` (see `tournaments.schedule`).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from . import schedule, swiss
from .model import Match, Participant, Tournament
from .registration import EventConfig, Registration
from .store import Meta

REGISTRATION_STATUSES = ("pending", "registered", "waitlisted", "withdrawn", "rejected", "no_show")


def participant_json(p: Participant) -> dict:
    """`{"id", "name", "seed", "disqualified"}`."""
    return {"id": p.id, "name": p.name, "seed": p.seed, "disqualified": p.disqualified}


def match_json(m: Match) -> dict:
    """`{"id", "bracket", "group", "round", "number", "status", "best_of", "opponent1", "opponent2",
    "games", "winner_to", "loser_to"}` (the record as it is, `tournaments.model.Match`)."""
    return msgspec.to_builtins(m)


def tournament_json(meta: Meta, t: Tournament | None = None, participants: list[Participant] | None = None) -> dict:
    """`{"id", "name", "format", "settings", "status", "owner_key_id", "created_at", "updated_at"}`, and
    with the state `t`: `"participants"` (`participants`, else the bracket's), `"matches"` (count),
    `"round"` (Swiss formats)."""
    body = {"id": meta.id, "name": meta.name, "format": meta.format, "settings": meta.settings,
            "status": meta.status, "owner_key_id": meta.owner_key_id,
            "created_at": meta.created_at.isoformat(), "updated_at": meta.updated_at.isoformat()}
    if t is not None:
        body["participants"] = [participant_json(p) for p in (t.participants if participants is None else participants)]
        body["matches"] = len(t.matches)
        if t.format in ("swiss", "valve_swiss"):
            body["round"] = swiss.current_round(t)
    return body


def registration_json(r: Registration, regs: list[Registration] | None = None) -> dict:
    """`{"id" (also the bracket participant id), "name", "tag", "seed", "members": [{"name",
    "player_id", "substitute"}], "status", "checked_in", "checked_in_at", "registered_at",
    "waitlist_position" (1-based, waitlisted only, when `regs` is given)}`."""
    position = None
    if r.status == "waitlisted" and regs is not None:
        queue = [x.id for x in sorted(regs, key=lambda x: (x.queued_at, x.id)) if x.status == "waitlisted"]
        position = queue.index(r.id) + 1
    return {"id": r.id, "name": r.name, "tag": r.tag, "seed": r.seed, "members": msgspec.to_builtins(r.members),
            "status": r.status, "checked_in": r.checked_in_at is not None,
            "checked_in_at": schedule.iso_utc(r.checked_in_at), "registered_at": schedule.iso_utc(r.queued_at),
            "waitlist_position": position}


def event_json(cfg: EventConfig, regs: list[Registration], viewer: str | None, now: dt.datetime) -> dict:
    """The event as `GET .../event` shows it: config, check-in window (`open` at `now`), counts by status."""
    window = schedule.checkin_window(cfg.starts_at, cfg.checkin_minutes, cfg.checkin_extra_minutes)
    counts = {s: sum(1 for r in regs if r.status == s) for s in REGISTRATION_STATUSES}

    def t(x: dt.datetime | None) -> dict | None:
        return schedule.times_json(x, cfg.timezone, viewer)

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
