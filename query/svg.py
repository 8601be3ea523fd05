"""Pictures drawn on the server as SVG text: heatmaps (from `query.stats.heatmap`), a match's kill map
(from its timeline) and the hourly activity chart (from `query.overview.hourly_activity`).

Every function returns a complete `<svg>` element as `markupsafe.Markup` (all text escaped), so a
page can inline it and a route can serve it as `image/svg+xml`. Game coordinates have y pointing up;
SVG's y points down, so y is flipped. No JavaScript is needed to see any of them.
"""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup


def _heat_colour(t: float, kind: str) -> str:
    """Colour of a cell at intensity t in (0, 1]: pale to saturated, red-orange for kills, blue for deaths."""
    hue = 20 - 20 * t if kind == "kills" else 215 - 15 * t
    light = 70 - 30 * t
    return f"hsl({hue:.0f},90%,{light:.0f}%)"


def _empty(kind: str, label: str) -> Markup:
    """A short picture that says there is nothing to draw (the game sent no positions)."""
    return Markup('<svg class="{0} empty" viewBox="0 0 320 40" role="img" aria-label="{1}: no positions recorded" '
                  'xmlns="http://www.w3.org/2000/svg"><title>{1}: no positions recorded</title>'
                  '<text x="160" y="25" text-anchor="middle">No positions recorded</text></svg>').format(kind, label)


def heatmap_bounds(*heatmaps: dict) -> tuple[int, int, int, int] | None:
    """(min_x, min_y, max_x, max_y) in cells over all given heatmaps, or None when all are empty; use one
    frame for a player's kills and deaths on a map so the two pictures line up."""
    cells = [c for h in heatmaps for c in h["cells"]]
    if not cells:
        return None
    return (min(c["x"] for c in cells), min(c["y"] for c in cells),
            max(c["x"] for c in cells), max(c["y"] for c in cells))


def heatmap_svg(heatmap: dict, bounds: tuple[int, int, int, int] | None = None, *, title: str = "") -> Markup:
    """A heatmap (`query.stats.heatmap`'s dict) as a grid of coloured cells, one square per 128-unit cell,
    intensity by count. Each cell has a `<title>` with its count and game-unit range."""
    kind = heatmap["kind"]
    bounds = bounds or heatmap_bounds(heatmap)
    label = title or f"{kind} on {heatmap['map_name']}"
    if bounds is None:
        return _empty("heatmap", label)
    x0, y0, x1, y1 = bounds
    pad = 1
    w, h = x1 - x0 + 1 + 2 * pad, y1 - y0 + 1 + 2 * pad
    size = heatmap["cell_size"]
    top = max(heatmap["max"], 1)
    parts = [Markup('<svg class="heatmap {}" viewBox="0 0 {} {}" role="img" aria-label="{}" '
                    'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">').format(kind, w, h, label),
             Markup("<title>{}</title>").format(label),
             Markup('<rect class="ground" x="0" y="0" width="{}" height="{}"/>').format(w, h)]
    for c in heatmap["cells"]:
        t = c["count"] / top
        sx = c["x"] - x0 + pad
        sy = y1 - c["y"] + pad  # flip: the highest game y is the top row
        parts.append(Markup('<rect x="{}" y="{}" width="1" height="1" fill="{}" fill-opacity="{:.2f}">'
                            '<title>{} {} at x {}..{}, y {}..{}</title></rect>').format(
            sx, sy, _heat_colour(t, kind), 0.45 + 0.55 * t, c["count"], kind,
            c["x"] * size, (c["x"] + 1) * size, c["y"] * size, (c["y"] + 1) * size))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _num(value) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # NaN: not sent


def kill_map_svg(events: list[dict], *, title: str = "kill map") -> Markup:
    """The kills of a match (timeline `player_kill` events with positions) in game units: a line from
    where the killer stood (filled circle) to where the victim fell (ring). Kills without positions
    are left out; with none, an empty picture that says so."""
    kills = []
    for ev in events:
        if ev.get("type") != "player_kill":
            continue
        vx, vy = _num(ev.get("victim_x")), _num(ev.get("victim_y"))
        if vx is None or vy is None:
            continue
        ax, ay = _num(ev.get("attacker_x")), _num(ev.get("attacker_y"))
        kills.append((ax, ay, vx, vy, ev))
    if not kills:
        return _empty("killmap", title)
    xs = [v for k in kills for v in (k[0], k[2]) if v is not None]
    ys = [v for k in kills for v in (k[1], k[3]) if v is not None]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span = max(x1 - x0, y1 - y0, 256.0)
    pad = span * 0.06
    w, h = (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad
    r = span / 90

    def px(x: float) -> str:
        return f"{x - x0 + pad:.1f}"

    def py(y: float) -> str:
        return f"{y1 - y + pad:.1f}"

    parts = [Markup('<svg class="killmap" viewBox="0 0 {:.1f} {:.1f}" role="img" aria-label="{}" '
                    'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">').format(w, h, title),
             Markup("<title>{}</title>").format(title),
             Markup('<rect class="ground" x="0" y="0" width="{:.1f}" height="{:.1f}"/>').format(w, h)]
    for ax, ay, vx, vy, ev in kills:
        who = f"{ev.get('attacker_name') or 'world'} killed {ev.get('victim_name', '?')}"
        if ev.get("weapon"):
            who += f" ({ev['weapon']})"
        parts.append(Markup('<g class="kill {}"><title>{}</title>').format(ev.get("kill_kind") or "kill", who))
        if ax is not None and ay is not None:
            parts.append(Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke-width="{:.1f}"/>'
                                '<circle class="killer" cx="{}" cy="{}" r="{:.1f}"/>').format(
                px(ax), py(ay), px(vx), py(vy), r / 3, px(ax), py(ay), r))
        parts.append(Markup('<circle class="victim" cx="{}" cy="{}" r="{:.1f}" stroke-width="{:.1f}"/></g>').format(
            px(vx), py(vy), r, r / 2.5))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _hour_label(iso: str) -> str:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%d %b %H:00")


def activity_svg(activity: dict, *, metric: str = "events") -> Markup:
    """Bars of `metric` per hour from `hourly_activity`'s dict, with the largest value and the first and
    last hour as labels; each bar has a `<title>` with its hour and value."""
    series = activity["series"]
    width, height, left, bottom, top_pad = 1100, 220, 52, 24, 10
    n = max(len(series), 1)
    top = max((s[metric] for s in series), default=0)
    plot_h = height - bottom - top_pad
    bar_w = (width - left) / n
    label = f"{metric} per hour, {_hour_label(activity['start'])} to {_hour_label(activity['end'])} UTC"
    parts = [Markup('<svg class="activity" viewBox="0 0 {} {}" role="img" aria-label="{}" '
                    'xmlns="http://www.w3.org/2000/svg">').format(width, height, label),
             Markup("<title>{}</title>").format(label),
             Markup('<line class="axis" x1="{0}" y1="{1}" x2="{2}" y2="{1}"/>').format(left, height - bottom, width),
             Markup('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>').format(left - 6, top_pad + 8, top),
             Markup('<text class="tick" x="{}" y="{}" text-anchor="end">0</text>').format(left - 6, height - bottom)]
    for i, s in enumerate(series):
        value = s[metric]
        bh = 0 if top == 0 else plot_h * value / top
        parts.append(Markup('<rect class="bar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}">'
                            '<title>{} UTC: {} {}</title></rect>').format(
            left + i * bar_w + 0.5, height - bottom - bh, max(bar_w - 1, 0.5), bh,
            _hour_label(s["hour"]), value, metric))
    if series:
        parts.append(Markup('<text class="tick" x="{}" y="{}">{}</text>').format(left, height - 6, _hour_label(series[0]["hour"])))
        parts.append(Markup('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>').format(
            width, height - 6, _hour_label(series[-1]["hour"])))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
