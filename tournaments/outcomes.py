"""How a bracket match's result came about: claims, provenance and disputes.

A *claim* is one source's account of a match: ``telemetry`` (the game server, through the match
token), ``captain1`` / ``captain2`` (the entrant of opponent1 / opponent2, with its registration
token) or ``organiser``. Rules (chosen here, in the spirit of the usual "report, confirm or
dispute" flow of community ladders):

  * Claims are compared by their *series*: a best-of-1's game score, else games won per side, or
    the forfeiting side; a claim that names only the winner (no score) is compared by its winner,
    and so is every claim when one of them names only a winner. An undecided telemetry claim (a
    best-of-3 after one map) is not compared.
  * All decided claims agree -> the result stands, and its provenance is ``telemetry`` (only the
    game server said so), ``reported`` (one captain only) or ``confirmed`` (two or more sources:
    both captains, or a captain and the telemetry). The first claim is applied to the bracket at
    once; later agreeing claims only upgrade the provenance.
  * Two decided claims disagree -> a dispute opens; the bracket keeps what it had (nothing is
    applied) until the organiser resolves it.
  * The organiser's word (``resolve``) is final: provenance ``organiser``, dispute ``resolved``;
    later claims are still recorded but change nothing.
  * A match completed through the plain result route of Tournaments I, with no claim, shows
    provenance ``organiser``.
Evidence is the list of telemetry matches linked to the bracket match, each with its link in the
stats API (``/api/v1/stats/match/{match_id}``).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from . import results
from .errors import MatchNotReady, NotFound
from .model import AuditEntry, Match, Tournament
from .progress import is_real


class Claim(msgspec.Struct, omit_defaults=True):
    """One source's account: at most one of ``scores``, ``games``, ``forfeit`` (side giving up), and
    ``winner`` (1 or 2) alone or checked against them (``results.report_result``)."""

    by: str
    at: str
    scores: list[int] | None = None
    games: list[list[int]] | None = None
    forfeit: int | None = None
    winner: int | None = None


class Outcome(msgspec.Struct):
    """Row of ``tournament_match_outcomes``."""

    match_id: int
    provenance: str | None = None
    claims: dict[str, Claim] = {}
    dispute: str = "none"
    evidence: list[dict] = []
    note: str | None = None


def series(c: Claim, best_of: int) -> tuple | None:
    """The comparable result of a claim, or None while it decides nothing (too few games)."""
    if c.forfeit is not None:
        return ("forfeit", c.forfeit)
    if c.scores is None and c.games is None:
        return ("winner", c.winner) if c.winner is not None else None
    need = best_of // 2 + 1
    if c.games is not None:
        if best_of == 1:
            return tuple(c.games[0]) if c.games else None
        wins = (sum(1 for a, b in c.games if a > b), sum(1 for a, b in c.games if b > a))
        return wins if max(wins) >= need else None
    if c.scores is not None:
        if best_of > 1 and max(c.scores) < need:
            return None
        return tuple(c.scores)
    return None


def winner_of(s: tuple) -> int | None:
    """The winning side (1, 2, or None for a draw) of a ``series`` value."""
    if s[0] == "forfeit":
        return 3 - s[1]
    if s[0] == "winner":
        return s[1]
    return 1 if s[0] > s[1] else 2 if s[1] > s[0] else None


def same_result(a: tuple, b: tuple) -> bool:
    """Whether two ``series`` values agree: by winner when either names only a winner, else as a whole."""
    if "winner" in (a[0], b[0]):
        return winner_of(a) == winner_of(b)
    return a == b


def match_series(m: Match) -> tuple | None:
    """The bracket's current result of ``m`` in the same form (None when not completed)."""
    if m.status != "completed" or m.opponent1 is None or m.opponent2 is None:
        return None
    if m.opponent1.forfeit or m.opponent2.forfeit:
        return ("forfeit", 1 if m.opponent1.forfeit else 2)
    if m.opponent1.score is None or m.opponent2.score is None:
        return ("winner", 1 if m.opponent1.result == "win" else 2) if m.opponent1.result != "draw" else None
    return (m.opponent1.score, m.opponent2.score)


def reconcile(claims: dict[str, Claim], best_of: int) -> tuple[str | None, bool]:
    """(provenance, disputed) for a set of claims (see the module docstring)."""
    if "organiser" in claims:
        return "organiser", False
    decided = {k: series(c, best_of) for k, c in claims.items()}
    decided = {k: s for k, s in decided.items() if s is not None}
    values = list(decided.values())
    if any(not same_result(a, b) for a in values for b in values):
        return None, True
    if not claims:
        return None, False
    if len(decided) >= 2:
        return "confirmed", False
    basis = decided or claims  # the one decided claim, else the undecided ones (a series in progress)
    return ("telemetry" if set(basis) == {"telemetry"} else "reported"), False


def add_claim(t: Tournament, o: Outcome, source: str, claim: Claim, *, actor: str, at: dt.datetime,
              force: bool = False) -> tuple[Tournament, Outcome, list[AuditEntry]]:
    """Record ``claim`` from ``source`` and apply what follows to the bracket.

    Returns the new state, outcome and audit entries (engine changes, then a ``provenance`` or
    ``dispute_opened`` / ``dispute_resolved`` entry). Raises the engine's errors (``MatchNotReady``
    409, ``InvalidResult`` 422, ``DownstreamStarted`` 409) when the result cannot be applied; then
    nothing is recorded.
    """
    m = next((x for x in t.matches if x.id == o.match_id), None)
    if m is None:
        raise NotFound(f"match {o.match_id} does not exist in this tournament")
    if m.status not in ("ready", "running", "completed") or not is_real(m):
        raise MatchNotReady(f"match {m.id} is {m.status}; a result needs both opponents known")
    claims = {**o.claims, source: claim}
    before = {"provenance": o.provenance, "dispute": o.dispute}
    entries: list[AuditEntry] = []
    final = o.provenance == "organiser" and source != "organiser"
    if final:
        new_o = msgspec.structs.replace(o, claims=claims)
        return t, new_o, [AuditEntry(actor=actor, at=at, action="claim", match_id=o.match_id, participant_id=None,
                                     before=None, after={"source": source, "claim": msgspec.to_builtins(claim)})]
    provenance, disputed = reconcile(claims, m.best_of)
    new_t = t
    if disputed:
        dispute = "open"
        provenance = o.provenance
    else:
        dispute = "resolved" if o.dispute != "none" else "none"
        wanted, current = series(claim, m.best_of), match_series(m)
        if source == "organiser" or (wanted is not None and (current is None or not same_result(wanted, current))) \
                or (wanted is None and m.status in ("ready", "running")):
            new_t, engine_entries = results.report_result(
                t, o.match_id, scores=claim.scores, games=claim.games, forfeit=claim.forfeit, winner=claim.winner,
                force=force, actor=actor, at=at)
            entries += engine_entries
    new_o = msgspec.structs.replace(o, claims=claims, provenance=provenance, dispute=dispute, note=None)
    after = {"provenance": new_o.provenance, "dispute": new_o.dispute, "source": source,
             "claim": msgspec.to_builtins(claim)}
    action = ("dispute_opened" if dispute == "open" and o.dispute != "open"
              else "dispute_resolved" if dispute == "resolved" and o.dispute == "open" else "provenance")
    entries.append(AuditEntry(actor=actor, at=at, action=action, match_id=o.match_id, participant_id=None,
                              before=before, after=after))
    return new_t, new_o, entries


# --- storage -----------------------------------------------------------------------------------

_claims = msgspec.json.Decoder(dict[str, Claim]).decode
_any = msgspec.json.Decoder().decode
_enc = msgspec.json.encode


async def load(conn, tournament_id: int, match_id: int) -> Outcome:
    """The outcome row (an empty one when there is none yet)."""
    row = await conn.fetchrow("SELECT provenance, claims, dispute, evidence, note FROM tournament_match_outcomes"
                              " WHERE tournament_id = $1 AND match_id = $2", tournament_id, match_id)
    if row is None:
        return Outcome(match_id=match_id)
    return Outcome(match_id=match_id, provenance=row["provenance"], claims=_claims(row["claims"]),
                   dispute=row["dispute"], evidence=_any(row["evidence"]), note=row["note"])


async def load_all(conn, tournament_id: int) -> dict[int, Outcome]:
    """Every outcome row of the tournament by match id."""
    rows = await conn.fetch("SELECT match_id, provenance, claims, dispute, evidence, note"
                            " FROM tournament_match_outcomes WHERE tournament_id = $1", tournament_id)
    return {r["match_id"]: Outcome(match_id=r["match_id"], provenance=r["provenance"], claims=_claims(r["claims"]),
                                   dispute=r["dispute"], evidence=_any(r["evidence"]), note=r["note"]) for r in rows}


async def save(conn, tournament_id: int, o: Outcome, at: dt.datetime) -> None:
    """Insert or replace the outcome row."""
    await conn.execute(
        "INSERT INTO tournament_match_outcomes (tournament_id, match_id, provenance, claims, dispute, evidence, note,"
        " updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7, $8) ON CONFLICT (tournament_id, match_id)"
        " DO UPDATE SET provenance = EXCLUDED.provenance, claims = EXCLUDED.claims, dispute = EXCLUDED.dispute,"
        " evidence = EXCLUDED.evidence, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at",
        tournament_id, o.match_id, o.provenance, _enc(o.claims).decode(), o.dispute, _enc(o.evidence).decode(),
        o.note, at)


async def clear(conn, tournament_id: int, match_id: int) -> None:
    """Forget the claims, provenance, dispute and note of a match whose result was taken back (its
    telemetry evidence stays)."""
    await conn.execute("UPDATE tournament_match_outcomes SET claims = '{}', provenance = NULL, dispute = 'none',"
                       " note = NULL WHERE tournament_id = $1 AND match_id = $2", tournament_id, match_id)


def telemetry_match_of(evidence: dict) -> str:
    """The telemetry match id (the stats API's `match_id` string) of one piece of evidence; rows
    stored before the two ids were named apart keep it under `match_id`."""
    return evidence.get("telemetry_match_id") or evidence.get("match_id", "")


def evidence_json(evidence: dict) -> dict:
    """One piece of evidence as the API shows it: `telemetry_match_id` names the game's match (a
    string of the stats API), never to be confused with the bracket's integer `match_id`;
    `match_id` is kept beside it, the same string, for clients written before (deprecated)."""
    out = {k: v for k, v in evidence.items() if k not in ("match_id", "telemetry_match_id")}
    telemetry = telemetry_match_of(evidence)
    return {"server_id": out.pop("server_id", None), "telemetry_match_id": telemetry, **out, "match_id": telemetry}


def outcome_json(o: Outcome | None, m: Match) -> dict:
    """``{"match_id": the bracket match (int), "status", "provenance":
    "telemetry"|"reported"|"confirmed"|"organiser"|null, "dispute": "none"|"open"|"resolved",
    "claims": {source: {"by", "at", "scores"|"games"|"forfeit"}}, "evidence": [{"server_id",
    "telemetry_match_id": the game's match (str), "url", "game", "match_id": deprecated copy of
    telemetry_match_id}], "note"}``."""
    o = o or Outcome(match_id=m.id)
    provenance = o.provenance
    if provenance is None and m.status == "completed" and not o.claims:
        provenance = "organiser"
    return {"match_id": m.id, "status": m.status, "provenance": provenance, "dispute": o.dispute,
            "claims": msgspec.to_builtins(o.claims), "evidence": [evidence_json(e) for e in o.evidence],
            "note": o.note}
