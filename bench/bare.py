"""A bare ASGI app beside `fragstats serve`: the same server stack (uvicorn, uvloop, the httptools
protocol `fragstats serve` runs, one process) answering every POST with the 202 body our ingest
route gives one accepted event, without reading anything into it. What the HTTP layer alone
allows on this machine: the yardstick of the 1-event-request target (issue 12: ≥ 0.5x of it).

`python -m bench.bare --port N` serves until SIGTERM.
"""

from __future__ import annotations

import argparse

import uvicorn

from fragstats.http import CoalescingHttpToolsProtocol

BODY = b'{"accepted":1,"rejected":0,"errors":[]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send) -> None:
    """ASGI: drain the request body, answer 202 with `BODY`."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.bare")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    protocol = CoalescingHttpToolsProtocol.configured(headers_timeout_s=10, body_timeout_s=60)
    uvicorn.run(app, host="127.0.0.1", port=args.port, http=protocol, loop="uvloop", access_log=False,
                lifespan="off", log_level="warning")


if __name__ == "__main__":
    main()
