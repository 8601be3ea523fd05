"""Secrets that arrive inside telemetry, and the one form in which they are kept.

A game server may carry a secret in an event's extra keys: `tournament_match_token` (issued by
`POST /api/v1/tournaments/{id}/matches/{match_id}/token`) links its telemetry match to a bracket
match. Stored events are public (`GET /api/v1/stats/match/{id}/timeline`, the match page), so:

- at the door, `ingest.secrets.seal_extra` replaces the value of every key in `SECRET_EXTRA_KEYS` by
  `seal(value)`: `"sha256:"` + the SHA-256 of the value in hex. The clear value is never queued,
  spooled or stored. The digest is the one `tournament_match_tokens.token_hash` holds (SHA-256 of
  the token's UTF-8), so the tournament hook finds the token by it (`sealed_digest`).
- on read, `without_secrets` drops those keys altogether, sealed or not (rows stored before sealing
  hold the clear token).

A client value that already looks sealed is sealed again like any other, so a digest copied from
somewhere can never stand in for the token it was made from.

This module is in the kernel because the three feature packages need the same names: `ingest`
seals, `query` hides, `tournaments` looks up.
"""

from __future__ import annotations

import hashlib
import re

MATCH_TOKEN_KEY = "tournament_match_token"
# Extra keys of ingest events whose values are secrets (wire names).
SECRET_EXTRA_KEYS = frozenset({MATCH_TOKEN_KEY})
SEALED_PREFIX = "sha256:"


def seal(value: str) -> str:
    """The stored form of a secret: `"sha256:<64 hex digits>"` of its UTF-8 bytes."""
    return SEALED_PREFIX + hashlib.sha256(value.encode()).hexdigest()


def sealed_digest(stored: str) -> bytes:
    """The 32-byte SHA-256 of the secret behind a stored value.

    A value written by `seal` gives its digest back; any other value (an event queued or spooled
    before sealing existed) is a clear secret, and its digest is computed.
    """
    if stored.startswith(SEALED_PREFIX) and len(stored) == len(SEALED_PREFIX) + 64:
        try:
            return bytes.fromhex(stored[len(SEALED_PREFIX):])
        except ValueError:
            pass
    return hashlib.sha256(stored.encode()).digest()


def without_secrets(extra: dict[str, str]) -> dict[str, str]:
    """`extra` without the secret keys (what a public response may show)."""
    if not extra or SECRET_EXTRA_KEYS.isdisjoint(extra):
        return extra
    return {k: v for k, v in extra.items() if k not in SECRET_EXTRA_KEYS}


# `!claim CODE` typed in game chat (identity claims, identity/claims.py): the code is a one-time secret
# until the after-commit hook redeems it, and the chat line is public on the match timeline.
_CLAIM_CHAT = re.compile(r"^(\s*!claim\s+)\S+", re.IGNORECASE)


def masked_claim(message: str) -> str:
    """A chat message as a public response may show it: the code of `!claim CODE` replaced by `****`."""
    if not message or "!" not in message:
        return message
    return _CLAIM_CHAT.sub(r"\1****", message)
