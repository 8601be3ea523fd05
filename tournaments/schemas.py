"""The request bodies of the tournaments API, declared once as msgspec Structs: they validate the
JSON (unknown fields are a 422) and give the OpenAPI schemas (`fragstats.openapi` reads which Struct a
handler passes to `read_json`). Meanings are in the routes' docstrings."""

from __future__ import annotations

from typing import Any

import msgspec

from .registration import Member


class NewTournament(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    format: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class NewParticipant(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    seed: int | None = None


class RoundRequest(msgspec.Struct, forbid_unknown_fields=True):
    round: int | None = None


class ResultReport(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly one of ``scores``, ``games``, ``forfeit``; ``forfeit`` is the side (1 or 2) that gives up."""

    scores: list[int] | None = None
    games: list[list[int]] | None = None
    forfeit: int | None = None
    winner: int | None = None
    force: bool = False


class EventSpec(msgspec.Struct, forbid_unknown_fields=True):
    kind: str = "player"
    capacity: int | None = None
    roster_min: int = 1
    roster_max: int = 1
    substitutes: int = 0
    approval: bool = False
    open_registration: bool = True
    starts_at: str | None = None
    timezone: str = "UTC"
    checkin_minutes: int = 0
    round_minutes: int | None = None


class NewRegistration(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    tag: str | None = None
    seed: int | None = None
    player_id: str | None = None
    members: list[Member] | None = None


class Extend(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int


class Launch(msgspec.Struct, forbid_unknown_fields=True):
    seeding: str = "manual"
    random_seed: int | None = None


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    allies_side: int = 1
    server_id: int | None = None


class ClaimBody(msgspec.Struct, forbid_unknown_fields=True):
    scores: list[int] | None = None
    games: list[list[int]] | None = None
    forfeit: int | None = None
    scores_csv: str | None = None
    force: bool = False


class MatchResult(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    match_id: str
    event: str = "match_end"
    allies_score: int | None = None
    axis_score: int | None = None
    winning_team: str | None = None


class WebhookBody(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    secret: str | None = None
