"""Failed authentications: logged, counted, and limited per client address.

Every failed authentication (a missing, unknown or revoked server token, API key or admin token) is
logged once at WARNING with the client address, the credential kind and the path, never the
credential itself (at most the first 8 hex digits of its SHA-256, which tell one wrong token sent
again and again from many different ones), and counted in `fragstats_auth_failures_total{kind}`.

The limit: an address may fail `burst` times at once, and its allowance refills at `refill_per_s`
(a token bucket, kept as one "theoretical arrival time" per address: GCRA). Past it, further
*failed* attempts from that address are answered 429 with `Retry-After` (whole seconds) instead of
401, counted in `fragstats_auth_limited_total{kind}` and logged once per episode (until the address
has been quiet long enough for its bucket to fill again), not per request.
A correct credential is never refused, from any address: what is limited is failing, so a game
server sharing an address (a NAT, a host) with a misconfigured one keeps sending. Tokens are 256
random bits, so this is not what stops guessing; it stops a client stuck on a wrong token from
flooding the log and Postgres, and tells it to back off. (An admin token you choose yourself with
`FRAGSTATS_ADMIN_TOKEN` should be as long.)

The address is the connection's peer (`request.client`). Behind a reverse proxy that is the proxy,
unless `FRAGSTATS_FORWARDED_ALLOW_IPS` names it: then uvicorn takes the client from its
`X-Forwarded-For` (a header nobody else can set for us). IPv6 addresses are grouped by their /64,
the block one host usually holds.

Memory: at most `max_addresses` addresses are tracked (`cachetools.TTLCache`: an entry is dropped
once its bucket is full again, and the least recently used first when the cache is full; a dropped
address starts again with a full bucket).

Why not the `limits` package: its in-memory storage has no size bound, and its expiry thread scans
every key every 10 ms while failures arrive (measured here: 10 % of a core with 10,000 tracked
addresses, 40 % with 100,000) — one failing address per key is exactly what an attack creates.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable

from cachetools import TTLCache
from starlette.requests import Request

from fragstats.errors import ApiError

log = logging.getLogger("fragstats.auth")

KINDS = ("server_token", "api_key", "admin_token")
_BEARER = {"WWW-Authenticate": "Bearer"}


def client_address(request: Request) -> str:
    """The address failures are counted under: the peer's IPv4 address, or its IPv6 /64."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return host


def credential_hint(credential: str | None) -> str:
    """What the log may say about a credential: absent, or the start of its SHA-256."""
    if not credential:
        return "no credential"
    return "credential sha256:" + hashlib.sha256(credential.encode()).hexdigest()[:8]


class FailedAuth:
    """Failure accounting of one process: `refuse(...)` gives the error to raise (401, or 429)."""

    def __init__(self, burst: int = 20, refill_per_s: float = 1.0, max_addresses: int = 50_000, metrics=None,
                 clock: Callable[[], float] = time.monotonic):
        if burst < 1 or refill_per_s <= 0 or max_addresses < 1:
            raise ValueError("burst >= 1, refill_per_s > 0 and max_addresses >= 1 are required")
        self.burst = burst
        self.refill_per_s = refill_per_s
        self.metrics = metrics
        self._interval = 1.0 / refill_per_s
        self._capacity = burst * self._interval
        self._clock = clock
        # address -> (theoretical arrival time, already logged as limited in this episode)
        self._state: TTLCache = TTLCache(maxsize=max_addresses, ttl=self._capacity, timer=clock)

    @classmethod
    def from_settings(cls, settings, metrics=None) -> "FailedAuth":
        return cls(settings.auth_failure_burst, settings.auth_failure_refill_per_s,
                   settings.auth_failure_max_addresses, metrics)

    def tracked(self) -> int:
        """Addresses tracked now (for tests and debugging)."""
        self._state.expire()
        return len(self._state)

    def record(self, address: str) -> tuple[float | None, bool]:
        """Count one failure of `address`: (None, _) while within the limit, else (seconds until the
        next failure would be within it, whether this episode of being over it was already logged)."""
        now = self._clock()
        tat, reported = self._state.get(address, (now, False))
        tat = max(tat, now)
        wait = tat + self._interval - now - self._capacity
        if wait > 1e-9:
            self._state[address] = (tat, True)
            return wait, reported
        # An episode ends when the entry expires, i.e. once the bucket is full again: a steady flood
        # logs its 401s (about `refill_per_s` a second) and one line for all its 429s.
        self._state[address] = (tat + self._interval, reported)
        return None, reported

    def wait_for(self, address: str) -> float | None:
        """Without counting anything: None when one more failure of `address` would be within the
        limit, else the seconds until it would be. For secrets small enough to guess (short codes),
        callers check this *before* checking the secret, so that past the limit nothing is checked."""
        now = self._clock()
        tat = max(self._state.get(address, (now, False))[0], now)
        wait = tat + self._interval - now - self._capacity
        return wait if wait > 1e-9 else None

    def remaining(self, address: str) -> int:
        """How many more failures `address` may make now before it is over the limit."""
        now = self._clock()
        tat = max(self._state.get(address, (now, False))[0], now)
        return max(0, int((self._capacity - (tat - now)) / self._interval + 1e-9))

    def refuse(self, request: Request, kind: str, credential: str | None, detail: str) -> ApiError:
        """Log and count one failed authentication of `kind` (one of `KINDS`) and return the error to
        raise: 401 `unauthorized` with `detail`, or 429 `too_many_failed_auth` with `Retry-After`."""
        address = client_address(request)
        wait, reported = self.record(address)
        if self.metrics is not None:
            self.metrics.auth_failures.labels(kind).inc()
        if wait is None:
            log.warning("failed authentication: %s from %s on %s %s (%s)", kind, address, request.method,
                        request.url.path, credential_hint(credential))
            return ApiError(401, "unauthorized", detail, _BEARER)
        if self.metrics is not None:
            self.metrics.auth_limited.labels(kind).inc()
        retry_after = max(1, math.ceil(wait))
        if not reported:
            log.warning("failed authentication: %s from %s is over the limit (%d at once, then %g/s); its further"
                        " failures are answered 429 without a log line each", kind, address, self.burst,
                        self.refill_per_s)
        return ApiError(429, "too_many_failed_auth",
                        f"too many failed authentications from this address; retry after {retry_after} s",
                        {"Retry-After": str(retry_after), **_BEARER})
