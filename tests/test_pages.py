"""HTML pages through the in-process app on real engines: every page renders real data, htmx
requests get fragments, plain GET forms work without JavaScript, unknown things are HTML 404s,
pages and JSON routes agree (one query function each), and /openapi.json + /docs describe the app."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import pytest

from conftest import ADMIN, new_server, settle

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "query" / "static" / "vendor"
HX = {"HX-Request": "true"}


def mohaa_match(match_id: str, tag: str, *, kills: int = 24, ended: bool = True, map_name: str = "dm/mohdm6") -> list[dict]:
    """A MOHAA-style match (the tracker's wire format, numbers as strings) with positioned kills between
    four players, so heatmaps and kill maps have something to draw."""
    names = [f"{n}{tag}" for n in ("Ada", "Bert", "Cleo", "Dirk")]
    weapons = ["Thompson", "Kar98", "MP40", "Colt .45"]
    events = [{"type": "match_start", "match_id": match_id, "session_id": "s_" + match_id, "timestamp": "0",
               "map_name": map_name, "gametype": "dm", "timelimit": "20", "fraglimit": "50", "maxclients": "16"}]
    for i in range(kills):
        a, v = names[i % 4], names[(i * 3 + 1) % 4]
        if a == v:
            v = names[(i + 2) % 4]
        events.append({
            "type": "player_kill", "match_id": match_id, "session_id": "s_" + match_id, "timestamp": str(5 + i * 7),
            "attacker_name": a, "attacker_guid": f"g-{a}", "attacker_team": "allies",
            "attacker_x": str(-900 + (i * 137) % 1800), "attacker_y": str(-600 + (i * 91) % 1200), "attacker_z": "0",
            "victim_name": v, "victim_guid": f"g-{v}", "victim_team": "axis",
            "victim_x": str(-700 + (i * 173) % 1500), "victim_y": str(-500 + (i * 59) % 1000), "victim_z": "0",
            "weapon": weapons[i % 4], "mod": "bullet", "hitloc": "head" if i % 5 == 0 else "torso_upper"})
    if ended:
        events.append({"type": "match_end", "match_id": match_id, "session_id": "s_" + match_id,
                       "timestamp": str(10 + kills * 7), "map": map_name, "allies_score": "12", "axis_score": "9"})
    return events


async def post_events(client, token: str, events: list[dict]) -> None:
    resp = await client.post("/api/v1/ingest/events", content=json.dumps(events),
                             headers={"X-Server-Token": token, "Content-Type": "application/json"})
    assert resp.status_code == 202 and resp.json()["rejected"] == 0, resp.text


@pytest.fixture(scope="module")
async def site(client, app):
    """One server with an ended match (24 positioned kills) and a match still running."""
    tag = uuid.uuid4().hex[:6]
    server_name = f"Pages server {tag}"
    server_id, token = await new_server(client, server_name)
    done, running = "match_" + uuid.uuid4().hex[:16], "match_" + uuid.uuid4().hex[:16]
    await post_events(client, token, mohaa_match(done, tag))
    await post_events(client, token, mohaa_match(running, tag, kills=3, ended=False, map_name="dm/mohdm2"))
    await settle(app)
    return {"server_id": server_id, "server_name": server_name, "token": token, "done": done,
            "running": running, "tag": tag, "ada": f"g-Ada{tag}", "names": [f"{n}{tag}" for n in ("Ada", "Bert", "Cleo", "Dirk")]}


def is_page(text: str) -> bool:
    return text.lstrip().lower().startswith("<!doctype html>") and "</html>" in text


def test_vendored_htmx_matches_its_checksum():
    expected, name = (VENDOR / "htmx.min.js.sha256").read_text().split()
    assert name == "htmx.min.js"
    assert hashlib.sha256((VENDOR / "htmx.min.js").read_bytes()).hexdigest() == expected
    assert b"htmx" in (VENDOR / "htmx.min.js").read_bytes()[:200]


async def test_static_files_are_served(client):
    for path, kind in (("/static/vendor/htmx.min.js", "javascript"), ("/static/style.css", "text/css"),
                       ("/static/live.js", "javascript")):
        resp = await client.get(path)
        assert resp.status_code == 200 and kind in resp.headers["content-type"], path


async def test_home_shows_totals_activity_and_live_matches(client, site):
    resp = await client.get("/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert is_page(html)
    assert '<svg class="activity"' in html and 'class="bar"' in html
    assert 'data-live-feed="/api/v1/stream/live"' in html and 'hx-trigger="live-refresh"' in html
    assert f'data-match="{site["running"]}"' in html  # the running match is live
    assert "dm/mohdm2" in html and site["server_name"] in html
    overview = (await client.get("/api/v1/stats/overview")).json()
    assert f'{overview["totals"]["kills"]:,}' in html
    assert overview["totals"]["kills"] >= 27 and len(overview["activity"]["series"]) == 48


async def test_overview_json_route(client, site):
    body = (await client.get("/api/v1/stats/overview", params={"hours": 6, "server_id": site["server_id"]})).json()
    assert len(body["activity"]["series"]) == 6
    assert sum(h["kills"] for h in body["activity"]["series"]) == 27
    assert sum(h["matches"] for h in body["activity"]["series"]) == 2
    assert (await client.get("/api/v1/stats/overview", params={"hours": 0})).status_code == 400


async def test_leaderboard_page_matches_the_json_route(client, site):
    params = {"server_id": site["server_id"]}
    page = await client.get("/leaderboard", params=params)
    assert page.status_code == 200 and is_page(page.text)
    api = (await client.get("/api/v1/stats/leaderboard", params={**params, "limit": 25})).json()
    shown = re.findall(r'<td><a href="/player/[^"]+">([^<]+)</a></td>', page.text)
    assert shown == [p["player_name"] for p in api["players"]] and set(shown) == set(site["names"])
    assert 'id="filters"' in page.text and 'hx-get="/leaderboard"' in page.text
    assert page.headers["vary"] == "HX-Request"


async def test_leaderboard_filters_work_as_plain_get_forms(client, site):
    sid = site["server_id"]
    by_deaths = await client.get("/leaderboard", params={"stat": "deaths", "period": "week", "server_id": sid})
    assert by_deaths.status_code == 200 and '<option value="deaths" selected>' in by_deaths.text
    api = (await client.get("/api/v1/stats/leaderboard", params={"stat": "deaths", "period": "week",
                                                                  "server_id": sid})).json()
    shown = re.findall(r'<td><a href="/player/[^"]+">([^<]+)</a></td>', by_deaths.text)
    assert shown == [p["player_name"] for p in api["players"]]
    weapon = await client.get("/leaderboard", params={"weapon": "Kar98", "server_id": sid})
    assert weapon.status_code == 200 and 'data-kind="weapon"' in weapon.text and "Kills with <strong>Kar98" in weapon.text
    api = (await client.get("/api/v1/stats/leaderboard/weapon/Kar98", params={"server_id": sid})).json()
    assert re.findall(r'<td><a href="/player/[^"]+">([^<]+)</a></td>', weapon.text) == \
        [p["player_name"] for p in api["players"]]
    on_map = await client.get("/leaderboard", params={"map": "dm/mohdm6", "server_id": sid})
    assert 'data-kind="map"' in on_map.text and site["names"][0] in on_map.text
    both = await client.get("/leaderboard", params={"map": "dm/mohdm6", "weapon": "Kar98", "server_id": sid})
    assert both.status_code == 200 and "cannot be combined" in both.text


async def test_leaderboard_fragment_on_hx_request_and_paging(client, site):
    sid = site["server_id"]
    frag = await client.get("/leaderboard", params={"server_id": sid, "limit": 2}, headers=HX)
    assert frag.status_code == 200 and not is_page(frag.text)
    assert frag.text.lstrip().startswith('<div id="board"') and "<form" not in frag.text
    assert f'href="/leaderboard?server_id={sid}&amp;limit=2&amp;offset=2"' in frag.text  # next page link
    second = await client.get("/leaderboard", params={"server_id": sid, "limit": 2, "offset": 2}, headers=HX)
    ranks = re.findall(r'<td class="n">(\d+)</td>\s*<td><a href="/player/', second.text)
    assert ranks == ["3", "4"] and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    # A history restore needs the whole page even though htmx sends HX-Request with it.
    restore = await client.get("/leaderboard", params={"server_id": sid},
                               headers={**HX, "HX-History-Restore-Request": "true"})
    assert is_page(restore.text)


async def test_bad_parameters_are_html_400_pages(client):
    resp = await client.get("/leaderboard", params={"stat": "nonsense"})
    assert resp.status_code == 400 and is_page(resp.text) and "stat must be one of" in resp.text
    assert (await client.get("/leaderboard", params={"limit": "x"})).status_code == 400


async def test_player_page_with_heatmaps(client, site):
    resp = await client.get(f"/player/{site['ada']}")
    assert resp.status_code == 200 and is_page(resp.text)
    html = resp.text
    profile = (await client.get(f"/api/v1/stats/player/{site['ada']}")).json()
    assert f'<span class="big">{profile["totals"]["kills"]}</span>' in html
    assert all(w["weapon"] in html for w in profile["weapons"])
    assert "dm/mohdm6" in html and site["done"] in html
    heat = re.findall(r'<svg class="heatmap (kills|deaths)"', html)
    assert heat.count("kills") >= 1 and heat.count("deaths") >= 1
    cells = (await client.get(f"/api/v1/stats/player/{site['ada']}/heatmap/dm/mohdm6")).json()["cells"]
    first_svg = html.split('<svg class="heatmap kills"', 1)[1].split("</svg>", 1)[0]
    assert first_svg.count("<rect x=") == len(cells) > 0


async def test_heatmap_image_route(client, site):
    resp = await client.get("/heatmap/dm/mohdm6.svg", params={"player_id": site["ada"], "kind": "deaths"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
    assert resp.text.startswith('<svg class="heatmap deaths"') and "<rect x=" in resp.text


async def test_unknown_things_are_html_404_pages(client):
    for path in ("/player/nobody-" + uuid.uuid4().hex, "/match/nomatch-" + uuid.uuid4().hex, "/tournaments/987654",
                 "/tournaments/99999999999"):
        resp = await client.get(path)
        assert resp.status_code == 404 and is_page(resp.text) and "Not found" in resp.text, path


async def test_match_page_scoreboard_timeline_and_kill_map(client, site):
    resp = await client.get(f"/match/{site['done']}")
    assert resp.status_code == 200 and is_page(resp.text)
    html = resp.text
    board = (await client.get(f"/api/v1/stats/match/{site['done']}")).json()
    shown = re.findall(r'<tr><td><a href="/player/[^"]+">([^<]+)</a></td><td class="n">(\d+)</td>', html)
    assert [(n, int(k)) for n, k in shown] == [(p["player_name"], p["kills"]) for p in board["players"]]
    assert "Match started on dm/mohdm6" in html and "Match ended" in html
    assert html.count('<li class="ev player_kill') == 24
    killmap = html.split('<svg class="killmap"', 1)[1].split("</svg>", 1)[0]
    assert killmap.count('class="killer"') == 24 and killmap.count('class="victim"') == 24
    assert site["server_name"] in html


async def test_matches_servers_and_live_pages(client, site):
    matches = await client.get("/matches", params={"server_id": site["server_id"]})
    assert matches.status_code == 200 and site["done"] in matches.text and site["running"] in matches.text
    servers = await client.get("/servers")
    assert servers.status_code == 200 and site["server_name"] in servers.text
    assert f'href="/api/v1/servers/{site["server_id"]}/live"' in servers.text
    live = await client.get("/live")
    assert is_page(live.text) and site["running"] in live.text
    frag = await client.get("/live", headers=HX)
    assert not is_page(frag.text) and 'class="live-list"' in frag.text and site["running"] in frag.text
    assert site["done"] not in frag.text  # an ended match leaves the live list


async def test_tournament_pages_show_bracket_and_standings(client):
    name = f"Pages cup {uuid.uuid4().hex[:6]}"
    resp = await client.post("/api/v1/tournaments", json={"name": name, "format": "single_elimination"}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    tid = resp.json()["id"]
    for i, who in enumerate(["Alpha", "Bravo", "Charlie"]):
        r = await client.post(f"/api/v1/tournaments/{tid}/participants", json={"name": who, "seed": i + 1}, headers=ADMIN)
        assert r.status_code == 201, r.text
    assert (await client.post(f"/api/v1/tournaments/{tid}/start", headers=ADMIN)).status_code == 200
    ms = (await client.get(f"/api/v1/tournaments/{tid}/matches")).json()["matches"]
    ready = next(m for m in ms if m["status"] == "ready")
    r = await client.post(f"/api/v1/tournaments/{tid}/matches/{ready['id']}/result", json={"scores": [2, 1]}, headers=ADMIN)
    assert r.status_code == 200, r.text

    listing = await client.get("/tournaments")
    assert listing.status_code == 200 and name in listing.text and f'href="/tournaments/{tid}"' in listing.text
    page = await client.get(f"/tournaments/{tid}")
    assert page.status_code == 200 and is_page(page.text)
    html = page.text
    assert name in html and "Winners bracket" in html and 'id="standings"' in html
    assert html.count('class="bmatch') == len(ms)
    assert "bye" in html and all(who in html for who in ("Alpha", "Bravo", "Charlie"))
    assert re.search(r'<div class="side win">\s*<span class="seed">\d</span>\s*<span class="who">\w+</span>\s*'
                     r'<span class="pts">2</span>', html)
    standings = (await client.get(f"/api/v1/tournaments/{tid}/standings")).json()["standings"]
    rows = re.findall(r'<tr(?: class="dq")?><td class="n">([^<]+)</td><td>(\w+)', html)
    assert rows == [(s["place"], s["name"]) for s in standings]


async def test_openapi_describes_every_route(client, app):
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    from fragstats.openapi import flat_routes

    for full, route in flat_routes(app.routes):  # mounted routes too (`/api/v1/tournaments/...`)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", full)
        assert path in doc["paths"], path
        for method in route.methods - {"HEAD"}:
            op = doc["paths"][path][method.lower()]
            assert op["summary"] and op["description"], (method, path)
    board = doc["paths"]["/api/v1/stats/leaderboard"]["get"]
    params = {p["name"]: p["schema"] for p in board["parameters"]}
    assert params["stat"]["enum"] == ["kills", "deaths", "kd", "headshots", "accuracy", "damage_dealt", "suicides",
                                      "rating"]
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 500}
    player = doc["paths"]["/api/v1/stats/player/{player_id}/heatmap/{map_name}"]["get"]
    assert {p["name"] for p in player["parameters"] if p["in"] == "path"} == {"player_id", "map_name"}
    ingest = doc["paths"]["/api/v1/ingest/events"]["post"]
    assert ingest["security"] == [{"serverToken": []}] and "202" in ingest["responses"]
    kill = doc["components"]["schemas"]["PlayerKill"]
    assert kill["properties"]["type"] == {"enum": ["player_kill"]} and "attacker_x" in kill["properties"]
    assert "server_id" not in kill["properties"]  # server-owned, never sent
    refs = {r["$ref"] for r in doc["components"]["schemas"]["Event"]["oneOf"]}
    assert all(ref.rsplit("/", 1)[1] in doc["components"]["schemas"] for ref in refs) and len(refs) >= 20
    assert doc["paths"]["/api/v1/tournaments"]["post"]["security"] == [{"bearer": []}]


async def test_docs_page_renders_the_openapi_document(client):
    resp = await client.get("/docs")
    assert resp.status_code == 200 and is_page(resp.text)
    doc = (await client.get("/openapi.json")).json()
    for path in doc["paths"]:
        assert f"<code>{path}</code>" in resp.text, path
    assert "<code>player_kill</code>" in resp.text and "<script src=\"http" not in resp.text
