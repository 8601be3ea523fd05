"""The upload pages in a real Chromium (Playwright) against a real `fragstats serve`: reports (list,
one report, one fight, with the damage-over-time chart), rankings, kingdoms (leaderboard and diff),
each showing the uploaded data, none logging a console error. Screenshots go to
tests/artifacts/screenshots/ (untracked)."""

from __future__ import annotations

import time

import httpx
import playwright.async_api as playwright_api

from conftest import ADMIN
from test_browser import ARGS, CHROMIUM, SHOTS, record_problems
from test_uploads_snapshots import csv_of, governors, workbook
from uploads_data import body, encounter, meter_encounter


def load(url: str) -> dict:
    with httpx.Client(base_url=url, timeout=30) as c:
        key = c.post("/api/v1/keys", json={"name": "pages", "scopes": ["upload"]}, headers=ADMIN).json()["key"]
        hdr = {"X-API-Key": key}
        codes = []
        for i in range(3):
            doc = encounter(f"page-{i}", seed=40 + i, boss="Tina the Tempest", players=5, hits=60,
                            started_at_ms=1_767_225_600_000 + i * 3_600_000)
            r = c.post("/api/v1/encounters", content=body(doc), headers=hdr)
            assert r.status_code == 201, r.text
            codes.append((r.json()["reportId"], doc))
        meter = c.post("/api/v1/upload/", json={"encounters": [meter_encounter(local_player=50_000)]}, headers=hdr)
        assert meter.status_code == 200, meter.text
        import datetime as dt

        assert c.post("/api/v1/snapshots?realm=K-77", content=workbook(governors(1), dt.datetime(2026, 11, 1, 12)),
                      headers=hdr).status_code == 201
        assert c.post("/api/v1/snapshots?realm=K-77&date=2026-11-08", content=csv_of(governors(2)),
                      headers={**hdr, "Content-Type": "text/csv"}).status_code == 201
        deadline = time.monotonic() + 60
        while c.get("/api/v1/encounters?limit=10").json()["reports"][0]["status"] != "ready" or any(
                r["status"] != "ready" for r in c.get("/api/v1/encounters?limit=10").json()["reports"]):
            assert time.monotonic() < deadline, "reports not parsed"
            time.sleep(0.3)
    return {"codes": codes}


async def test_upload_pages_in_real_chromium(serve_factory):
    serve = serve_factory().start()
    data = load(serve.url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        record_problems(page, problems)

        async def visit(path: str, name: str, *texts: str) -> None:
            resp = await page.goto(serve.url + path)
            assert resp.status == 200, path
            text = await page.inner_text("main")
            for t in texts:
                assert t in text, (path, t)
            await page.screenshot(path=str(SHOTS / f"uploads-{name}.png"), full_page=True)

        code, doc = data["codes"][0]
        await visit("/reports", "reports", code, "Tina the Tempest", "Goblin King")
        assert await page.locator("table.reports tbody tr").count() == 4
        await visit(f"/reports/{code}", "report", "Tina the Tempest", *(p["name"] for p in doc["players"]))
        assert await page.locator("svg.dps-chart polyline.series").count() == 5  # one line per player
        assert await page.locator("table.parses tbody tr").count() == 5
        await visit(f"/reports/{code}/fights/0", "fight", "fight 0")
        assert await page.locator("svg.dps-chart polyline.series").count() == 5
        await visit("/rankings?boss=Tina%20the%20Tempest", "rankings", "Tina the Tempest", "Brackets")
        assert await page.locator("table.rankings tbody tr").count() == 15
        assert await page.locator("svg.dps-chart polyline.series").count() == 1  # the best parse
        await visit("/rankings?boss=Goblin%20King", "rankings-meter", "Hero0")
        await visit("/kingdoms", "kingdoms", "K-77")
        await visit("/kingdoms/K-77?metric=kill_points", "kingdom", "ʟᴏʀᴅ 龍", "Newcomer")
        assert await page.locator("table.kingdom tbody tr").count() == 5
        await visit("/kingdoms/K-77/diff?from=2026-11-01&to=2026-11-08&metric=power", "kingdom-diff", "Newcomer", "Gone")
        assert await page.locator("table.diff-gone tbody tr").count() == 1
        seen = len(problems)
        resp = await page.goto(serve.url + "/reports/nope")
        assert resp.status == 404 and "nope" in await page.inner_text("main")
        del problems[seen:]  # the 404 itself is logged by Chromium; it is what we asked for
        await browser.close()
    assert not problems, problems
