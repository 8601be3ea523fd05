"""Creating a tournament, entering participants, starting it, and its overall status.

Settings per format (unknown keys, and keys a format does not use, raise ``InvalidSettings``):

  ================== ==========================================================================
  single_elimination best_of, seed_ordering, third_place
  double_elimination best_of, seed_ordering, grand_final, drop_ordering
  round_robin        best_of, cycles, points, tiebreaks, groups, group_distribution,
                     advance_per_group, third_place (playoff)
  swiss              best_of, rounds, points, tiebreaks
  valve_swiss        best_of, decider_best_of, wins_to_advance, losses_to_eliminate
  ================== ==========================================================================

Meanings and defaults are in the module docstrings of ``elimination``, ``round_robin``,
``groups``, ``swiss`` and ``standings``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from . import elimination, groups, round_robin, swiss
from .audit import diff
from .errors import InvalidSettings, StageError
from .model import FORMATS, AuditEntry, Participant, Settings, Tournament, clone, effective_seeds, ranked_participants
from .progress import settle
from .elimination import DROP_PRESET_NAMES
from .seeding import ORDERINGS
from .standings import check_tiebreaks

COMMON = {"best_of"}
SETTINGS_BY_FORMAT: dict[str, set[str]] = {
    "single_elimination": COMMON | {"seed_ordering", "third_place"},
    "double_elimination": COMMON | {"seed_ordering", "grand_final", "drop_ordering"},
    "round_robin": COMMON | {"cycles", "points", "tiebreaks", "groups", "group_distribution",
                             "advance_per_group", "third_place"},
    "swiss": COMMON | {"rounds", "points", "tiebreaks"},
    "valve_swiss": COMMON | {"decider_best_of", "wins_to_advance", "losses_to_eliminate"},
}


def make_settings(format: str, raw: dict[str, Any] | None) -> Settings:
    """Validated ``Settings`` for ``format`` from the API's ``settings`` object.

    Raises ``InvalidSettings`` (422) naming the offending key or value.
    """
    if format not in FORMATS:
        raise InvalidSettings(f"unknown format {format!r}; expected one of {list(FORMATS)}")
    raw = dict(raw or {})
    extra = sorted(set(raw) - SETTINGS_BY_FORMAT[format])
    if extra:
        raise InvalidSettings(f"settings {extra} do not apply to {format}; allowed: {sorted(SETTINGS_BY_FORMAT[format])}")
    try:
        s = msgspec.convert(raw, Settings)
    except msgspec.ValidationError as exc:
        raise InvalidSettings(f"invalid settings: {exc}") from None
    if s.best_of not in (1, 3, 5):
        raise InvalidSettings("best_of must be 1, 3 or 5")
    if s.decider_best_of not in (None, 1, 3, 5):
        raise InvalidSettings("decider_best_of must be 1, 3 or 5")
    if s.seed_ordering not in ORDERINGS:
        raise InvalidSettings(f"unknown seed_ordering {s.seed_ordering!r}; expected one of {sorted(ORDERINGS)}")
    if isinstance(s.drop_ordering, str):
        if s.drop_ordering not in DROP_PRESET_NAMES:
            raise InvalidSettings(f"unknown drop_ordering {s.drop_ordering!r}; expected one of {list(DROP_PRESET_NAMES)}"
                                  " or a list of orderings")
    elif not 1 <= len(s.drop_ordering) <= 16 or any(o not in ORDERINGS for o in s.drop_ordering):
        raise InvalidSettings(f"drop_ordering must list 1..16 orderings of {sorted(ORDERINGS)}")
    if s.cycles not in (1, 2):
        raise InvalidSettings("cycles must be 1 or 2")
    if s.groups < 1 or s.advance_per_group < 0:
        raise InvalidSettings("groups must be >= 1 and advance_per_group >= 0")
    if s.rounds is not None and s.rounds < 1:
        raise InvalidSettings("rounds must be >= 1")
    if s.wins_to_advance < 1 or s.losses_to_eliminate < 1:
        raise InvalidSettings("wins_to_advance and losses_to_eliminate must be >= 1")
    if s.points.win < s.points.draw or s.points.draw < s.points.loss:
        raise InvalidSettings("points must satisfy win >= draw >= loss")
    if s.tiebreaks is not None:
        check_tiebreaks(s.tiebreaks)
    return s


def new_tournament(format: str, settings: dict[str, Any] | None = None) -> Tournament:
    """An empty tournament (no participants, not started). Raises ``InvalidSettings``."""
    return Tournament(format=format, settings=make_settings(format, settings))  # type: ignore[arg-type]


def add_participant(t: Tournament, name: str, seed: int | None = None, *, actor: str, at: dt.datetime,
                    participant_id: int | None = None) -> tuple[Tournament, Participant, list[AuditEntry]]:
    """Enter a participant before the start. ``participant_id`` defaults to the next free integer.

    Raises ``StageError`` (409) after the start, ``InvalidSettings`` (422) for an empty name, a seed
    below 1, or a seed or id already taken.
    """
    if t.matches:
        raise StageError("participants cannot join after the start")
    if not name.strip():
        raise InvalidSettings("a participant needs a name")
    if seed is not None and (seed < 1 or any(p.seed == seed for p in t.participants)):
        raise InvalidSettings(f"seed {seed} is below 1 or already taken")
    pid = participant_id if participant_id is not None else max((p.id for p in t.participants), default=0) + 1
    if any(p.id == pid for p in t.participants):
        raise InvalidSettings(f"participant id {pid} already exists")
    new = clone(t)
    p = Participant(id=pid, name=name, seed=seed)
    new.participants.append(p)
    return new, p, diff(t, new, actor=actor, at=at, action="add_participant")


def _check_start(t: Tournament) -> None:
    n = len(t.participants)
    s = t.settings
    if n < 2:
        raise InvalidSettings("a tournament needs at least 2 participants")
    if t.format == "swiss" and s.rounds is not None and s.rounds > n - 1:
        raise InvalidSettings(f"{n} participants allow at most {n - 1} Swiss rounds without rematches")
    if groups.uses_groups(t):
        if n < 2 * s.groups:
            raise InvalidSettings(f"{s.groups} groups need at least {2 * s.groups} participants")
        smallest = n // s.groups
        if s.advance_per_group > smallest:
            raise InvalidSettings(f"advance_per_group {s.advance_per_group} exceeds the smallest group ({smallest})")
        if 0 < s.advance_per_group * s.groups < 2:
            raise InvalidSettings("the playoff needs at least 2 qualifiers")


def start(t: Tournament, *, actor: str, at: dt.datetime) -> tuple[Tournament, list[AuditEntry]]:
    """Build the matches (and resolve byes); Swiss formats get round 1 only.

    Raises ``StageError`` (409) when already started, ``InvalidSettings`` (422) when the
    participants do not fit the settings.
    """
    if t.matches:
        raise StageError("the tournament has already been started")
    _check_start(t)
    new = clone(t)
    players = [p.id for p in ranked_participants(new)]
    seeds = effective_seeds(new)
    s = new.settings
    if new.format == "single_elimination":
        new.matches = elimination.build_single(players, s)
    elif new.format == "double_elimination":
        new.matches = elimination.build_double(players, s)
    elif groups.uses_groups(new):
        new.matches = groups.build_groups(new)
    elif new.format == "round_robin":
        new.matches = round_robin.build(players, seeds, s.best_of, s.cycles, 0)
    else:
        swiss.add_round(new)
    settle(new)
    return new, diff(t, new, actor=actor, at=at, action="start")


def status(t: Tournament) -> Literal["setup", "running", "completed"]:
    """``setup`` before the start, ``completed`` once nothing is left to play, else ``running``."""
    if not t.matches:
        return "setup"
    if any(m.status not in ("completed", "not_needed") for m in t.matches):
        return "running"
    if t.format in ("swiss", "valve_swiss") and not swiss.is_finished(t):
        return "running"
    if (groups.uses_groups(t) and t.settings.advance_per_group > 0 and not groups.playoff_matches(t)
            and len(groups.qualifiers(t)) >= 2):
        return "running"
    return "completed"
