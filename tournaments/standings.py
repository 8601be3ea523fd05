"""Standings: placements for elimination brackets, points and tie-breaks for tables.

Settings used: ``points`` (``{"win", "draw", "loss"}``, default 3/1/0; a Swiss bye counts as a
win) and ``tiebreaks``, an ordered chain out of ``TIEBREAKS`` (defaults in ``DEFAULT_TIEBREAKS``).
Every value of the chain is reported in ``Standing.tiebreaks``; the final fallback is the seed.

Tie-breaks (opponents' points as in FIDE Handbook C.02 "Tie-break regulations"; a bye has no
opponent and adds nothing):
  * ``head_to_head``     -- points won in matches against participants on the same points;
  * ``buchholz``         -- sum of the opponents' points;
  * ``buchholz_cut1``    -- Buchholz without the lowest opponent;
  * ``median_buchholz``  -- Buchholz without the highest and the lowest (with >= 3 opponents);
  * ``sonneborn_berger`` -- points of beaten opponents plus half the points of drawn ones;
  * ``game_difference``  -- own score minus opponents' score over scored matches.

Elimination placements: participants knocked out at the same stage share a range ("5-8"); the
range counts real participants, so 6 entrants give "5-6" for the first-round losers. Participants
still in the running share the top range. In double elimination the stage is the losers'-bracket
round of the second loss, then the grand final. ``valve_swiss`` ranks by record (3-0, 3-1, 3-2,
then 2-3, 1-3, 0-3) with a shared range per record, as Valve publishes Major placements.
Disqualified participants are always ranked after everybody else (rule chosen here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import InvalidSettings
from .model import Match, Settings, Standing, Tournament, effective_seeds

TIEBREAKS = ("head_to_head", "buchholz", "buchholz_cut1", "median_buchholz", "sonneborn_berger", "game_difference")
DEFAULT_TIEBREAKS: dict[str, list[str]] = {
    "round_robin": ["head_to_head", "game_difference", "sonneborn_berger"],
    "swiss": ["buchholz_cut1", "buchholz", "sonneborn_berger", "head_to_head"],
    "valve_swiss": ["buchholz"],
    "single_elimination": [],
    "double_elimination": [],
}


@dataclass
class Record:
    """Counts of one participant over a set of matches."""

    wins: int = 0
    losses: int = 0
    draws: int = 0
    points: int = 0
    byes: int = 0
    game_difference: int = 0
    opponents: list[int] = field(default_factory=list)
    results: list[tuple[int, str]] = field(default_factory=list)


def check_tiebreaks(names: list[str]) -> None:
    """Raise ``InvalidSettings`` for an unknown or repeated tie-break name."""
    for name in names:
        if name not in TIEBREAKS:
            raise InvalidSettings(f"unknown tiebreak {name!r}; expected some of {list(TIEBREAKS)}")
    if len(set(names)) != len(names):
        raise InvalidSettings("a tiebreak is listed twice")


def records(t: Tournament, matches: list[Match], members: list[int] | None = None) -> dict[int, Record]:
    """Wins/losses/draws/points per participant over the completed ``matches``."""
    pts = t.settings.points
    value = {"win": pts.win, "draw": pts.draw, "loss": pts.loss}
    recs = {pid: Record() for pid in (members if members is not None else [p.id for p in t.participants])}
    for m in matches:
        if m.status != "completed":
            continue
        sides = [o for o in (m.opponent1, m.opponent2) if o is not None and o.participant_id is not None]
        for o in sides:
            rec = recs.setdefault(o.participant_id, Record())  # type: ignore[arg-type]
            res = o.result or "loss"
            rec.points += value[res]
            if res == "win":
                rec.wins += 1
            elif res == "draw":
                rec.draws += 1
            else:
                rec.losses += 1
            if len(sides) == 1:
                rec.byes += 1
                continue
            other = sides[1] if o is sides[0] else sides[0]
            rec.opponents.append(other.participant_id)  # type: ignore[arg-type]
            rec.results.append((other.participant_id, res))  # type: ignore[arg-type]
            if o.score is not None and other.score is not None:
                rec.game_difference += o.score - other.score
    return recs


def tiebreak_values(t: Tournament, recs: dict[int, Record], names: list[str]) -> dict[int, dict[str, float]]:
    """The value of every tie-break in ``names`` for every participant in ``recs``."""
    pts = t.settings.points
    value = {"win": pts.win, "draw": pts.draw, "loss": pts.loss}
    out: dict[int, dict[str, float]] = {}
    for pid, rec in recs.items():
        opp_points = sorted(recs[o].points if o in recs else 0 for o in rec.opponents)
        tb: dict[str, float] = {}
        for name in names:
            if name == "head_to_head":
                tb[name] = sum(value[res] for o, res in rec.results if o in recs and recs[o].points == rec.points)
            elif name == "buchholz":
                tb[name] = sum(opp_points)
            elif name == "buchholz_cut1":
                tb[name] = sum(opp_points[1:])
            elif name == "median_buchholz":
                tb[name] = sum(opp_points[1:-1]) if len(opp_points) >= 3 else sum(opp_points)
            elif name == "sonneborn_berger":
                tb[name] = sum(
                    (recs[o].points if o in recs else 0) * (1.0 if res == "win" else 0.5)
                    for o, res in rec.results if res != "loss"
                )
            elif name == "game_difference":
                tb[name] = rec.game_difference
        out[pid] = tb
    return out


def rank_table(t: Tournament, matches: list[Match], members: list[int]) -> list[tuple[int, Record, dict[str, float]]]:
    """``members`` ordered by points, then the tie-break chain, then seed; disqualified last."""
    names = t.settings.tiebreaks if t.settings.tiebreaks is not None else DEFAULT_TIEBREAKS[t.format]
    recs = records(t, matches, members)
    tbs = tiebreak_values(t, recs, names)
    seeds = effective_seeds(t)
    dq = {p.id for p in t.participants if p.disqualified}
    order = sorted(members, key=lambda p: (p in dq, -recs[p].points, *(-tbs[p][n] for n in names), seeds.get(p, 0)))
    return [(p, recs[p], tbs[p]) for p in order]


def _label(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def _shared_places(order: list[tuple[int, float]]) -> dict[int, str]:
    """(participant, stage) pairs, best stage first -> place label, equal stages sharing a range."""
    out: dict[int, str] = {}
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and order[j][1] == order[i][1]:
            j += 1
        for pid, _ in order[i:j]:
            out[pid] = _label(i + 1, j)
        i = j
    return out


def elimination_stages(t: Tournament, matches: list[Match]) -> dict[int, float]:
    """How far each participant got (higher is better; ``inf`` = still in the running)."""
    stage: dict[int, float] = {}

    def put(pid: int | None, value: float) -> None:
        if pid is not None:
            stage[pid] = max(stage.get(pid, -math.inf), value)

    wb_rounds = max((m.round for m in matches if m.bracket == "winners"), default=0)
    lb_rounds = max((m.round for m in matches if m.bracket == "losers"), default=0)
    has_reset = any(m.bracket == "grand_final" and m.round == 2 for m in matches)
    has_gf = any(m.bracket == "grand_final" for m in matches)
    double = t.format == "double_elimination"
    for m in matches:
        if m.status != "completed" or m.opponent1 is None or m.opponent2 is None:
            continue
        o1, o2 = m.opponent1, m.opponent2
        win, lose = (o1, o2) if o1.result == "win" else (o2, o1)
        if m.bracket == "winners":
            if not double:
                put(lose.participant_id, m.round)
                if m.round == wb_rounds:
                    put(win.participant_id, wb_rounds + 1)
            elif not has_gf and m.round == wb_rounds:
                put(win.participant_id, lb_rounds + 2)
                if lb_rounds == 0:
                    put(lose.participant_id, 1)
        elif m.bracket == "third_place":
            put(lose.participant_id, wb_rounds - 1 + 0.25)
            put(win.participant_id, wb_rounds - 1 + 0.5)
        elif m.bracket == "losers":
            put(lose.participant_id, m.round)
            if not has_gf and m.round == lb_rounds:
                put(win.participant_id, lb_rounds + 1)
        elif m.bracket == "grand_final":
            if m.round == 1 and has_reset and o2.result == "win":
                continue
            put(lose.participant_id, lb_rounds + 1)
            put(win.participant_id, lb_rounds + 2)
    return stage


def _place_labels(ranked: list[tuple[int, float]], dq: set[int]) -> tuple[dict[int, str], list[int]]:
    """Labels and order for (participant, stage) pairs; the input order breaks ties in the output."""
    ranked = sorted(ranked, key=lambda x: (x[0] in dq, -x[1]))
    return _shared_places([(p, (p in dq, s)) for p, s in ranked]), [p for p, _ in ranked]  # type: ignore[misc]


def _valve_stage(rec: Record, settings: Settings) -> float:
    if rec.wins >= settings.wins_to_advance:
        return 1000 - rec.losses
    if rec.losses >= settings.losses_to_eliminate:
        return rec.wins
    return 500 + rec.wins - rec.losses


def valve_difficulty(recs: dict[int, Record]) -> dict[int, int]:
    """Valve's Difficulty Score: sum of current wins minus losses of every opponent faced
    (CS Major Supplemental Rulebook, "Difficulty Score (Buchholz)")."""
    return {
        pid: sum(recs[o].wins - recs[o].losses for o in rec.opponents if o in recs)
        for pid, rec in recs.items()
    }


def standings(t: Tournament) -> list[Standing]:
    """Standings of the whole tournament, best first (shape: ``model.Standing``)."""
    names = {p.id: p.name for p in t.participants}
    dq = {p.id for p in t.participants if p.disqualified}
    members = [p.id for p in t.participants]
    seeds = effective_seeds(t)
    recs = records(t, t.matches, members)
    tbs: dict[int, dict[str, float]] = {p: {} for p in members}
    groups_mode = t.format == "round_robin" and (t.settings.groups > 1 or t.settings.advance_per_group > 0)
    if t.format in ("single_elimination", "double_elimination"):
        stages = elimination_stages(t, t.matches)
        ranked = [(p, stages.get(p, math.inf)) for p in sorted(members, key=lambda p: seeds[p])]
        places, order = _place_labels(ranked, dq)
    elif t.format == "valve_swiss":
        diff = valve_difficulty(recs)
        tbs = {p: {"buchholz": float(diff[p])} for p in members}
        ranked = [(p, _valve_stage(recs[p], t.settings)) for p in sorted(members, key=lambda p: (-diff[p], seeds[p]))]
        places, order = _place_labels(ranked, dq)
    elif groups_mode:
        places, order, tbs = _group_places(t, members, dq)
    else:
        table = rank_table(t, t.matches, members)
        tbs = {p: tb for p, _, tb in table}
        order = [p for p, _, _ in table]
        places = {p: str(i + 1) for i, p in enumerate(order)}
    return [
        Standing(participant_id=p, name=names[p], place=places[p], wins=recs[p].wins, losses=recs[p].losses,
                 draws=recs[p].draws, points=recs[p].points, tiebreaks=tbs.get(p, {}), disqualified=p in dq)
        for p in order
    ]


def _group_places(t: Tournament, members: list[int],
                  dq: set[int]) -> tuple[dict[int, str], list[int], dict[int, dict[str, float]]]:
    """Playoff participants by playoff stage first, then everyone else by rank in their group
    (all third-placed share a range, and so on)."""
    group_matches: dict[int, list[Match]] = {}
    group_members: dict[int, set[int]] = {}
    for m in t.matches:
        if m.bracket in ("group", "round_robin"):
            g = m.group or 1
            group_matches.setdefault(g, []).append(m)
            for o in (m.opponent1, m.opponent2):
                if o is not None and o.participant_id is not None:
                    group_members.setdefault(g, set()).add(o.participant_id)
    seeds = effective_seeds(t)
    group_rank: dict[int, int] = {}
    tbs: dict[int, dict[str, float]] = {}
    for g, ms in group_matches.items():
        table = rank_table(t, ms, sorted(group_members[g], key=lambda p: seeds[p]))
        for i, (p, _, tb) in enumerate(table):
            group_rank[p] = i
            tbs[p] = tb
    playoff = [m for m in t.matches if m.bracket in ("winners", "third_place")]
    stages = elimination_stages(t, playoff)
    in_playoff = {o.participant_id for m in playoff for o in (m.opponent1, m.opponent2)
                  if o is not None and o.participant_id is not None}
    ranked = []
    for p in sorted(members, key=lambda p: (group_rank.get(p, 999), seeds[p])):
        if p in in_playoff:
            ranked.append((p, 1000 + stages.get(p, 999)))
        else:
            ranked.append((p, -group_rank.get(p, 999)))
    places, order = _place_labels(ranked, dq)
    return places, order, tbs
