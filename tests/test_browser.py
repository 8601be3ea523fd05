"""The pages in a real Chromium (Playwright, async) against a real `fragstats serve` holding the real
Quake III games.log: every page shows that data, leaderboard filters and paging swap only the table,
the live list follows the SSE feed while events arrive, and no page logs a console error.

Screenshots go to tests/artifacts/screenshots/ (untracked); their paths are printed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from conftest import ADMIN_TOKEN, Q3_LOG
from test_pages import mohaa_match

import playwright.async_api as playwright_api  # a test dependency (pyproject [test]); missing = fail, not skip

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Q3_DEATHS = 1069  # Kill lines in games.log (see test_e2e_q3)


def record_problems(page, problems: list[str]) -> None:
    """Append to `problems` every console error, page error and HTTP answer >= 400 of `page`."""
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "fragstats.cli", *args], capture_output=True, text=True, timeout=300,
                          env={"FRAGSTATS_ADMIN_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def load_data(url: str) -> dict:
    """Import games.log, add a positioned MOHAA match and a small tournament; wait until committed."""
    q3 = json.loads(cli("server", "add", "Code Miner Server", "--url", url))
    summary = cli("import-log", str(Q3_LOG), "--url", url, "--token", q3["token"], "--no-progress")
    assert "rejected 0" in summary, summary
    mohaa = json.loads(cli("server", "add", "MOHAA Omaha", "--url", url))
    match_id = "match_" + uuid.uuid4().hex[:16]
    resp = httpx.post(url + "/api/v1/ingest/events", json=mohaa_match(match_id, "", kills=40),
                      headers={"X-Server-Token": mohaa["token"]})
    assert resp.status_code == 202, resp.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        board = httpx.get(url + f"/api/v1/stats/leaderboard?server_id={q3['server_id']}&limit=500").json()
        mohaa_board = httpx.get(url + f"/api/v1/stats/leaderboard?server_id={mohaa['server_id']}").json()
        if sum(p["deaths"] for p in board["players"]) >= Q3_DEATHS and mohaa_board["total"] == 4:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("imported data never showed up")
    tid = httpx.post(url + "/api/v1/tournaments", json={"name": "Code Miner Cup", "format": "double_elimination"},
                     headers=ADMIN).json()["id"]
    for i, p in enumerate(board["players"][:6]):
        assert httpx.post(url + f"/api/v1/tournaments/{tid}/participants", json={"name": p["player_name"], "seed": i + 1},
                          headers=ADMIN).status_code == 201
    assert httpx.post(url + f"/api/v1/tournaments/{tid}/start", headers=ADMIN).status_code == 200
    for _ in range(3):
        ms = httpx.get(url + f"/api/v1/tournaments/{tid}/matches?status=ready").json()["matches"]
        for m in ms[:2]:
            assert httpx.post(url + f"/api/v1/tournaments/{tid}/matches/{m['id']}/result", json={"scores": [3, 1]},
                              headers=ADMIN).status_code == 200
    matches = httpx.get(url + f"/api/v1/stats/matches?server_id={q3['server_id']}&limit=100").json()["matches"]
    busiest = max(matches, key=lambda m: m["kills"])
    return {"q3": q3, "mohaa": mohaa, "board": board["players"], "match": busiest, "tournament": tid,
            "mohaa_match": match_id, "maps": sorted({m["map_name"] for m in matches})}


async def test_pages_in_real_chromium(serve_factory):
    serve = serve_factory().start()
    url = serve.url
    data = load_data(url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    problems: list[str] = []

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        record_problems(page, problems)

        async def visit(path: str, name: str, *texts: str) -> None:
            resp = await page.goto(url + path)
            assert resp.status == 200, path
            body = await page.inner_text("main")
            for text in texts:
                assert text in body, (path, text)
            shot = SHOTS / f"{name}.png"
            await page.screenshot(path=str(shot), full_page=True)
            shots.append(shot)

        top = data["board"][0]
        await visit("/", "home", top["player_name"], "Code Miner Server", f"{top['kills']}")
        assert await page.locator("svg.activity rect.bar").count() == 48
        await visit("/leaderboard", "leaderboard", *(p["player_name"] for p in data["board"]))
        await visit(f"/player/{top['player_id']}", "player", top["player_name"], *data["maps"])
        mohaa_ada = "g-Ada"
        await visit(f"/player/{mohaa_ada}", "player-heatmap", "Ada", "dm/mohdm6")
        assert await page.locator("svg.heatmap.kills rect[fill]").count() > 3
        m = data["match"]
        await visit(f"/match/{m['match_id']}", "match", m["map_name"], "Scoreboard", "killed")
        assert await page.locator("ol.timeline li.player_kill").count() >= m["kills"]
        await visit(f"/match/{data['mohaa_match']}", "match-killmap", "dm/mohdm6")
        assert await page.locator("svg.killmap circle.victim").count() == 40
        await visit("/matches", "matches", *data["maps"])
        await visit("/servers", "servers", "Code Miner Server", "MOHAA Omaha")
        await visit("/tournaments", "tournaments", "Code Miner Cup")
        await visit(f"/tournaments/{data['tournament']}", "tournament", "Winners bracket", "Losers bracket",
                    top["player_name"])
        await visit("/docs", "docs", "/api/v1/stats/leaderboard", "player_kill")

        # Filters swap the table only: a marker on window survives, the URL follows, the rows change.
        await page.goto(url + "/leaderboard")
        await page.evaluate("window.__stay = 42")
        first = await page.inner_text("#board-table tbody tr:first-child")
        async with page.expect_response(lambda r: "/leaderboard?" in r.url and r.request.headers.get("hx-request") == "true"):
            await page.select_option("select[name=stat]", "deaths")
        await page.wait_for_function("document.querySelector('#board-table th.sorted').textContent.trim() === 'Deaths'")
        most_deaths = max(data["board"], key=lambda p: p["deaths"])
        assert most_deaths["player_name"] in await page.inner_text("#board-table tbody tr:first-child")
        assert await page.inner_text("#board-table tbody tr:first-child") != first
        assert await page.evaluate("window.__stay") == 42 and "stat=deaths" in page.url
        weapon = "railgun"
        async with page.expect_response(lambda r: "weapon=railgun" in r.url):
            await page.select_option("select[name=weapon]", weapon)
        await page.wait_for_selector("#board-table[data-kind=weapon]")
        api = httpx.get(url + f"/api/v1/stats/leaderboard/weapon/{weapon}?limit=25").json()
        rows = await page.locator("#board-table tbody tr td:nth-child(2)").all_inner_texts()
        assert rows == [p["player_name"] for p in api["players"]]
        assert await page.evaluate("window.__stay") == 42
        await page.screenshot(path=str(SHOTS / "leaderboard-filtered.png"), full_page=True)
        shots.append(SHOTS / "leaderboard-filtered.png")

        # Paging swaps the table too.
        await page.goto(url + "/leaderboard?limit=3")
        await page.evaluate("window.__stay = 7")
        async with page.expect_response(lambda r: "offset=3" in r.url):
            await page.click("a[rel=next]")
        await page.wait_for_selector("#board-table[data-offset='3']")
        ranks = await page.locator("#board-table tbody tr td:first-child").all_inner_texts()
        assert ranks == ["4", "5", "6"] and await page.evaluate("window.__stay") == 7 and "offset=3" in page.url

        # The live list follows the SSE feed while events arrive.
        await page.goto(url + "/")
        await page.evaluate("window.__stay = 'live'")
        await page.wait_for_function("document.getElementById('live-status').textContent.includes('following')")
        live_id = "match_" + uuid.uuid4().hex[:16]
        events = mohaa_match(live_id, "Live", kills=2, ended=False, map_name="dm/mohdm7")
        token = {"X-Server-Token": data["mohaa"]["token"]}
        assert httpx.post(url + "/api/v1/ingest/events", json=events, headers=token).status_code == 202
        await page.wait_for_selector(f'#live [data-match="{live_id}"]', timeout=15_000)
        before = await page.inner_text(f'#live [data-match="{live_id}"]')
        more = mohaa_match(live_id, "Live", kills=8, ended=False, map_name="dm/mohdm7")[3:]
        assert httpx.post(url + "/api/v1/ingest/events", json=more, headers=token).status_code == 202
        await page.wait_for_function(
            "([id, old]) => { const el = document.querySelector(`#live [data-match=\"${id}\"]`);"
            " return el && el.innerText !== old; }", arg=[live_id, before], timeout=15_000)
        after = await page.inner_text(f'#live [data-match="{live_id}"]')
        assert re.search(r"\d+/\d+", after) and after != before
        assert await page.evaluate("window.__stay") == "live"
        await page.screenshot(path=str(SHOTS / "home-live.png"), full_page=True)
        shots.append(SHOTS / "home-live.png")
        await browser.close()

    print("\nscreenshots:\n" + "\n".join(f"  {s}" for s in shots))
    assert not problems, problems
