"""Import and export: the bracket as JSON, Challonge-style ``scores_csv``, participants from CSV.

``scores_csv`` (Challonge's match field): comma-separated game scores, each ``<opponent1>-<opponent2>``,
e.g. ``"3-1,3-2"``. A best-of-1 takes one game (its score); a best-of-3/5 takes the games played.
Challonge allows negative scores; the bracket engine does not (``InvalidResult``).

Participants CSV: a header row, then one entrant a row. Columns (any order, names case-insensitive):
``name`` (required), ``tag``, ``seed``, ``player_id`` (a player entrant's telemetry id), ``members``
(``;``-separated ``name`` or ``name=player_id``), ``substitutes`` (same form). UTF-8, RFC 4180 quoting.
"""

from __future__ import annotations

import csv
import io
import re

import msgspec

from fragstats.params import decimal_digits

from . import lifecycle, results, swiss
from .errors import InvalidResult, InvalidSettings, RoundNotComplete, StageError
from .model import Match, Tournament

FORMAT_VERSION = 1
_SET = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")


def parse_scores_csv(text: str, best_of: int) -> dict:
    """``{"scores": [a, b]}`` (best-of-1) or ``{"games": [[a, b], ...]}`` for ``report_result``.
    Raises ``InvalidResult`` (422) for malformed sets, negatives, or more sets than the best-of."""
    sets = []
    for part in text.split(","):
        found = _SET.match(part)
        if not found:
            raise InvalidResult(f"scores_csv set {part!r} is not '<a>-<b>'")
        a, b = int(found.group(1)), int(found.group(2))
        if a < 0 or b < 0:
            raise InvalidResult("negative scores are not allowed")
        sets.append([a, b])
    if len(sets) > best_of:
        raise InvalidResult(f"{len(sets)} sets in a best of {best_of}")
    return {"scores": sets[0]} if best_of == 1 else {"games": sets}


def format_scores_csv(m: Match) -> str:
    """A match's ``scores_csv``: its played games, else its two scores, else ``""``."""
    played = [g.scores for g in m.games if g.status == "completed" and g.scores]
    if played and m.best_of > 1:
        return ",".join(f"{a}-{b}" for a, b in played)
    o1, o2 = m.opponent1, m.opponent2
    if o1 is not None and o2 is not None and o1.score is not None and o2.score is not None:
        return f"{o1.score}-{o2.score}"
    return ""


def bracket_json(name: str, t: Tournament, provenance: dict[int, str | None]) -> dict:
    """The export: ``{"format_version": 1, "name", "format", "settings", "participants": [{"id", "name",
    "seed", "disqualified"}], "matches": [match + "scores_csv", "provenance"]}``."""
    return {"format_version": FORMAT_VERSION, "name": name, "format": t.format,
            "settings": msgspec.to_builtins(t.settings),
            "participants": [msgspec.to_builtins(p) for p in t.participants],
            "matches": [{**msgspec.to_builtins(m), "scores_csv": format_scores_csv(m),
                         "provenance": provenance.get(m.id)} for m in sorted(t.matches, key=lambda m: m.id)]}


def _side(m: dict, n: int) -> int | None:
    o = m.get(f"opponent{n}")
    return None if o is None else o.get("participant_id")


def _report_args(m: dict) -> dict:
    o1, o2 = m.get("opponent1") or {}, m.get("opponent2") or {}
    if o1.get("forfeit") or o2.get("forfeit"):
        return {"forfeit": 1 if o1.get("forfeit") else 2}
    games = [g["scores"] for g in m.get("games", []) if g.get("status") == "completed" and g.get("scores")]
    if m.get("best_of", 1) > 1 and games:
        return {"games": games}
    return {"scores": [o1.get("score"), o2.get("score")]}


def rebuild(doc: dict, *, actor: str, at) -> Tournament:
    """A tournament state rebuilt from an export: same settings and participants (same ids and
    seeds), started when the export was, every completed result replayed in match order (Swiss
    rounds paired again as they complete), disqualifications applied last. Raises
    ``InvalidSettings`` / ``InvalidResult`` when the document does not replay (e.g. hand-edited
    pairings the engine would not make)."""
    if doc.get("format_version") != FORMAT_VERSION:
        raise InvalidSettings(f"format_version must be {FORMAT_VERSION}")
    settings = dict(doc.get("settings") or {})
    if doc.get("format") == "double_elimination":
        settings.setdefault("drop_ordering", "block_overlap")  # exported before drop orderings were a setting
    t = lifecycle.new_tournament(doc.get("format", ""), {})
    allowed = lifecycle.SETTINGS_BY_FORMAT[t.format]
    t = lifecycle.new_tournament(t.format, {k: v for k, v in settings.items() if k in allowed and v is not None})
    for p in doc.get("participants", []):
        t, _, _ = lifecycle.add_participant(t, p["name"], p.get("seed"), actor=actor, at=at, participant_id=p["id"])
    exported = sorted(doc.get("matches", []), key=lambda m: m["id"])
    if not exported:
        return t
    t, _ = lifecycle.start(t, actor=actor, at=at)
    todo = {m["id"]: m for m in exported if m.get("status") == "completed"}
    for _ in range(len(exported) + 2):
        progressed = False
        for mid in sorted(todo):
            mine = next((x for x in t.matches if x.id == mid), None)
            want = todo[mid]
            if mine is None or mine.status not in ("ready", "running"):
                continue
            if (_side(want, 1), _side(want, 2)) != (mine.opponent1 and mine.opponent1.participant_id,
                                                   mine.opponent2 and mine.opponent2.participant_id):
                raise InvalidSettings(f"match {mid} of the export has other opponents than the rebuilt bracket")
            t, _ = results.report_result(t, mid, actor=actor, at=at, **_report_args(want))
            del todo[mid]
            progressed = True
        if t.format in ("swiss", "valve_swiss") and any(m["round"] > swiss.current_round(t) for m in exported):
            try:
                t, entries = swiss.pair_round(t, actor=actor, at=at)
                progressed = progressed or bool(entries)
            except RoundNotComplete:  # the current round's results are replayed first
                pass
            except StageError as exc:  # the export has rounds the stage cannot have
                raise InvalidSettings(f"the export's Swiss rounds do not replay: {exc}") from exc
        if not todo or not progressed:
            break
    if todo:
        raise InvalidSettings(f"matches {sorted(todo)} of the export could not be replayed")
    for p in doc.get("participants", []):
        if p.get("disqualified"):
            t, _ = results.disqualify(t, p["id"], actor=actor, at=at)
    return t


def parse_participants_csv(text: str) -> list[dict]:
    """Rows of a participants CSV as registration bodies ``{"name", "tag", "seed", "player_id",
    "members": [{"name", "player_id", "substitute"}]}``. Raises ``InvalidSettings`` (422) naming the
    line for a missing ``name`` column or value, a seed that is not a positive integer, or text the
    ``csv`` module cannot read (e.g. a bare carriage return inside a field)."""
    # newline="": the csv module reads line ends itself (its documented way to open a file).
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _participant_rows(reader)
    except csv.Error as exc:
        raise InvalidSettings(f"line {reader.line_num}: not readable as CSV: {exc}") from None


def _participant_rows(reader: csv.DictReader) -> list[dict]:
    if reader.fieldnames is None or "name" not in [f.strip().lower() for f in reader.fieldnames]:
        raise InvalidSettings("the CSV needs a header row with a 'name' column")
    out = []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not row.get("name"):
            raise InvalidSettings(f"line {line}: name is empty")
        seed = row.get("seed") or None
        # Few enough digits for int() and the seed column.
        if seed is not None and not (decimal_digits(seed) and len(seed) <= 9 and int(seed) >= 1):
            raise InvalidSettings(f"line {line}: seed must be a positive integer of at most 9 digits")
        members = []
        for column, sub in (("members", False), ("substitutes", True)):
            for item in filter(None, (x.strip() for x in row.get(column, "").split(";"))):
                name, _, pid = item.partition("=")
                members.append({"name": name.strip(), "player_id": pid.strip() or None, "substitute": sub})
        out.append({"name": row["name"], "tag": row.get("tag") or None, "seed": int(seed) if seed else None,
                    "player_id": row.get("player_id") or None, "members": members or None})
    return out
