"""Results from the game servers: match tokens, and the hook that reads them from committed telemetry.

A bracket match gets a token (``issue_token``, `POST .../matches/{id}/token`). The game server sends
it as the extra key ``tournament_match_token`` in its ``match_start`` / ``match_end`` events, or posts
`POST /api/v1/ingest/match-result`. Only the token's SHA-256 is ever stored: in
``tournament_match_tokens``, and in the event, whose ``ev.extra`` holds it sealed at the door
(``fragstats.secrets``), so the public timeline never shows a token.

A token is bound to one game server: the one named when it was issued, else the first that uses it
(recorded with the result, in the same transaction). Another server's use is refused (403 on
`match-result`; a warning, and nothing applied, from telemetry). Then:
  * ``match_start`` links the telemetry match to the bracket match (evidence) and marks a ``ready``
    match ``running``;
  * ``match_end`` adds the game to the ``telemetry`` claim (``tournaments.outcomes``), which is
    applied to the bracket unless it disputes a captain's report. A best-of-1 takes the latest
    telemetry match (a replayed map replaces the earlier one). A game's score is the team
    scores when the event carries ``allies_score`` and ``axis_score`` (allies go to the token's
    ``allies_side``, 1 by default); else its ``winning_team`` (``allies``/``axis``) alone names the
    winning side; else the players' kills in that match (``player_match``) summed over each side's
    roster members linked to telemetry player ids. A best-of-3/5 collects one game per telemetry
    match; the same ``match_end`` sent twice counts once.

``after_commit_factory(app)`` gives the hook the ingest batch writer calls after each committed
batch; it also rates every ended match of the batch (``tournaments.ratings``).
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import quote

import msgspec

from fragstats.auth import new_token, token_hash
from fragstats.secrets import MATCH_TOKEN_KEY, sealed_digest

from . import event_store, outcomes, ratings, results, store
from .errors import InvalidResult, NotFound, TournamentError, WrongServer
from .model import AuditEntry, Match

log = logging.getLogger("fragstats.tournaments")
TOKEN_KEY = MATCH_TOKEN_KEY
TOKEN_PREFIX = "fst_"


def evidence_url(match_id: str) -> str:
    """The stats API's page of a telemetry match (the evidence of a result)."""
    return f"/api/v1/stats/match/{quote(match_id, safe='')}"


async def issue_token(conn, tournament_id: int, match: Match, *, allies_side: int = 1,
                      server_id: int | None = None) -> str:
    """A new token for ``match`` (replacing an earlier one); only its hash is stored."""
    token = new_token(TOKEN_PREFIX)
    await conn.execute(
        "INSERT INTO tournament_match_tokens (token_hash, tournament_id, match_id, allies_side, server_id, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tournament_id, match_id) DO UPDATE SET"
        " token_hash = EXCLUDED.token_hash, allies_side = EXCLUDED.allies_side, server_id = EXCLUDED.server_id,"
        " created_at = EXCLUDED.created_at",
        token_hash(token), tournament_id, match.id, allies_side, server_id, dt.datetime.now(dt.timezone.utc))
    return token


async def _player_game(app, tournament_id: int, m: Match, server_id: int, telemetry_match: str) -> list[int] | None:
    """[kills of side 1, kills of side 2] in the telemetry match, from the sides' linked members."""
    sides = [m.opponent1.participant_id if m.opponent1 else None, m.opponent2.participant_id if m.opponent2 else None]
    regs = {r.id: r for r in await event_store.registrations(app.state.engines.pg, tournament_id)}
    ids = [{mem.player_id for mem in regs[p].members if mem.player_id} if p in regs else set() for p in sides]
    if not ids[0] or not ids[1]:
        return None
    rows = await app.state.engines.query(
        "SELECT player_id, toInt64(sum(kills)) FROM player_match WHERE match_id = {m:String} AND server_id = {s:UInt32}"
        " GROUP BY player_id", {"m": telemetry_match, "s": server_id})
    kills = dict(rows)
    if not (ids[0] | ids[1]) & kills.keys():
        return None  # none of the linked players played in that telemetry match
    return [int(sum(kills.get(p, 0) for p in ids[0])), int(sum(kills.get(p, 0) for p in ids[1]))]


def _check_server(bound: int | None, server_id: int) -> None:
    if bound is not None and bound != server_id:
        raise WrongServer(f"this match token is bound to another game server (id {bound})")


async def _bind(conn, digest: bytes, server_id: int) -> None:
    """Bind an unbound token to ``server_id`` (first use wins); raises ``WrongServer`` when it is
    bound to another one, ``NotFound`` when it was replaced meanwhile. The row lock of the UPDATE
    orders two servers racing for the same token: the second sees the first's binding."""
    bound = await conn.fetchval("UPDATE tournament_match_tokens SET server_id = coalesce(server_id, $2)"
                                " WHERE token_hash = $1 RETURNING server_id", digest, server_id)
    if bound is None:
        raise NotFound("unknown tournament match token")
    _check_server(bound, server_id)


def _game_winner(e: dict) -> int | None:
    """The side that won one piece of evidence: by its game score, else by its ``winner``."""
    game = e.get("game")
    if game is not None:
        return 1 if game[0] > game[1] else 2 if game[1] > game[0] else None
    return e.get("winner")


def telemetry_claim(evidence: list[dict], best_of: int, by: str, at: str) -> outcomes.Claim | None:
    """The ``telemetry`` claim that the evidence makes, or None when it tells nothing yet.

    Best of 1: the latest telemetry match that told a result (a replayed map replaces the earlier
    one): its game score, else only its winner. Best of 3/5: every game's score when each is known,
    else the games won per side (a game known only by its winner counts for that side)."""
    told = [e for e in evidence if e.get("game") is not None or e.get("winner") is not None]
    if not told:
        return None
    if best_of == 1:
        last = told[-1]
        if last.get("game") is not None:
            return outcomes.Claim(by=by, at=at, games=[last["game"]])
        return outcomes.Claim(by=by, at=at, winner=last["winner"])
    if all(e.get("game") is not None for e in told):
        return outcomes.Claim(by=by, at=at, games=[e["game"] for e in told])
    won = [_game_winner(e) for e in told]
    return outcomes.Claim(by=by, at=at, scores=[won.count(1), won.count(2)])


async def match_event(app, *, server_id: int, token_digest: bytes, kind: str, telemetry_match: str,
                      allies_score: int | None = None, axis_score: int | None = None,
                      winning_team: str | None = None) -> tuple[dict, TournamentError | None]:
    """Apply one tokened ``match_start`` / ``match_end`` to its bracket match.

    ``token_digest``: the SHA-256 of the match token (``fragstats.auth.token_hash`` of a clear token,
    ``fragstats.secrets.sealed_digest`` of a sealed one). The first server to use a token issued
    without a server is bound to it, in the transaction that applies the result. A ``match_end``'s
    game is its team scores (``allies_score``, ``axis_score``), else -- for a match whose sides map to
    the teams through the token's ``allies_side`` -- the side of ``winning_team`` (``allies`` or
    ``axis``) alone, else the linked players' kills in that telemetry match.

    Returns (``{"tournament_id", "match_id", "outcome": outcome_json}``, the error that kept this
    event's result out of the bracket or None). Such a result -- one the bracket refuses (a draw in
    an elimination match, a match not ready, ...) or a ``match_end`` that tells no result -- is still
    recorded: the evidence, the outcome's ``note``, and (when refused) a ``telemetry_rejected`` audit
    entry are committed; the caller decides whether to answer with the error. Raises ``NotFound``
    (404) for an unknown token, ``WrongServer`` (403) for a token bound to another server.
    """
    pool = app.state.engines.pg
    row = await pool.fetchrow("SELECT tournament_id, match_id, allies_side, server_id FROM tournament_match_tokens"
                              " WHERE token_hash = $1", token_digest)
    if row is None:
        raise NotFound("unknown tournament match token")
    _check_server(row["server_id"], server_id)  # early, before any work; `_bind` decides under the lock
    tid, mid, allies_side = row["tournament_id"], row["match_id"], row["allies_side"]
    game: list[int] | None = None
    winner: int | None = None
    if kind == "match_end":
        if allies_score is not None and axis_score is not None:
            game = [allies_score, axis_score] if allies_side == 1 else [axis_score, allies_score]
        elif (winning_team or "").lower() in ("allies", "axis"):
            winner = allies_side if winning_team.lower() == "allies" else 3 - allies_side
        else:
            _, t0 = await store.load(pool, tid)
            m0 = next((x for x in t0.matches if x.id == mid), None)
            if m0 is not None:
                game = await _player_game(app, tid, m0, server_id, telemetry_match)
    actor, at = f"server:{server_id}", dt.datetime.now(dt.timezone.utc)
    refused: TournamentError | None = None
    async with store.of(app).write(tid) as w:
        await _bind(w.conn, token_digest, server_id)
        m = next((x for x in w.state.matches if x.id == mid), None)
        if m is None:
            raise NotFound(f"match {mid} no longer exists in tournament {tid}")
        o = await outcomes.load(w.conn, tid, mid)
        key = (server_id, telemetry_match)
        evidence = [e for e in o.evidence if (e["server_id"], outcomes.telemetry_match_of(e)) != key]
        old = next((e for e in o.evidence if (e["server_id"], outcomes.telemetry_match_of(e)) == key), None) or {}
        entry = {"server_id": server_id, "telemetry_match_id": telemetry_match, "url": evidence_url(telemetry_match),
                 "game": game if game is not None else old.get("game")}
        if winner is not None or (entry["game"] is None and old.get("winner") is not None):
            entry["winner"] = winner if winner is not None else old["winner"]
        evidence.append(entry)
        o = msgspec.structs.replace(o, evidence=evidence)
        new_t, entries = w.state, []
        if not old:
            entries.append(AuditEntry(actor=actor, at=at, action="telemetry_linked", match_id=mid, participant_id=None,
                                      before=None, after=entry))
        if kind == "match_start" and m.status == "ready":
            new_t, more = results.start_match(new_t, mid, actor=actor, at=at)
            entries += more
        elif kind == "match_end":
            claim = telemetry_claim(evidence, m.best_of, actor, at.isoformat())
            held = o.claims.get("telemetry")
            if game is None and winner is None:
                refused = InvalidResult("the match_end tells no result: no team scores, no winning_team of allies"
                                        " or axis, and no linked player in that telemetry match")
                o = msgspec.structs.replace(o, note=str(refused))
            elif claim is not None and not (held and (held.games, held.scores, held.winner)
                                             == (claim.games, claim.scores, claim.winner)):
                try:
                    new_t, o, more = outcomes.add_claim(new_t, o, "telemetry", claim, actor=actor, at=at)
                    entries += more
                except TournamentError as exc:
                    refused = exc
                    o = msgspec.structs.replace(o, note=f"telemetry result not applied: {exc}")
                    told = {k: v for k, v in msgspec.to_builtins(claim).items() if k not in ("by", "at")}
                    entries.append(AuditEntry(actor=actor, at=at, action="telemetry_rejected", match_id=mid,
                                              participant_id=None, before=None, after={**told, "reason": str(exc)}))
        await outcomes.save(w.conn, tid, o, at)
        if entries:
            await w.save(new_t, entries)
        m = next(x for x in new_t.matches if x.id == mid)
    return {"tournament_id": tid, "match_id": mid, "outcome": outcomes.outcome_json(o, m)}, refused


def _type(ev) -> str:
    # ingest.events.event_type, without importing ingest (packages do not import each other)
    return type(ev).__struct_config__.tag or getattr(ev, "type", "")


def after_commit_factory(app):
    """The after-commit hook factory the assembly lists in ``fragstats.wiring.Wiring.after_commit``: for every committed
    ``match_start`` / ``match_end`` that carries ``tournament_match_token`` in its extra keys (sealed:
    ``fragstats.secrets``), apply it (``match_event``); then rate the batch's ended matches. Errors are logged, never raised (the
    events are stored either way; the organiser can still report)."""

    kinds: dict[type, str] = {}  # event class -> its type tag, learnt once per class

    async def tournament_results(notable: list, touched: dict) -> None:
        # `notable`: the batch's events that carry state (match start/end among them), in order.
        ended: list[str] = []
        for ev in notable:
            cls = type(ev)
            kind = kinds.get(cls)
            if kind is None:
                kind = kinds[cls] = _type(ev) if cls.__struct_config__.tag else ""
            if kind not in ("match_start", "match_end"):
                continue
            if kind == "match_end" and ev.match_id:
                ended.append(ev.match_id)
            sealed = (ev.extra or {}).get(TOKEN_KEY)
            if not sealed:
                continue
            try:
                _, refused = await match_event(app, server_id=ev.server_id, token_digest=sealed_digest(sealed),
                                               kind=kind, telemetry_match=ev.match_id,
                                               allies_score=getattr(ev, "allies_score", None),
                                               axis_score=getattr(ev, "axis_score", None),
                                               winning_team=getattr(ev, "winning_team", None))
                if refused is not None:
                    log.info("tournament result of %s %s not applied: %s", kind, ev.match_id, refused)
            except TournamentError as exc:
                log.warning("tournament token in %s of match %s ignored: %s", kind, ev.match_id, exc)
            except Exception:
                log.exception("applying a tournament result from telemetry failed")
        if ended:
            try:
                await ratings.update_from_telemetry(app.state.engines, sorted(set(ended)))
            except Exception:
                log.exception("rating ended matches failed")

    return tournament_results
