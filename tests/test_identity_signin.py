"""Sign-in against real providers running here: an OpenID Connect provider (oidc-provider-mock:
authlib's authorization server, signed ID tokens, nonce required) and a Steam-shaped OpenID 2.0
provider (python3-openid's server), with a real `fragstats serve`. Then the session: the signed
cookie, API tokens with rotation and revocation, `GET/PATCH /api/v1/users/me`, sign-out.
"""

from __future__ import annotations

import urllib.parse

import httpx
import pytest
from oidc_provider_mock import User

from conftest import ServeProcess
from openid_servers import oidc_provider, openid2_provider

ALICE = User(sub="alice-0001", claims={"name": "Alice Liddell", "email": "alice@example.org",
                                       "picture": "https://example.org/alice.png"})


@pytest.fixture(scope="module")
def providers():
    with oidc_provider([ALICE]) as (oidc_url, _), openid2_provider() as steam:
        yield oidc_url, steam


@pytest.fixture(scope="module")
def served(tmp_path_factory, providers):
    oidc_url, steam = providers
    proc = ServeProcess(tmp_path_factory.mktemp("signin"), {
        "FRAGSTATS_OIDC_ISSUER": oidc_url, "FRAGSTATS_OIDC_CLIENT_ID": "fragstats-test",
        "FRAGSTATS_OIDC_CLIENT_SECRET": "s3cret", "FRAGSTATS_OIDC_NAME": "Test IdP",
        "FRAGSTATS_STEAM_OPENID_URL": steam.base, "FRAGSTATS_DURABILITY": "memory"})
    proc.start()
    yield proc
    proc.stop()


def oidc_sign_in(url: str, sub: str, next_: str = "/me") -> httpx.Client:
    """A browser (cookie jar) that signed in as `sub` through the OIDC provider's consent form."""
    browser = httpx.Client(base_url=url, timeout=30)
    start = browser.get(f"/auth/oidc/login?next={urllib.parse.quote(next_)}")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["nonce"] and query["state"]
    consent = httpx.post(authorize, data={"sub": sub}, timeout=30)  # the person clicks "allow" as `sub`
    assert consent.status_code == 302, consent.text
    back = consent.headers["location"]
    assert back.startswith(url + "/auth/oidc/callback?")
    done = browser.get(back.removeprefix(url))
    assert done.status_code == 302, done.text
    assert done.headers["location"] == next_
    assert "fs_session" in browser.cookies
    return browser


def test_oidc_sign_in_makes_one_user_per_account_and_a_session(served):
    browser = oidc_sign_in(served.url, ALICE.sub)
    me = browser.get("/api/v1/users/me").json()
    assert me["display_name"] == "Alice Liddell" and me["avatar_url"] == "https://example.org/alice.png"
    assert me["role"] == "player" and me["identities"] == 0
    again = oidc_sign_in(served.url, ALICE.sub).get("/api/v1/users/me").json()
    assert again["user_id"] == me["user_id"]
    other = oidc_sign_in(served.url, "bob@example.org").get("/api/v1/users/me").json()
    assert other["user_id"] != me["user_id"] and other["display_name"] == "bob"

    cookie = browser.cookies["fs_session"]
    assert httpx.get(served.url + "/api/v1/users/me", cookies={"fs_session": cookie + "x"}).status_code == 401
    patched = browser.patch("/api/v1/users/me", json={"display_name": "  Alice  L. ", "country": "gb"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["display_name"] == "Alice L." and patched.json()["country"] == "GB"
    assert browser.patch("/api/v1/users/me", json={"country": "Gondor"}).status_code == 422
    assert browser.patch("/api/v1/users/me", json={"avatar_url": "javascript:alert(1)"}).status_code == 422
    cross = browser.patch("/api/v1/users/me", json={"display_name": "x"}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and cross.json()["error"] == "cross_site"

    out = browser.post("/auth/logout")
    assert out.status_code == 303
    assert httpx.get(served.url + "/api/v1/users/me", cookies={"fs_session": cookie}).status_code == 401


def test_api_tokens_refresh_rotate_and_revoke(served):
    browser = oidc_sign_in(served.url, ALICE.sub)
    assert httpx.post(served.url + "/api/v1/auth/token").status_code == 401
    tokens = browser.post("/api/v1/auth/token", json={"client": "stats bot"}).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    api = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert api.get("/api/v1/users/me").json()["display_name"]
    renewed = httpx.post(served.url + "/api/v1/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200 and renewed.json()["refresh_token"] != tokens["refresh_token"]
    reused = httpx.post(served.url + "/api/v1/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The rotated-away session's access token stopped with it.
    assert api.get("/api/v1/users/me").status_code == 401
    fresh = renewed.json()
    bearer = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert httpx.get(served.url + "/api/v1/users/me", headers=bearer).status_code == 200
    assert httpx.post(served.url + "/api/v1/auth/token/revoke", json={"token": fresh["refresh_token"]}).json() == {"revoked": True}
    assert httpx.get(served.url + "/api/v1/users/me", headers=bearer).status_code == 401


def test_the_state_is_single_use_and_bound_to_the_browser(served):
    browser = httpx.Client(base_url=served.url)
    start = browser.get("/auth/oidc/login")
    consent = httpx.post(start.headers["location"], data={"sub": ALICE.sub})
    callback = consent.headers["location"].removeprefix(served.url)
    stranger = httpx.get(served.url + callback)  # another browser, without the sign-in cookie
    assert stranger.status_code == 400 and stranger.json()["error"] == "signin_failed"
    assert browser.get(callback).status_code == 302
    replay = browser.get(callback)
    assert replay.status_code == 400 and replay.json()["error"] == "signin_failed"
    assert httpx.get(served.url + "/auth/discord/login").status_code == 404  # not configured here
    assert httpx.get(served.url + "/auth/oidc/login?next=//evil.example/x").status_code == 302


def steam_sign_in(url: str) -> httpx.Response:
    browser = httpx.Client(base_url=url, timeout=30)
    start = browser.get("/auth/steam/login?next=/achievements")
    assert start.status_code == 302, start.text
    assertion = httpx.get(start.headers["location"], timeout=30)  # the OP answers checkid_setup at once
    assert assertion.status_code == 302, assertion.text
    back = browser.get(assertion.headers["location"].removeprefix(url))
    return back, browser


def test_steam_openid2_sign_in(served, providers):
    _, steam = providers
    steam.steam_id, steam.approve = "76561197960287930", True
    back, browser = steam_sign_in(served.url)
    assert back.status_code == 302 and back.headers["location"] == "/achievements", back.text
    me = browser.get("/api/v1/users/me").json()
    assert me["display_name"] == "Steam 76561197960287930"
    again = steam_sign_in(served.url)[1].get("/api/v1/users/me").json()
    assert again["user_id"] == me["user_id"]
    steam.approve = False
    refused, _ = steam_sign_in(served.url)
    assert refused.status_code == 400 and refused.json()["error"] == "signin_failed"
    steam.approve = True


async def test_discord_authorization_request_uses_pkce_and_the_identify_scope():
    """Discord's real endpoints cannot be reached from here: the request we send it is checked."""
    from fragstats.settings import Settings
    from identity.providers import configured

    providers = configured(Settings(discord_client_id="1234", discord_client_secret="s"))
    assert list(providers) == ["discord"]
    url, data = await providers["discord"].begin("https://stats.example/auth/discord/callback", "st4te")
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://discord.com/api/oauth2/authorize"
    assert query["client_id"] == "1234" and query["scope"] == "identify" and query["state"] == "st4te"
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == "https://stats.example/auth/discord/callback" and len(data["code_verifier"]) >= 43
