"""Sign-in providers: any OpenID Connect issuer and Discord (OAuth 2.0) through authlib, Steam
(OpenID 2.0) through python3-openid. Each is on when its settings are set (README, settings).

A provider has two steps: `begin(redirect_uri, state)` gives the URL to send the browser to and the
data to keep until it comes back (PKCE verifier, OIDC nonce); `finish(params, redirect_uri, data)`
turns the provider's answer into an `Account`. State, PKCE (S256) and the nonce are authlib's;
keeping the state and binding it to the browser is `identity.signin`'s.

- OIDC: discovery from `<issuer>/.well-known/openid-configuration`; scope `openid profile email`;
  the ID token is verified by authlib (signature from the issuer's JWKS, `iss`, `aud`, `exp`,
  nonce). Subject: `sub`.
- Discord: authorization code + PKCE against `<FRAGSTATS_DISCORD_API_URL>/oauth2/...`, scope
  `identify`; the account from `GET /users/@me` (`id`, `global_name` or `username`, `avatar`).
- Steam: OpenID 2.0 with identifier select at `FRAGSTATS_STEAM_OPENID_URL`; the assertion is
  verified with the provider directly (stateless "check_authentication", python3-openid's
  consumer); the claimed id must be `<that URL>/id/<SteamID64>`. Steam tells no name: the display
  name starts as `Steam <id>` (the user may change it).
"""

from __future__ import annotations

import asyncio
import functools
import re
import urllib.request
from dataclasses import dataclass

from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import JoseError
from openid import fetchers
from openid.consumer import consumer as openid_consumer

from fragstats.errors import ApiError


@dataclass(frozen=True)
class Account:
    """A provider's account: `subject` is its stable id at that provider."""

    subject: str
    display_name: str
    avatar_url: str | None = None
    email: str | None = None


class SignInFailed(Exception):
    """The provider refused or its answer did not verify (shown to the person, 400)."""


class OidcProvider:
    """Any OpenID Connect issuer (authorization code + PKCE, verified ID token)."""

    kind = "oidc"

    def __init__(self, oauth: OAuth, issuer: str, client_id: str, client_secret: str | None, label: str,
                 timeout_s: float):
        self.label = label
        self.client = oauth.register(
            "oidc", client_id=client_id, client_secret=client_secret,
            server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256", "timeout": timeout_s})

    async def begin(self, redirect_uri: str, state: str) -> tuple[str, dict]:
        rv = await self.client.create_authorization_url(redirect_uri, state=state)
        return rv["url"], {"code_verifier": rv["code_verifier"], "nonce": rv["nonce"]}

    async def finish(self, params: dict, redirect_uri: str, data: dict) -> Account:
        token = await self.client.fetch_access_token(redirect_uri=redirect_uri, code=params.get("code", ""),
                                                     code_verifier=data["code_verifier"])
        claims = await self.client.parse_id_token(token, nonce=data["nonce"])
        if not claims or not claims.get("sub"):
            raise SignInFailed("the provider's ID token names no subject")
        name = claims.get("name") or claims.get("preferred_username") or claims.get("nickname") \
            or (claims.get("email") or "").split("@")[0] or f"player {claims['sub'][:12]}"
        return Account(str(claims["sub"]), name, claims.get("picture"), claims.get("email"))


class DiscordProvider:
    """Discord as an OAuth 2.0 provider (it has no OIDC ID token)."""

    kind = "discord"
    label = "Discord"

    def __init__(self, oauth: OAuth, api_url: str, client_id: str, client_secret: str | None, timeout_s: float):
        api = api_url.rstrip("/")
        self.client = oauth.register(
            "discord", client_id=client_id, client_secret=client_secret,
            authorize_url=api + "/oauth2/authorize", access_token_url=api + "/oauth2/token", api_base_url=api + "/",
            client_kwargs={"scope": "identify", "code_challenge_method": "S256", "timeout": timeout_s,
                           "token_endpoint_auth_method": "client_secret_post"})

    async def begin(self, redirect_uri: str, state: str) -> tuple[str, dict]:
        rv = await self.client.create_authorization_url(redirect_uri, state=state)
        return rv["url"], {"code_verifier": rv["code_verifier"]}

    async def finish(self, params: dict, redirect_uri: str, data: dict) -> Account:
        token = await self.client.fetch_access_token(redirect_uri=redirect_uri, code=params.get("code", ""),
                                                     code_verifier=data["code_verifier"])
        resp = await self.client.get("users/@me", token=token)
        resp.raise_for_status()
        me = resp.json()
        if not me.get("id"):
            raise SignInFailed("Discord did not say who signed in")
        avatar = f"https://cdn.discordapp.com/avatars/{me['id']}/{me['avatar']}.png" if me.get("avatar") else None
        return Account(str(me["id"]), me.get("global_name") or me.get("username") or f"discord {me['id']}", avatar)


class _TimeoutFetcher(fetchers.Urllib2Fetcher):
    """python3-openid's urllib fetcher with a timeout (its own has none)."""

    def __init__(self, timeout_s: float):
        self.urlopen = functools.partial(urllib.request.urlopen, timeout=timeout_s)


class SteamProvider:
    """Steam's OpenID 2.0 (identifier select; stateless verification with the provider)."""

    kind = "steam"
    label = "Steam"

    def __init__(self, endpoint: str, timeout_s: float):
        self.endpoint = endpoint.rstrip("/")
        self._claimed = re.compile(re.escape(self.endpoint) + r"/id/(\d{1,20})")
        # python3-openid reads its fetcher from a module global: set once, here.
        fetchers.setDefaultFetcher(_TimeoutFetcher(timeout_s))

    @staticmethod
    def _return_to(redirect_uri: str, state: str) -> str:
        return f"{redirect_uri}?state={state}"

    async def begin(self, redirect_uri: str, state: str) -> tuple[str, dict]:
        def begin() -> str:
            request = openid_consumer.Consumer({}, None).begin(self.endpoint)
            realm = redirect_uri.split("/", 3)
            return request.redirectURL("/".join(realm[:3]) + "/", self._return_to(redirect_uri, state))

        try:
            url = await asyncio.to_thread(begin)
        except (openid_consumer.DiscoveryFailure, OSError) as exc:
            raise ApiError(502, "provider_unavailable", f"Steam's OpenID provider cannot be reached: {exc}") from None
        return url, {}

    async def finish(self, params: dict, redirect_uri: str, data: dict) -> Account:
        current = self._return_to(redirect_uri, params.get("state", ""))

        def complete():
            return openid_consumer.Consumer({}, None).complete(dict(params), current)

        response = await asyncio.to_thread(complete)
        if response.status != openid_consumer.SUCCESS:
            raise SignInFailed(f"Steam sign-in did not succeed ({response.status}: "
                               f"{getattr(response, 'message', '') or 'no reason given'})")
        m = self._claimed.fullmatch(response.identity_url or "")
        if not m:
            raise SignInFailed("the OpenID assertion is not a Steam id of the configured provider")
        return Account(m.group(1), f"Steam {m.group(1)}")


def configured(settings) -> dict[str, object]:
    """The providers the settings turn on, by kind (`oidc`, `discord`, `steam`), in that order."""
    oauth = OAuth()
    out: dict[str, object] = {}
    if settings.oidc_issuer and settings.oidc_client_id:
        out["oidc"] = OidcProvider(oauth, settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret,
                                   settings.oidc_name, settings.signin_timeout_s)
    if settings.discord_client_id:
        out["discord"] = DiscordProvider(oauth, settings.discord_api_url, settings.discord_client_id,
                                         settings.discord_client_secret, settings.signin_timeout_s)
    if settings.steam_openid_url:
        out["steam"] = SteamProvider(settings.steam_openid_url, settings.signin_timeout_s)
    return out


# What a provider's refusal or an answer that does not verify raises (a bad or replayed code, an ID
# token with a wrong signature, issuer, audience, nonce or expiry): 400 for the person, not a 500.
PROVIDER_ERRORS = (OAuthError, SignInFailed, JoseError)
