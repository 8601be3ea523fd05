"""HTML pages of uploads: reports (list and search, one report, one fight), the encounter leaderboard,
and realm snapshots (leaderboard, diff). Each page renders the data of its JSON route, from the same
function (`report_detail`, `search_reports`, `queries.leaderboard`, `leaderboard_data`, `diff_data`),
with the kernel's layout (`fragstats.web`). Charts are server-side SVG: no script, no CDN.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fragstats import web
from fragstats.errors import ApiError
from fragstats.params import int_param
from fragstats.web import page, render
from uploads import queries
from uploads.encounter_routes import _report, board_params, report_detail, search_params, search_reports
from uploads.http import base_url
from uploads.snapshot_routes import date_param, diff_data, leaderboard_data, realm_param

HERE = Path(__file__).resolve().parent
web.add_templates(HERE / "templates")

CHART_W, CHART_H, PAD, LEFT = 860, 260, 40, 80  # px; LEFT leaves room for the value labels
COLOURS = ("#e4572e", "#3d8bfd", "#3fb950", "#f2c14e", "#b57edc", "#4ecdc4", "#ff8fab", "#a3a3a3", "#ffa94d",
           "#74c0fc")


def chart(timeline: dict) -> dict | None:
    """Damage per second over time as SVG polylines (one per player, in px inside a
    `CHART_W` x `CHART_H` box), with axis ticks; None without hit timelines."""
    series = [s for s in timeline["series"] if s["points"]]
    if not series:
        return None
    bucket_s = timeline["bucketMs"] / 1000
    t_max = max(p[0] for s in series for p in s["points"]) + timeline["bucketMs"]
    v_max = max(max(p[1] for p in s["points"]) / bucket_s for s in series) or 1
    w, h = CHART_W - PAD - LEFT, CHART_H - 2 * PAD

    def x(t):
        return LEFT + w * t / t_max

    def y(v):
        return PAD + h - h * v / v_max

    lines = []
    for i, s in enumerate(series):
        pts = " ".join(f"{x(t + timeline['bucketMs'] / 2):.1f},{y(v / bucket_s):.1f}" for t, v in s["points"])
        lines.append({"name": s["name"] or f"#{s['actorId']}", "points": pts, "colour": COLOURS[i % len(COLOURS)]})
    ticks_x = [{"x": x(t_max * k / 4), "label": f"{t_max * k / 4 / 1000:.0f} s"} for k in range(5)]
    ticks_y = [{"y": y(v_max * k / 4), "label": f"{v_max * k / 4:,.0f}"} for k in range(5)]
    return {"w": CHART_W, "h": CHART_H, "pad": PAD, "left": LEFT, "lines": lines, "ticks_x": ticks_x, "ticks_y": ticks_y,
            "kind": timeline["kind"]}


async def _report_context(request: Request, fight: int | None = None) -> dict:
    row = await _report(request)
    engines = request.app.state.engines
    detail = await report_detail(engines, row, base_url(request))
    if fight is not None:
        if not any(f["fight"] == fight for f in detail["fights"]):
            raise ApiError(404, "not_found", f"report {row['code']} has no fight {fight}")
        detail["parses"] = [p for p in detail["parses"] if p["fight"] == fight]
        detail["fights"] = [f for f in detail["fights"] if f["fight"] == fight]
    timeline, skills = None, []
    if row["status"] == "ready":
        bucket = max(1000, row["duration_ms"] // 60 // 1000 * 1000)
        timeline = chart(await queries.damage_over_time(engines, row["id"], bucket))
        skills = await queries.skills(engines, row["id"])
    names = {p["actorId"]: p["name"] for p in detail["parses"]}
    return {"r": detail, "chart": timeline, "skills": [s for s in skills if s["actorId"] in names][:60], "names": names,
            "fight": fight}


@page
async def report_page(request: Request) -> Response:
    """`GET /reports/{report_id}`: a report: its fights, players with their parses and percentiles, the
    damage-over-time chart and the skills (as `GET /api/v1/encounters/{id}`)."""
    return render(request, "report.html", await _report_context(request))


@page
async def fight_page(request: Request) -> Response:
    """`GET /reports/{report_id}/fights/{fight}`: one fight of a report, with its chart."""
    return render(request, "report.html", await _report_context(request, request.path_params["fight"]))


@page
async def reports_page(request: Request) -> Response:
    """`GET /reports?player=&boss=&page=`: reports, newest first, with a search form (as `GET /api/v1/encounters`)."""
    p = search_params(request.query_params)
    found = await search_reports(request.app.state.uploads.pg, p, base_url(request))
    pages = {"prev": web.url("/reports", {"player": p["player"], "boss": p["boss"], "page": p["page"] - 1})
             if p["page"] > 1 else None,
             "next": web.url("/reports", {"player": p["player"], "boss": p["boss"], "page": p["page"] + 1})
             if p["page"] < found["meta"]["totalPages"] else None}
    return render(request, "reports.html", {"p": p, **found, "pages": pages})


@page
async def encounter_leaderboard_page(request: Request) -> Response:
    """`GET /rankings?boss=&metric=&class=&spec=&period=`: the encounter leaderboard (as
    `GET /api/v1/leaderboards/encounters`), with the best parse's damage-over-time chart."""
    p = board_params(request.query_params)
    engines = request.app.state.engines
    bosses = await queries.bosses(engines)
    if not p["boss"] and bosses:
        p["boss"] = bosses[0]["boss"]
    board, top_chart = {"total": 0, "parses": [], "brackets": []}, None
    if p["boss"]:
        board = await queries.leaderboard(engines, **p)
        if board["parses"]:
            best = board["parses"][0]
            row = await request.app.state.uploads.pg.fetchrow(
                "SELECT id, duration_ms FROM encounter_reports WHERE code = $1", best["reportId"])
            timeline = await queries.damage_over_time(engines, row["id"], max(1000, row["duration_ms"] // 60 // 1000 * 1000))
            timeline["series"] = [s for s in timeline["series"] if s["actorId"] == best["actorId"]]
            top_chart = chart(timeline)
    return render(request, "rankings.html", {"p": p, "bosses": bosses, "board": board, "chart": top_chart,
                                             "metrics": list(queries.METRICS), "periods": list(queries.PERIODS)})


@page
async def kingdoms_page(request: Request) -> Response:
    """`GET /kingdoms`: realms with snapshots, their dates (as `GET /api/v1/snapshots`)."""
    rows = await request.app.state.uploads.pg.fetch(
        "SELECT realm, array_agg(snapshot_date ORDER BY snapshot_date DESC) AS dates, max(rows) AS players"
        " FROM snapshots GROUP BY realm ORDER BY realm LIMIT 500")
    return render(request, "kingdoms.html", {"realms": rows})


@page
async def kingdom_page(request: Request) -> Response:
    """`GET /kingdoms/{realm}?metric=&date=`: a realm's leaderboard (current = latest snapshot)."""
    realm = realm_param(request.path_params["realm"])
    q = request.query_params
    pg = request.app.state.uploads.pg
    board = await leaderboard_data(request.app.state.engines, pg, realm, q.get("metric") or "score",
                                   date_param(q.get("date"), "date"), int_param(q, "limit", 100, lo=1, hi=1000))
    dates = [r["snapshot_date"].isoformat() for r in await pg.fetch(
        "SELECT snapshot_date FROM snapshots WHERE realm = $1 ORDER BY snapshot_date DESC", realm)]
    return render(request, "kingdom.html", {"b": board, "dates": dates,
                                            "metrics": ["score", *sorted(n for n, t in board["columns"].items() if t != "text")]})


@page
async def kingdom_diff_page(request: Request) -> Response:
    """`GET /kingdoms/{realm}/diff?from=&to=&metric=`: gainers, losers, new and gone between two dates."""
    realm = realm_param(request.path_params["realm"])
    q = request.query_params
    pg = request.app.state.uploads.pg
    dates = [r["snapshot_date"].isoformat() for r in await pg.fetch(
        "SELECT snapshot_date FROM snapshots WHERE realm = $1 ORDER BY snapshot_date DESC", realm)]
    if not dates:
        raise ApiError(404, "not_found", f"no snapshot of realm {realm!r}")
    day_from = date_param(q.get("from"), "from") or date_param(dates[min(1, len(dates) - 1)], "from")
    metric = q.get("metric") or "score"
    diff = await diff_data(request.app.state.engines, pg, realm, metric, day_from, date_param(q.get("to"), "to"),
                           int_param(q, "limit", 25, lo=1, hi=1000))
    return render(request, "kingdom_diff.html", {"d": diff, "dates": dates, "realm": realm})


routes = [
    Route("/reports", reports_page),
    Route("/reports/{report_id}", report_page),
    Route("/reports/{report_id}/fights/{fight:int}", fight_page),
    Route("/rankings", encounter_leaderboard_page),
    Route("/kingdoms", kingdoms_page),
    Route("/kingdoms/{realm}", kingdom_page),
    Route("/kingdoms/{realm}/diff", kingdom_diff_page),
]
