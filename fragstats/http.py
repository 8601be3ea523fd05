"""uvicorn's httptools protocol with one socket write per response instead of two.

uvicorn writes the status line and headers on `http.response.start` and the body on
`http.response.body`, each with its own `transport.write` — two `write` syscalls per response.
For small answers (an ingest 202) those syscalls were the event loop's largest self time under
load (py-spy --native: ~20% of the main thread). Here writes made in the same loop iteration are
joined and sent once, on the next iteration; `close()` sends what is pending first.

It also cuts slow clients, which uvicorn does not: its only timer is `timeout_keep_alive` (5 s),
armed after a response and cancelled by the first byte of the next request, so a client sending its
headers or its body a byte a second holds a connection (and its buffers) for ever; an idle new
connection has no timer at all (uvicorn's h11 limits do not apply to the httptools protocol). Here:
- headers: the request line and headers must arrive within `headers_timeout_s` of the request's
  first byte, else 408 and the connection is closed; a new connection that sends nothing at all
  within `headers_timeout_s` is closed without an answer.
- body: the whole body must arrive within `body_timeout_s` after the headers. Else 408 (when no
  response has started; the app sees the client disconnect) and the connection is closed. Time
  while we ourselves stop reading (the app has not taken the body yet, pipelining) is not counted
  against the client: the timer is re-armed.
uvicorn's `timeout_keep_alive` still governs the idle time between requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: %d\r\n\r\n%s")


class CoalescingTransport:
    """A transport proxy that joins the writes of one loop iteration into one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """`uvicorn.Config(http=CoalescingHttpToolsProtocol.configured(...))`: coalesced writes, and
    header and body timeouts (seconds; `on_timeout(phase)` is called with "headers" or "body" for
    each connection cut, e.g. to count it)."""

    headers_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    on_timeout: Callable[[str], None] | None = None

    @classmethod
    def configured(cls, *, headers_timeout_s: float, body_timeout_s: float,
                   on_timeout: Callable[[str], None] | None = None) -> type["CoalescingHttpToolsProtocol"]:
        """A subclass with these timeouts (uvicorn builds protocols from a class, one per connection)."""
        return type(cls.__name__, (cls,), {"headers_timeout_s": headers_timeout_s, "body_timeout_s": body_timeout_s,
                                           "on_timeout": staticmethod(on_timeout) if on_timeout else None})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))
        # One deadline per connection, for the phase it is in ("headers", "body", None: idle between
        # requests, uvicorn's keep-alive timer's business). The timer is armed only when a chunk of
        # data leaves a request incomplete: a request that arrives whole arms none (a call_later and
        # its cancel cost ~2 us each, ~10% of a bare request's time).
        self._timer: asyncio.TimerHandle | None = None
        self._partial = False  # part of a request's head has arrived
        self._phase: str | None = "headers"  # a new connection must send a request
        self._deadline = self.loop.time() + self.headers_timeout_s
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase is not None and (self._timer is None or self._timer.when() > self._deadline):
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(self._deadline, self._check)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._partial = True
        self._phase, self._deadline = "headers", self.loop.time() + self.headers_timeout_s

    def on_headers_complete(self) -> None:
        self._partial = False
        self._phase, self._deadline = "body", self.loop.time() + self.body_timeout_s
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = None  # a pending timer finds nothing to do (or a later phase's deadline)
        super().on_message_complete()

    def _check(self) -> None:
        self._timer = None
        phase = self._phase
        if phase is None or self.transport.is_closing():
            return
        now = self.loop.time()
        if now < self._deadline:
            self._arm()  # armed for an earlier phase; this one ends later
            return
        if phase == "body" and self.flow.read_paused:
            self._deadline = now + self.body_timeout_s  # we stopped reading, not the client: wait again
            self._arm()
            return
        self._phase = None
        cycle = self.cycle if phase == "body" else None
        answer = phase == "headers" and self._partial or cycle is not None and not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() gets http.disconnect, its response is dropped
            cycle.message_event.set()
        if answer:
            body = b'{"error":"request_timeout","detail":"request %s not received within %g s"}' % (
                phase.encode(), self.headers_timeout_s if phase == "headers" else self.body_timeout_s)
            self.transport.write(_TIMEOUT_408 % (len(body), body))
        self.transport.close()
        if self.on_timeout is not None:
            self.on_timeout(phase)

async def client_disconnect_handler(request: Request, exc: ClientDisconnect) -> Response:
    """Exception handler for `ClientDisconnect` (the client went away, or was cut by a timeout above,
    while the app read its body): nothing can be answered, and it is no server error, so no
    traceback. The 499 (nginx's "client closed request") is what the request metrics record."""
    return Response(status_code=499)
