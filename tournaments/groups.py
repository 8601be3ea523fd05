"""Group stage (round robin per group) feeding a single elimination playoff.

Used by the ``round_robin`` format when ``groups > 1`` or ``advance_per_group > 0``. Settings:
  * ``groups``             -- number of groups (each needs at least 2 participants);
  * ``group_distribution`` -- ``snake`` (default) or ``stride``, see ``seeding.distribute``;
  * ``advance_per_group``  -- how many of each group reach the playoff (0: no playoff);
  * ``cycles``, ``best_of`` -- as for round robin; ``third_place`` applies to the playoff;
  * ``points``, ``tiebreaks`` -- rank the groups (see ``standings``).

The playoff is built as soon as the last group match is decided. Its seeds go by group rank,
then group number (A1, B1, C1, D1, A2, B2, ...), which with the standard ordering keeps two
participants of the same group apart in the first playoff round whenever two advance per group.
In playoff matches ``Opponent.seed`` is the playoff seed (1 = best qualifier).
A correction in a group that changes a winner removes a playoff nobody has started (it is rebuilt
when the groups are complete again) and needs ``force`` once a playoff match has started.
"""

from __future__ import annotations

import msgspec

from .elimination import build_single
from .model import Match, Tournament, effective_seeds, next_match_id, ranked_participants
from .progress import settle
from .round_robin import build as build_round_robin
from .seeding import distribute
from .standings import rank_table

PLAYOFF_BRACKETS = ("winners", "third_place")


def uses_groups(t: Tournament) -> bool:
    """True when a round robin is split into groups or feeds a playoff."""
    return t.format == "round_robin" and (t.settings.groups > 1 or t.settings.advance_per_group > 0)


def build_groups(t: Tournament) -> list[Match]:
    """Round robin matches of every group (bracket ``group``, ``group`` numbered from 1)."""
    seeds = effective_seeds(t)
    players = [p.id for p in ranked_participants(t)]
    matches: list[Match] = []
    for g, members in enumerate(distribute(players, t.settings.groups, t.settings.group_distribution), start=1):
        matches += build_round_robin(members, seeds, t.settings.best_of, t.settings.cycles,
                                     next_match_id(t) + len(matches), bracket="group", group=g)
    return matches


def group_matches(t: Tournament) -> list[Match]:
    """Matches of the group stage."""
    return [m for m in t.matches if m.bracket == "group"]


def playoff_matches(t: Tournament) -> list[Match]:
    """Matches of the playoff (empty until every group match is decided)."""
    return [m for m in t.matches if m.bracket in PLAYOFF_BRACKETS]


def qualifiers(t: Tournament) -> list[int]:
    """Participants reaching the playoff, in playoff seed order (group rank, then group number)."""
    by_group: dict[int, list[Match]] = {}
    for m in group_matches(t):
        by_group.setdefault(m.group or 1, []).append(m)
    seeds = effective_seeds(t)
    tables = {}
    for g, ms in by_group.items():
        members = sorted({o.participant_id for m in ms for o in (m.opponent1, m.opponent2)
                          if o is not None and o.participant_id is not None}, key=lambda p: seeds[p])
        dq = {p.id for p in t.participants if p.disqualified}
        tables[g] = [p for p, _, _ in rank_table(t, ms, members) if p not in dq]
    out = []
    for rank in range(t.settings.advance_per_group):
        for g in sorted(tables):
            if rank < len(tables[g]):
                out.append(tables[g][rank])
    return out


def maybe_build_playoff(t: Tournament) -> None:
    """Append the playoff once every group match is decided (mutates ``t``)."""
    if t.settings.advance_per_group <= 0 or playoff_matches(t):
        return
    if any(m.status not in ("completed", "not_needed") for m in group_matches(t)):
        return
    entrants = qualifiers(t)
    if len(entrants) < 2:
        return
    playoff_settings = msgspec.structs.replace(t.settings, seed_ordering="inner_outer")
    t.matches += build_single(entrants, playoff_settings, next_match_id(t))
    settle(t)


def drop_playoff(t: Tournament) -> None:
    """Remove the playoff (mutates ``t``); a group correction changed who qualifies."""
    t.matches = [m for m in t.matches if m.bracket not in PLAYOFF_BRACKETS]
