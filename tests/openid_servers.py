"""Real sign-in providers for the tests, on this machine:

- `oidc_provider(users)`: an OpenID Connect provider (the `oidc-provider-mock` package: authlib's
  authorization server with discovery, JWKS-signed ID tokens, nonce checks) in a thread;
- `openid2_provider()`: an OpenID 2.0 provider shaped like Steam's (python3-openid's own server
  implementation: XRDS discovery of an OP identifier at `/openid`, `checkid_setup` answered for the
  SteamID64 given, `check_authentication` for stateless relying parties) in a thread.

Both answer a sign-in at once for the account the test chooses, like a person who clicked "allow".
"""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import oidc_provider_mock
from openid.server import server as openid_server
from openid.store.memstore import MemoryStore

_XRDS = """<?xml version="1.0" encoding="UTF-8"?>
<xrds:XRDS xmlns:xrds="xri://$xrds" xmlns="xri://$xrd*($v*2.0)"><XRD><Service priority="0">
<Type>{type}</Type><URI>{uri}</URI></Service></XRD></xrds:XRDS>"""


@contextlib.contextmanager
def oidc_provider(users=()):
    """`(base URL, server)` of a running OIDC provider with `users` (`oidc_provider_mock.User`s)."""
    with oidc_provider_mock.run_server_in_thread(require_nonce=True, user_claims=list(users)) as server:
        yield f"http://localhost:{server.server_port}", server


class OpenId2Provider:
    """State of the OpenID 2.0 provider: which SteamID64 the next sign-in answers with."""

    def __init__(self):
        self.steam_id = "76561197960287930"
        self.approve = True
        self.base = ""
        self.server: openid_server.Server | None = None


@contextlib.contextmanager
def openid2_provider():
    """`OpenId2Provider` with `.base` = `http://127.0.0.1:<port>/openid` (give it as the Steam URL)."""
    state = OpenId2Provider()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, query: dict):
            path = urllib.parse.urlsplit(self.path).path
            endpoint = state.base + "/login"
            if path == "/openid":
                xrds = _XRDS.format(type="http://specs.openid.net/auth/2.0/server", uri=endpoint)
                return self._send(200, xrds.encode(), {"Content-Type": "application/xrds+xml"})
            if path.startswith("/openid/id/"):
                xrds = _XRDS.format(type="http://specs.openid.net/auth/2.0/signon", uri=endpoint)
                return self._send(200, xrds.encode(), {"Content-Type": "application/xrds+xml"})
            if path != "/openid/login":
                return self._send(404)
            request = state.server.decodeRequest(query)
            if request.mode in ("checkid_setup", "checkid_immediate"):
                claimed = f"{state.base}/id/{state.steam_id}"
                response = request.answer(state.approve, identity=claimed, claimed_id=claimed)
            else:
                response = state.server.handleRequest(request)
            web = state.server.encodeResponse(response)
            return self._send(web.code, web.body.encode() if isinstance(web.body, str) else web.body, web.headers)

        def do_GET(self):
            self._handle(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)))

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            self._handle(dict(urllib.parse.parse_qsl(self.rfile.read(length).decode())))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}/openid"
    state.server = openid_server.Server(MemoryStore(), state.base + "/login")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
