"""HTML pages of the tournaments (read-only): the list and one tournament's bracket and standings.

Rendered with the kernel's shared layout and filters (`fragstats.web`) from the same store and
engine functions as the JSON routes (`GET /api/v1/tournaments`, `.../{id}`, `.../{id}/standings`).
The engine's errors carry `http_status`, which `fragstats.web.page` turns into the HTML error page.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats import web
from fragstats.params import MAX_OFFSET, int_param, path_id
from fragstats.web import page, render

from . import entrants, standings, store

HERE = Path(__file__).resolve().parent
web.add_templates(HERE / "templates")

PAGE_SIZE = 25

BRACKET_TITLES = {"winners": "Winners bracket", "losers": "Losers bracket", "grand_final": "Grand final",
                  "third_place": "Third place", "round_robin": "Round robin", "swiss": "Swiss rounds",
                  "group": "Groups"}


def _offset(request: Request) -> int:
    return int_param(request.query_params, "offset", 0, lo=0, hi=MAX_OFFSET)


@page
async def tournaments_page(request: Request) -> Response:
    """`GET /tournaments?offset=`: tournaments, newest first (as `GET /api/v1/tournaments`)."""
    offset = _offset(request)
    total, metas = await store.list_all(request.app.state.engines.pg, format=None, status=None, owner_key_id=None,
                                        limit=PAGE_SIZE, offset=offset)
    return render(request, "tournaments.html", {
        "tournaments": metas, "total": total,
        "prev_url": web.url("/tournaments", {"offset": max(offset - PAGE_SIZE, 0) or None}) if offset else None,
        "next_url": web.url("/tournaments", {"offset": offset + PAGE_SIZE}) if offset + PAGE_SIZE < total else None})


def shown(m) -> bool:
    """Whether the bracket page shows match ``m``: not a grand-final reset that will not be played
    (the winners' champion won the first final), which would read as a card of two "to be decided"."""
    return not (m.bracket == "grand_final" and m.round == 2 and m.status == "not_needed")


def bracket_view(t) -> list[dict]:
    """The matches of a tournament state as `[{"title", "rounds": [{"round", "matches": [...]}]}]`: one
    section per bracket (and group), rounds as columns, matches in number order; a grand-final reset
    that is not needed is left out (`shown`)."""
    sections: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for m in sorted(t.matches, key=lambda m: (m.round, m.number, m.id)):
        if shown(m):
            sections[(m.bracket, m.group)][m.round].append(m)
    order = list(BRACKET_TITLES)
    out = []
    for (bracket, group), rounds in sorted(sections.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1] or 0)):
        title = BRACKET_TITLES.get(bracket, bracket)
        if group is not None and bracket in ("group", "round_robin") and len({g for b, g in sections if b == bracket}) > 1:
            title += f" — group {group}"
        out.append({"title": title, "rounds": [{"round": r, "matches": ms} for r, ms in sorted(rounds.items())]})
    return out


@page
async def tournament_page(request: Request) -> Response:
    """`GET /tournaments/{tournament_id}`: bracket (every match by bracket and round) and standings, from
    the same store and engine functions as `GET /api/v1/tournaments/{id}` and `.../standings`; 404."""
    tid = path_id(request.path_params, "tournament_id")
    pg = request.app.state.engines.pg
    meta, t = await store.load(pg, tid)
    table = await asyncio.to_thread(standings.standings, t)
    entered = await entrants.participants(pg, tid, t)  # before the start: the entrants with a place
    people = {p.id: p for p in entered}
    return render(request, "tournament.html", {"meta": meta, "t": t, "people": people, "standings": table,
                                               "entrants": entered, "sections": bracket_view(t)})


routes = [
    Route("/tournaments", tournaments_page),
    Route("/tournaments/{tournament_id:int}", tournament_page),
]
