"""Plain records of a tournament (after brackets-manager.js: records here, operations elsewhere).

A ``Tournament`` is the whole state an operation needs: format, settings, participants, matches.
Operations never mutate their input; they return a new ``Tournament`` plus ``AuditEntry`` records,
so the store can persist both in one transaction.

Slot convention in ``Match.opponent1`` / ``opponent2``:
  * ``None``                         -- a bye (nobody will ever fill this slot);
  * ``Opponent(participant_id=None)`` -- to be decided (fed by an earlier match);
  * ``Opponent(participant_id=7)``    -- participant 7.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

Format = Literal["single_elimination", "double_elimination", "round_robin", "swiss", "valve_swiss"]
FORMATS: tuple[str, ...] = ("single_elimination", "double_elimination", "round_robin", "swiss", "valve_swiss")
Bracket = Literal["winners", "losers", "grand_final", "third_place", "round_robin", "swiss", "group"]
Status = Literal["pending", "ready", "running", "completed", "not_needed"]
Result = Literal["win", "loss", "draw"]


class Points(msgspec.Struct, forbid_unknown_fields=True):
    """Points per match result (round robin, groups, Swiss); a Swiss bye scores ``win``."""

    win: int = 3
    draw: int = 1
    loss: int = 0


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    """Every setting of every format; ``lifecycle.make_settings`` rejects keys a format does not use.

    See ``lifecycle.SETTINGS_BY_FORMAT`` for which key applies where and the module docstrings for
    their meaning.
    """

    best_of: int = 1
    seed_ordering: str = "inner_outer"
    drop_ordering: str | list[str] = "fragstats"
    third_place: bool = False
    grand_final: Literal["none", "simple", "double"] = "double"
    cycles: int = 1
    groups: int = 1
    group_distribution: Literal["snake", "stride"] = "snake"
    advance_per_group: int = 0
    rounds: int | None = None
    tiebreaks: list[str] | None = None
    points: Points = msgspec.field(default_factory=Points)
    wins_to_advance: int = 3
    losses_to_eliminate: int = 3
    decider_best_of: int | None = None


class Participant(msgspec.Struct):
    """An entrant; ``seed`` as given by the organiser (None: after all seeded ones, by id)."""

    id: int
    name: str
    seed: int | None = None
    disqualified: bool = False


class Opponent(msgspec.Struct):
    """One side of a match. ``seed`` is the participant's effective seed (1 = best) in this tournament."""

    participant_id: int | None = None
    seed: int | None = None
    score: int | None = None
    result: Result | None = None
    forfeit: bool = False


class Game(msgspec.Struct):
    """One game of a best-of series; ``scores`` is ``[side1, side2]`` once played."""

    number: int
    status: Literal["pending", "completed", "not_needed"] = "pending"
    scores: list[int] | None = None


class Link(msgspec.Struct):
    """Where a match sends its winner or loser: ``slot`` 1 or 2 of match ``match_id``."""

    match_id: int
    slot: int


class Match(msgspec.Struct):
    """A match record; serialises to the API's match JSON (``winner_to``/``loser_to`` are extra wiring)."""

    id: int
    bracket: Bracket
    group: int | None
    round: int
    number: int
    status: Status
    best_of: int
    opponent1: Opponent | None
    opponent2: Opponent | None
    games: list[Game] = msgspec.field(default_factory=list)
    winner_to: Link | None = None
    loser_to: Link | None = None


class Tournament(msgspec.Struct):
    """The whole state operations work on. ``matches`` is empty until the tournament is started."""

    format: Format
    settings: Settings
    participants: list[Participant] = msgspec.field(default_factory=list)
    matches: list[Match] = msgspec.field(default_factory=list)


class AuditEntry(msgspec.Struct):
    """One change: who, when, what, and the record before and after (None when created/removed).
    ``forced``: part of a correction or reset that reset matches already started (``force``)."""

    actor: str
    at: dt.datetime
    action: str
    match_id: int | None
    participant_id: int | None
    before: dict | None
    after: dict | None
    forced: bool = False


class Standing(msgspec.Struct):
    """One row of standings. ``place`` is a string so shared places read "5-8"; unique places "1"."""

    participant_id: int
    name: str
    place: str
    wins: int
    losses: int
    draws: int
    points: float
    tiebreaks: dict[str, float]
    disqualified: bool


def clone(t: Tournament) -> Tournament:
    """A deep copy, so operations can work on their own state and leave the caller's untouched."""
    return msgspec.convert(msgspec.to_builtins(t), Tournament)


def ranked_participants(t: Tournament) -> list[Participant]:
    """Participants in seed order: explicit seeds first (ascending), then the rest by id."""
    return sorted(t.participants, key=lambda p: (p.seed is None, p.seed or 0, p.id))


def effective_seeds(t: Tournament) -> dict[int, int]:
    """participant id -> effective seed 1..n (see ``ranked_participants``)."""
    return {p.id: i + 1 for i, p in enumerate(ranked_participants(t))}


def match_by_id(t: Tournament) -> dict[int, Match]:
    """Index of the matches by id (the records themselves, not copies)."""
    return {m.id: m for m in t.matches}


def next_match_id(t: Tournament) -> int:
    """The id for a new match: one past the largest in this state (ids of removed Swiss rounds or
    playoffs are given out again, so the store updates those rows)."""
    return max((m.id for m in t.matches), default=-1) + 1
