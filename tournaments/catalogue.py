"""The public, versioned catalogue of webhook events: what a receiver can be sent, named for what
happened (`match.completed`), not after the internal operation that did it.

Every change of a tournament is an entry of its append-only audit log (`tournament_audit`); each
entry is delivered as one event whose type this module decides (`event_type`), from the entry's
action and, for a match, from its status before and after (so a result that makes the next match
playable sends `match.completed` for the one and `match.ready` for the other). The payload is

    {"type": "match.completed", "version": 1, "timestamp": ISO-8601 UTC of the change,
     "data": {"tournament_id", "seq", "at", "actor", "action", "forced", "match_id", "participant_id",
              "before", "after"}}

(the Standard Webhooks shape: `type`, `timestamp`, `data`), where `before`/`after` are the record
before and after the change (null: created / removed): a match (`MatchRecord`) for `match.*`, an
entrant for `participant.*`, and for the others what changed. `seq` orders the events of one
tournament. `version` is `VERSION`; a change that breaks a receiver (a renamed type, a removed or
retyped field) bumps it, added types and fields do not. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .model import Match

VERSION = 1

EVENTS: dict[str, str] = {
    # the tournament
    "tournament.created": "A tournament was created.",
    "tournament.updated": "Its name, format or settings changed.",
    "tournament.event_updated": "The event around it (capacity, rosters, times, check-in) changed.",
    "tournament.seeds_randomized": "The entrants' seeds were drawn at random before the start.",
    "tournament.started": "It started: the entrants are in the bracket with their seeds (`after.seeds`).",
    "tournament.completed": "Its last match was decided.",
    "tournament.deleted": "It was deleted (its audit log stays).",
    "registration.opened": "Sign-up opened to the public (`after.opens_at`, `after.closes_at`).",
    "registration.closed": "Sign-up closed to the public.",
    "checkin.closed": "Check-in closed: no-shows are out, the waitlist promoted (`after`).",
    "checkin.extended": "The organiser extended check-in.",
    # entrants
    "participant.registered": "An entrant signed up, or the organiser entered one.",
    "participant.updated": "An entrant's name or tag changed.",
    "participant.reseeded": "An entrant's seed changed before the start (`before.seed`, `after.seed`).",
    "participant.removed": "The organiser removed an entrant before the start.",
    "participant.approved": "A pending entrant was approved.",
    "participant.rejected": "An entrant was rejected.",
    "participant.withdrawn": "An entrant withdrew.",
    "participant.promoted": "A waitlisted entrant got a place.",
    "participant.checked_in": "An entrant checked in.",
    "participant.checkin_undone": "An entrant's check-in was undone.",
    "participant.no_show": "An entrant with a place did not check in and lost it.",
    "participant.readmitted": "The organiser re-admitted an entrant that was out.",
    "participant.entered": "An entrant entered the bracket at the start (its participant record).",
    "participant.disqualified": "A participant was disqualified; its remaining matches are forfeits.",
    # matches
    "match.created": "A match was created (the start, a Swiss round, a playoff) whose opponents are not both known.",
    "match.removed": "A match was removed (a Swiss round or playoff taken back by a correction).",
    "match.ready": "Both opponents of a match are known: it can be played (also when it is created so).",
    "match.underway": "A match is being played.",
    "match.scored": "A series in progress has a new score (best of 3/5).",
    "match.completed": "A match was decided (`after` has the result).",
    "match.corrected": "A decided match's result changed (`forced`: started matches were reset).",
    "match.reset": "A match's result was taken back (a reset, or a correction upstream).",
    "match.not_needed": "A match will not be played (a bye, a grand-final reset the winners' champion avoided).",
    "match.updated": "A match changed otherwise (an opponent became known or was taken back).",
    "match.claim_recorded": "A result claim (game server, captain, organiser) was recorded (`after.provenance`).",
    "match.disputed": "Two claims disagree: the organiser must resolve the match.",
    "match.dispute_resolved": "The organiser resolved a disputed match.",
    "match.telemetry_linked": "A telemetry match was linked to the match (its evidence).",
    "match.telemetry_rejected": "A game server's result could not be applied (`after.reason`).",
}

ACTIONS: dict[str, str] = {
    "create_tournament": "tournament.created", "update_tournament": "tournament.updated",
    "configure_event": "tournament.event_updated", "randomize_seeds": "tournament.seeds_randomized",
    "launch": "tournament.started", "complete": "tournament.completed", "delete_tournament": "tournament.deleted",
    "open_registration": "registration.opened", "close_registration": "registration.closed",
    "close_checkin": "checkin.closed", "extend_checkin": "checkin.extended",
    "register": "participant.registered", "update_participant": "participant.updated",
    "reseed": "participant.reseeded", "randomize": "participant.reseeded", "remove_participant": "participant.removed",
    "approve": "participant.approved", "reject": "participant.rejected", "withdraw": "participant.withdrawn",
    "promote": "participant.promoted", "checkin": "participant.checked_in", "undo_checkin": "participant.checkin_undone",
    "no_show": "participant.no_show", "readmit": "participant.readmitted",
    "claim": "match.claim_recorded", "provenance": "match.claim_recorded", "dispute_opened": "match.disputed",
    "dispute_resolved": "match.dispute_resolved", "telemetry_linked": "match.telemetry_linked",
    "telemetry_rejected": "match.telemetry_rejected",
}


def _match_change(before: dict | None, after: dict | None) -> str:
    if before is None:
        return "match.ready" if (after or {}).get("status") == "ready" else "match.created"
    if after is None:
        return "match.removed"
    was, now = before.get("status"), after.get("status")
    if now == "completed":
        return "match.corrected" if was == "completed" else "match.completed"
    if was in ("completed", "running") and now in ("ready", "pending"):
        return "match.reset"
    if now == "running":
        return "match.underway" if was != "running" else "match.scored"
    if now == "ready" and was != "ready":
        return "match.ready"
    if now == "not_needed" and was != "not_needed":
        return "match.not_needed"
    return "match.updated"


def event_type(action: str, match_id: int | None, participant_id: int | None, before: Any, after: Any) -> str:
    """The catalogue type of an audit entry (always one of ``EVENTS``)."""
    if action in ACTIONS:
        return ACTIONS[action]
    if match_id is not None:
        return _match_change(before, after)
    if participant_id is not None:
        if before is None:
            return "participant.entered"
        if after is not None and after.get("disqualified") and not before.get("disqualified"):
            return "participant.disqualified"
        return "participant.updated"
    return "tournament.updated"


# --- payload schemas (OpenAPI `webhooks`) ------------------------------------------------------

class EventData(msgspec.Struct):
    """What changed: the audit entry `seq` of tournament `tournament_id`, by `actor` at `at`."""

    tournament_id: int
    seq: int
    at: str
    actor: str
    action: str
    forced: bool
    match_id: int | None
    participant_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class MatchRecord(Match):
    """A match as the API shows it (`GET .../matches/{id}`)."""


class MatchEventData(EventData):
    before: MatchRecord | None  # type: ignore[assignment]
    after: MatchRecord | None  # type: ignore[assignment]


_CLAIMS = ("match.claim_recorded", "match.disputed", "match.dispute_resolved", "match.telemetry_linked",
           "match.telemetry_rejected")


def schema_group(name: str) -> str:
    """Which payload schema an event type has: its prefix, `match_claim` for a match's claims and
    evidence (whose `before`/`after` are not match records)."""
    return "match_claim" if name in _CLAIMS else name.split(".")[0]


def _envelope(group: str, data: type) -> type:
    types = tuple(name for name in EVENTS if schema_group(name) == group)
    title = "".join(part.title() for part in group.split("_"))
    return msgspec.defstruct(f"{title}WebhookEvent", [
        ("type", Literal[types]), ("version", Literal[VERSION]), ("timestamp", str), ("data", data)],
        module=__name__)


ENVELOPES: dict[str, type] = {
    "tournament": _envelope("tournament", EventData), "registration": _envelope("registration", EventData),
    "checkin": _envelope("checkin", EventData), "participant": _envelope("participant", EventData),
    "match": _envelope("match", MatchEventData), "match_claim": _envelope("match_claim", EventData)}


def openapi_webhooks() -> tuple[dict, dict]:
    """(the OpenAPI 3.1 `webhooks` object: one POST per event type with its payload schema, the
    component schemas it refers to)."""
    refs, components = msgspec.json.schema_components(list(ENVELOPES.values()),
                                                      ref_template="#/components/schemas/{name}")
    by_group = dict(zip(ENVELOPES, refs))
    hooks = {}
    for name, description in EVENTS.items():
        hooks[name] = {"post": {
            "summary": description, "operationId": f"webhook_{name.replace('.', '_')}",
            "description": f"{description} Catalogue version {VERSION}; signed as Standard Webhooks "
                           "(`webhook-id`, `webhook-timestamp`, `webhook-signature`).",
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": by_group[schema_group(name)]}}},
            "responses": {"2XX": {"description": "received; any other answer is retried or recorded as failed"}}}}
    return hooks, components


def catalogue() -> dict:
    """``{"version", "events": [{"type", "description", "schema"}]}``: the public catalogue."""
    return {"version": VERSION, "events": [{"type": name, "description": text,
                                            "schema": ENVELOPES[schema_group(name)].__name__}
                                           for name, text in EVENTS.items()]}
