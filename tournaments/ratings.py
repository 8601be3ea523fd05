"""Player ratings with OpenSkill (Weng-Lin Bayesian ratings, Plackett-Luce model; ``openskill<7``),
computed from the match outcomes in the telemetry, stored in Postgres (`player_ratings`).

Source of the method: Weng & Lin, "A Bayesian Approximation Method for Online Ranking", JMLR 12
(2011), as implemented by the ``openskill`` package; defaults mu = 25, sigma = 25/3.

* A rated match is a match of the ``matches`` aggregate that has ended (``has_end``: a
  ``match_end`` event arrived) with at least 2 players; each player is one "team" of the
  Plackett-Luce update and its score is kills - deaths in that match (``player_match``; deaths
  include suicides and world deaths). Equal scores are ties. Every match is rated once
  (`rated_matches`), in order of its start.
* The conservative estimate, used for the leaderboard and for seeds, is ``mu - 3 * sigma``.
* A team's rating is the mean of its starters' mu, with sigma the standard deviation of that mean
  (``sqrt(sum sigma^2) / n``); members without a telemetry id or without rated matches count at the
  defaults.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

from openskill.models import PlackettLuce

MODEL = PlackettLuce()
DEFAULT_MU = 25.0
DEFAULT_SIGMA = 25.0 / 3.0
Rating = tuple[float, float]  # (mu, sigma)


def conservative(r: Rating) -> float:
    """``mu - 3 * sigma``: a rating the player beats with ~99.7 % certainty."""
    return r[0] - 3.0 * r[1]


def rate(current: dict[str, Rating], scores: dict[str, float]) -> dict[str, Rating]:
    """New ratings of the players of one free-for-all match (higher score = better place, equal = tie).
    Players missing from ``current`` start at the defaults. Needs at least 2 players."""
    players = sorted(scores)
    teams = [[MODEL.rating(mu=current.get(p, (DEFAULT_MU, DEFAULT_SIGMA))[0],
                           sigma=current.get(p, (DEFAULT_MU, DEFAULT_SIGMA))[1])] for p in players]
    rated = MODEL.rate(teams, scores=[float(scores[p]) for p in players])
    return {p: (team[0].mu, team[0].sigma) for p, team in zip(players, rated)}


def team_rating(members: Sequence[Rating]) -> Rating:
    """A team's (mu, sigma) from its starters' ratings (defaults when there are none)."""
    if not members:
        return DEFAULT_MU, DEFAULT_SIGMA
    n = len(members)
    return sum(m for m, _ in members) / n, math.sqrt(sum(s * s for _, s in members)) / n


def win_probability(a: Sequence[Rating], b: Sequence[Rating]) -> float:
    """Chance that side ``a`` (its members' ratings) beats side ``b``, by the model's ``predict_win``."""
    side = lambda rs: [MODEL.rating(mu=m, sigma=s) for m, s in (rs or [(DEFAULT_MU, DEFAULT_SIGMA)])]  # noqa: E731
    return MODEL.predict_win([side(a), side(b)])[0]


# --- storage -----------------------------------------------------------------------------------

async def get_many(pool, player_ids: Iterable[str]) -> dict[str, Rating]:
    """Stored ratings of those players that have one."""
    ids = sorted({p for p in player_ids if p})
    if not ids:
        return {}
    rows = await pool.fetch("SELECT player_id, mu, sigma FROM player_ratings WHERE player_id = ANY($1::text[])", ids)
    return {r["player_id"]: (r["mu"], r["sigma"]) for r in rows}


async def _ended_matches(engines, match_ids: list[str] | None) -> list[tuple[int, str]]:
    where, params = "", {}
    if match_ids is not None:
        where, params = "WHERE match_id IN {ids:Array(String)}", {"ids": match_ids}
    rows = await engines.query(f"""
        SELECT server_id, match_id FROM matches {where} GROUP BY server_id, match_id
        HAVING max(has_end) = 1 ORDER BY min(started_at), match_id""", params)
    return [(int(s), m) for s, m in rows]


async def _scoreboards(engines, keys: list[tuple[int, str]]) -> dict[tuple[int, str], dict[str, tuple[str, float]]]:
    rows = await engines.query("""
        SELECT server_id, match_id, player_id, anyLast(player_name), toInt64(sum(kills)) - toInt64(sum(deaths))
        FROM player_match WHERE match_id IN {ids:Array(String)} GROUP BY server_id, match_id, player_id""",
                               {"ids": sorted({m for _, m in keys})})
    wanted = set(keys)
    out: dict[tuple[int, str], dict[str, tuple[str, float]]] = {}
    for server_id, match_id, player_id, name, score in rows:
        key = (int(server_id), match_id)
        if key in wanted:
            out.setdefault(key, {})[player_id] = (name or "", float(score))
    return out


async def update_from_telemetry(engines, match_ids: list[str] | None = None, *, limit: int = 1000) -> int:
    """Rate the ended, not yet rated matches (all, or those with the given telemetry match ids), at
    most ``limit`` per call, oldest first. Returns how many matches were rated. Safe to call from
    several tasks at once (one transaction under an advisory lock; each match rated once)."""
    keys = await _ended_matches(engines, match_ids)
    if not keys:
        return 0
    pool = engines.pg
    done = await pool.fetch("SELECT server_id, match_id FROM rated_matches WHERE match_id = ANY($1::text[])",
                            [m for _, m in keys])
    seen = {(r["server_id"], r["match_id"]) for r in done}
    todo = [k for k in keys if k not in seen][:limit]
    if not todo:
        return 0
    boards = await _scoreboards(engines, todo)
    now = dt.datetime.now(dt.timezone.utc)
    rated = 0
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7263)")
        for key in todo:
            board = boards.get(key, {})
            claimed = await conn.fetchval(
                "INSERT INTO rated_matches (server_id, match_id, players, rated_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING RETURNING 1", key[0], key[1], len(board), now)
            if not claimed or len(board) < 2:
                continue
            current = await get_many(conn, board)
            new = rate(current, {p: score for p, (_, score) in board.items()})
            await conn.executemany(
                "INSERT INTO player_ratings (player_id, player_name, mu, sigma, matches, updated_at)"
                " VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (player_id) DO UPDATE SET mu = EXCLUDED.mu,"
                " sigma = EXCLUDED.sigma, matches = player_ratings.matches + 1, updated_at = EXCLUDED.updated_at,"
                " player_name = CASE WHEN EXCLUDED.player_name = '' THEN player_ratings.player_name"
                " ELSE EXCLUDED.player_name END",
                [(p, board[p][0], mu, sigma, now) for p, (mu, sigma) in new.items()])
            rated += 1
    return rated


async def leaderboard(engines, *, limit: int = 100, offset: int = 0) -> dict:
    """Players by conservative rating (``mu - 3 sigma``), best first; the function behind
    ``GET /api/v1/stats/leaderboard?stat=rating`` and ``GET /api/v1/stats/ratings``.

    Returns ``{"total", "players": [{"rank", "player_id", "player_name", "rating" (mu - 3 sigma),
    "mu", "sigma", "matches" (rated matches)}]}``; ratings rounded to 3 decimals. Reads Postgres only.
    """
    pool = engines.pg
    total = await pool.fetchval("SELECT count(*) FROM player_ratings")
    rows = await pool.fetch(
        "SELECT player_id, player_name, mu, sigma, matches FROM player_ratings"
        " ORDER BY mu - 3 * sigma DESC, player_id LIMIT $1 OFFSET $2", limit, offset)
    players = [{"rank": offset + i + 1, "player_id": r["player_id"], "player_name": r["player_name"],
                "rating": round(conservative((r["mu"], r["sigma"])), 3), "mu": round(r["mu"], 3),
                "sigma": round(r["sigma"], 3), "matches": r["matches"]} for i, r in enumerate(rows)]
    return {"total": int(total), "players": players}
