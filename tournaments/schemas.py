"""The request bodies of the tournaments API, declared once as msgspec Structs: they validate the
JSON (unknown fields are a 422) and give the OpenAPI schemas (`fragstats.openapi` reads which Struct a
handler passes to `read_json`). Meanings are in the routes' docstrings."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from .errors import InvalidResult
from .exports import parse_scores_csv
from .registration import EventConfig, Member


class NewTournament(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    format: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class RoundRequest(msgspec.Struct, forbid_unknown_fields=True):
    round: int | None = None


class ResultBody(msgspec.Struct, forbid_unknown_fields=True):
    """One match result, the same for every result route (`/result`, `/report`, `/resolve`):
    ``winner`` (1 or 2, opponent1 = 1) alone, or at most one of ``scores`` (`[a, b]`), ``games``
    (`[[a, b], ...]`), ``scores_csv`` (`"3-1,3-2"`) and ``forfeit`` (the side that gives up), with
    ``winner`` checked against them when both are given. ``force``: the organiser's correction may
    reset matches that already started."""

    winner: int | None = None
    scores: list[int] | None = None
    games: list[list[int]] | None = None
    scores_csv: str | None = None
    forfeit: int | None = None
    force: bool = False

    def result(self, best_of: int) -> dict:
        """``{"scores", "games", "forfeit", "winner"}`` as ``results.report_result`` and
        ``outcomes.Claim`` take them: ``scores_csv`` read as the game's score (best of 1) or every
        game (`tournaments.exports.parse_scores_csv`). Raises ``InvalidResult`` (422) for a
        ``scores_csv`` given with ``scores`` or ``games``, or one that cannot be read."""
        scores, games = self.scores, self.games
        if self.scores_csv is not None:
            if scores is not None or games is not None:
                raise InvalidResult("give one of scores, games and scores_csv")
            parsed = parse_scores_csv(self.scores_csv, best_of)
            scores, games = parsed.get("scores"), parsed.get("games")
        return {"scores": scores, "games": games, "forfeit": self.forfeit, "winner": self.winner}


# The event settings an organiser sets (`PUT` / `PATCH .../event`) are fields of `EventConfig`,
# declared once there with their types and defaults; on the wire only `starts_at` differs: a string,
# with an offset or a local time read in the event's `timezone` (tournaments.schedule).
SETTABLE_EVENT_FIELDS = ("kind", "capacity", "roster_min", "roster_max", "substitutes", "approval",
                         "open_registration", "starts_at", "timezone", "checkin_minutes", "round_minutes")
_CONFIG_FIELDS = {f.name: f for f in msgspec.structs.fields(EventConfig)}


def _wire_type(name: str) -> Any:
    return str | None if name == "starts_at" else _CONFIG_FIELDS[name].type


EventSpec = msgspec.defstruct(
    "EventSpec", [(name, _wire_type(name), _CONFIG_FIELDS[name].default) for name in SETTABLE_EVENT_FIELDS],
    forbid_unknown_fields=True, module=__name__)
EventSpec.__doc__ = "The whole event configuration (`PUT .../event`); a field left out takes its default."

EventPatch = msgspec.defstruct(
    "EventPatch", [(name, _wire_type(name) | UnsetType, UNSET) for name in SETTABLE_EVENT_FIELDS],
    forbid_unknown_fields=True, module=__name__)
EventPatch.__doc__ = "A change to the event configuration (`PATCH .../event`): only the fields given change."


class TournamentPatch(msgspec.Struct, forbid_unknown_fields=True):
    """A change to a tournament (`PATCH /tournaments/{id}`): ``name`` any time; ``format`` and
    ``settings`` before the start; the event's times (``starts_at``, ``timezone``,
    ``checkin_minutes``, ``round_minutes``) as `PATCH .../event` takes them."""

    name: str | UnsetType = UNSET
    format: str | UnsetType = UNSET
    settings: dict[str, Any] | UnsetType = UNSET
    starts_at: str | None | UnsetType = UNSET
    timezone: str | UnsetType = UNSET
    checkin_minutes: int | UnsetType = UNSET
    round_minutes: int | None | UnsetType = UNSET


class RegistrationWindow(msgspec.Struct, forbid_unknown_fields=True):
    """When the public may sign up (`POST .../registration/open`): from ``opens_at`` (default: now) until
    ``closes_at`` (default: until closed), ISO-8601, local times in the event's zone."""

    opens_at: str | None = None
    closes_at: str | None = None


class EntrantBody(msgspec.Struct, forbid_unknown_fields=True):
    """One entrant, the same for `POST /participants` (the organiser enters it, with a place),
    `POST /registrations` (sign-up) and each row of the CSV import: ``name``, ``tag``, ``seed`` (the
    organiser's), ``player_id`` (a player entrant's telemetry id) or ``members`` (a roster)."""

    name: str
    tag: str | None = None
    seed: int | None = None
    player_id: str | None = None
    members: list[Member] | None = None


class ParticipantPatch(msgspec.Struct, forbid_unknown_fields=True):
    """A change to an entrant before the start: a new ``name`` / ``tag``, or a new ``seed``."""

    name: str | None = None
    tag: str | None = None
    seed: int | None = None


RandomSeed = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # recorded in a Postgres bigint


class Randomize(msgspec.Struct, forbid_unknown_fields=True):
    random_seed: RandomSeed | None = None


class ResetBody(msgspec.Struct, forbid_unknown_fields=True):
    force: bool = False


class Extend(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int


class StartBody(msgspec.Struct, forbid_unknown_fields=True):
    """How to seed the entrants at the start: ``manual`` (the organiser's order), ``random`` (with
    ``random_seed``, drawn and recorded when absent) or ``rating``."""

    seeding: str = "manual"
    random_seed: RandomSeed | None = None


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    allies_side: int = 1
    server_id: int | None = None


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


def given(body: msgspec.Struct) -> dict[str, Any]:
    """The fields of a patch body that were sent (not ``UNSET``)."""
    return {f: getattr(body, f) for f in body.__struct_fields__ if getattr(body, f) is not UNSET}
