"""The players' pages in a real Chromium against a real `fragstats serve` holding the real Quake III
games.log and signing in through a real OpenID Connect provider: sign in, get a claim code on "my
identities", type it in game chat (the game server sends the chat line), see the identity linked, the
player and user pages with achievements, the achievements page, the device page, the activity page;
no page of ours logs a console error or fails a request.

Screenshots go to tests/artifacts/screenshots/ (untracked).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import httpx
import playwright.async_api as playwright_api
from oidc_provider_mock import User

from conftest import Q3_LOG
from helpers import cli
from openid_servers import oidc_provider

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"


async def test_sign_in_identities_and_achievements_pages_in_chromium(serve_factory):
    with oidc_provider([User(sub="carol", claims={"name": "Carol Danvers"})]) as (oidc_url, _):
        serve = serve_factory({"FRAGSTATS_OIDC_ISSUER": oidc_url, "FRAGSTATS_OIDC_CLIENT_ID": "pages",
                               "FRAGSTATS_OIDC_CLIENT_SECRET": "pages-secret", "FRAGSTATS_OIDC_NAME": "Test IdP",
                               "FRAGSTATS_DURABILITY": "memory", "FRAGSTATS_STATS_CACHE_S": "0"}).start()
        url = serve.url
        q3 = json.loads(cli("server", "add", "Code Miner Server", "--url", url))
        start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "rejected 0" in cli("import-log", str(Q3_LOG), "--url", url, "--token", q3["token"], "--start", start,
                                   "--no-progress")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not httpx.get(url + "/api/v1/achievements/recent").json()["unlocks"]:
            time.sleep(0.3)
        top = httpx.get(url + f"/api/v1/stats/leaderboard?server_id={q3['server_id']}").json()["players"][0]

        SHOTS.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []
        ours = lambda where: (where or "").startswith(url)  # noqa: E731 (the provider's own page is not ours)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"console: {m.text}")
                    if m.type == "error" and ours(m.location.get("url")) else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}") if ours(page.url) else None)
            page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}")
                    if r.status >= 400 and ours(r.url) else None)

            async def shot(name: str) -> None:
                await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

            await page.goto(url + "/me")  # not signed in: sent to the sign-in page
            assert page.url.startswith(url + "/signin")
            await shot("signin")
            await page.click("text=Sign in with Test IdP")
            await page.fill("input[name=sub]", "carol")
            await page.click("button:has-text('Authorize')")
            await page.wait_for_url(url + "/me")
            assert "Carol Danvers" in await page.inner_text("main")
            assert "None yet" in await page.inner_text("#identities")

            await page.click("button:has-text('Get a claim code')")
            code = (await page.inner_text("#claim-code")).split("!claim ")[1].split()[0]
            chat = {"type": "chat", "match_id": "pages-chat", "timestamp": 1, "player_name": top["player_name"],
                    "message": f"!claim {code}"}
            assert httpx.post(url + "/api/v1/ingest/events", json=[chat],
                              headers={"X-Server-Token": q3["token"]}).status_code == 202
            for _ in range(100):
                await page.goto(url + "/me")
                if top["player_id"] in await page.inner_text("#identities"):
                    break
                time.sleep(0.1)
            assert top["player_id"] in await page.inner_text("#identities")
            assert top["player_name"] in await page.inner_text("main")  # the names played under
            await shot("my-identities")

            await page.goto(url + "/achievements")
            assert await page.locator("#recent-unlocks li").count() > 0
            assert "First Blood" in await page.inner_text("#definitions")
            await shot("achievements")

            await page.goto(url + f"/player/{top['player_id']}")
            await page.wait_for_selector("table.achievements")
            assert "Claimed by" in await page.inner_text("main") and "unlocked" in await page.inner_text("table.achievements")
            await page.click("text=Carol Danvers")
            await page.wait_for_selector("table.achievements")
            assert str(top["kills"]) in await page.inner_text("section.cards")
            await shot("user-page")

            grant = httpx.post(url + "/api/v1/auth/device/init", json={"client": "OpenMOHAA"}).json()
            await page.goto(grant["verification_uri_complete"])
            await page.click("button:has-text('Approve')")
            assert "Done" in await page.inner_text("#device-result")
            assert httpx.post(url + "/api/v1/auth/device/poll", json={"device_code": grant["device_code"]}).status_code == 200
            await shot("device")

            await page.goto(url + "/activity?window=7d&bucket=6h")
            assert await page.locator("#events-chart svg rect.bar").count() == 28
            assert "player_kill" in await page.inner_text("main")
            await shot("activity")
            await browser.close()
        assert problems == []
