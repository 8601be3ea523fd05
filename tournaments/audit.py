"""Audit entries computed as the difference between two states, so no change can go unlogged."""

from __future__ import annotations

import datetime as dt

import msgspec

from .model import AuditEntry, Tournament


def diff(before: Tournament, after: Tournament, *, actor: str, at: dt.datetime, action: str) -> list[AuditEntry]:
    """One entry per match or participant that differs (created: ``before`` None; removed:
    ``after`` None), matches first, each in id order."""
    out: list[AuditEntry] = []
    for kind, old_items, new_items in (("match", before.matches, after.matches),
                                       ("participant", before.participants, after.participants)):
        old = {x.id: msgspec.to_builtins(x) for x in old_items}
        new = {x.id: msgspec.to_builtins(x) for x in new_items}
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                out.append(AuditEntry(
                    actor=actor, at=at, action=action,
                    match_id=key if kind == "match" else None,
                    participant_id=key if kind == "participant" else None,
                    before=old.get(key), after=new.get(key),
                ))
    return out
