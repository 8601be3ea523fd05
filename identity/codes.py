"""Short codes a person types (device user codes, claim codes, game login codes), and the limit on
guessing them.

A code is 8 characters of a 32-symbol alphabet without the look-alikes 0/O and 1/I: 40 random bits
(RFC 8628 §6.1 asks for enough entropy that a code cannot be guessed within its lifetime and the
rate limit). It is shown as `ABCD-EFGH`; typing it, case, dashes and blanks do not matter.

Stored: only `code_hash(secret, code)`, an HMAC-SHA256 keyed with the session secret, so a copy of
the database cannot be searched for the 2^40 codes offline.

Guessing (`CodeGuard`): every wrong code is counted per client address (or per game player for a
code typed in chat) with the failed-authentication limiter of the kernel (`fragstats.auth_failures`,
a token bucket of `FRAGSTATS_CODE_FAILURE_BURST` refilled at `FRAGSTATS_CODE_FAILURE_REFILL_PER_S`).
Unlike a 256-bit token, a short code could be found by trying, so once an address is over its
limit *no code from it is checked at all* (429 + Retry-After), right or wrong: 10,000 guesses
from one address cost it at most the burst plus the refill in checked codes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets

from prometheus_client import Counter

from fragstats.auth_failures import FailedAuth
from fragstats.errors import ApiError

log = logging.getLogger("fragstats.identity")

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 8
_TYPED = re.compile(r"[\s-]+")
KINDS = ("device_code", "user_code", "claim_code", "login_code")


def new_code() -> str:
    """A fresh code of `LENGTH` symbols (40 bits from `secrets`), without its dash."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def pretty(code: str) -> str:
    """`ABCDEFGH` -> `ABCD-EFGH`."""
    return f"{code[:4]}-{code[4:]}"


def normalize(typed: str) -> str | None:
    """A typed code in canonical form (upper case, no dashes or blanks), or None when it cannot be one
    (wrong length or symbol)."""
    code = _TYPED.sub("", typed or "").upper()
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def code_hash(secret: bytes, code: str) -> bytes:
    """What is stored of a (normalized) code: HMAC-SHA256 keyed with the session secret."""
    return hmac.new(secret, code.encode(), hashlib.sha256).digest()


class CodeGuard:
    """Wrong-code accounting of one process: `check` before looking a code up, `wrong` after a miss."""

    def __init__(self, burst: int, refill_per_s: float, max_keys: int, registry=None):
        self.limiter = FailedAuth(burst, refill_per_s, max_keys)
        self.failures = Counter("fragstats_code_failures_total",
                                "Wrong or expired short codes (device, user, claim, login), by kind.", ["kind"],
                                registry=registry)
        self.limited = Counter("fragstats_code_limited_total",
                               "Short codes refused unchecked (429) because their sender guessed too often, by kind.",
                               ["kind"], registry=registry)
        for kind in KINDS:
            self.failures.labels(kind)
            self.limited.labels(kind)

    @classmethod
    def from_settings(cls, settings, registry=None) -> "CodeGuard":
        return cls(settings.code_failure_burst, settings.code_failure_refill_per_s,
                   settings.auth_failure_max_addresses, registry)

    def over_limit(self, key: str, kind: str) -> ApiError | None:
        """The 429 to answer when `key` (a client address, `chat:<server>:<player>`) is over its
        wrong-code limit — then the code must not be checked — else None."""
        wait = self.limiter.wait_for(key)
        if wait is None:
            return None
        self.limited.labels(kind).inc()
        retry = max(1, math.ceil(wait))
        return ApiError(429, "too_many_attempts", f"too many wrong codes; retry after {retry} s",
                        {"Retry-After": str(retry)})

    def check(self, key: str, kind: str) -> None:
        """Raise the 429 of `over_limit`, if any."""
        error = self.over_limit(key, kind)
        if error is not None:
            raise error

    def wrong(self, key: str, kind: str, status: int, code: str, detail: str) -> ApiError:
        """Count one wrong code from `key`; the error to raise: `status`/`code`/`detail`, or 429 when
        this miss took `key` over its limit."""
        self.failures.labels(kind).inc()
        wait, reported = self.limiter.record(key)
        if wait is None:
            return ApiError(status, code, detail)
        if not reported:
            log.warning("wrong %s codes from %s: over the limit, further codes refused unchecked", kind, key)
        self.limited.labels(kind).inc()
        retry = max(1, math.ceil(wait))
        return ApiError(429, "too_many_attempts", f"too many wrong codes; retry after {retry} s",
                        {"Retry-After": str(retry)})
