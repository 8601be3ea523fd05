"""Secrets in ingest events are sealed at the door (rule and format: `fragstats.secrets`).

`ingest.decode` calls `seal_extra` where it builds an event's `extra`. The fast path never has to:
`Event` forbids unknown keys, so a body carrying `tournament_match_token` (or a client's own
`extra`) fails the one-call decode and is read event by event, through `seal_extra`.
"""

from __future__ import annotations

from fragstats.secrets import SECRET_EXTRA_KEYS, seal


def seal_extra(extra: dict[str, str]) -> dict[str, str]:
    """`extra` (wire key -> text) with the value of every secret key replaced by its seal
    (`"sha256:<hex>"`); other keys unchanged. Returns the same dict when it holds no secret."""
    if SECRET_EXTRA_KEYS.isdisjoint(extra):
        return extra
    return {k: seal(v) if k in SECRET_EXTRA_KEYS else v for k, v in extra.items()}
