"""Every route of the tournaments package, listed in one place (the app mounts `routes`).

The handlers live in leaf modules that never import one another: `bracket_routes` (tournaments,
participants, start, rounds, matches, results, standings, audit), `event_routes` (event config,
registration, check-in, launch, schedule), `result_routes` (results with provenance, ratings, odds,
import/export, webhooks) and `pages` (HTML). Their shared helpers are `tournaments.http`.

Everything under `/api/v1/tournaments/...` is one `Mount`, so the prefix is written once. The mount's
own path has no parameter: the request metrics label a route by the mount's path plus the route's
template, which must stay a template (`/api/v1/tournaments/{tournament_id:int}/start`).
"""

from __future__ import annotations

from starlette.routing import Mount, Route

from . import bracket_routes as bracket
from . import event_routes as event
from . import pages
from . import result_routes as result
from .http import alias

PREFIX = "/api/v1/tournaments"
T = "/{tournament_id:int}"
M = T + "/matches/{match_id:int}"
P = T + "/participants/{participant_id:int}"
R = T + "/registrations/{registration_id:int}"

routes = [
    Route(PREFIX, bracket.create_tournament, methods=["POST"]),
    Route(PREFIX, bracket.list_tournaments, methods=["GET"]),
    Mount(PREFIX, routes=[
        Route("/import", result.import_bracket, methods=["POST"]),
        Route("/webhook-events", result.webhook_events, methods=["GET"]),
        # the bracket
        Route(T, bracket.get_tournament, methods=["GET"]),
        Route(T, bracket.update_tournament, methods=["PATCH"]),
        Route(T, bracket.delete_tournament, methods=["DELETE"]),
        Route(T + "/participants", bracket.add_participant, methods=["POST"]),
        Route(T + "/participants", bracket.list_participants, methods=["GET"]),
        Route(T + "/participants/randomize", bracket.randomize_participants, methods=["POST"]),
        Route(P, bracket.update_participant, methods=["PATCH"]),
        Route(P, bracket.remove_participant, methods=["DELETE"]),
        Route(P + "/disqualify", bracket.disqualify, methods=["POST"]),
        Route(T + "/start", bracket.start, methods=["POST"]),
        Route(T + "/rounds", bracket.pair_round, methods=["POST"]),
        Route(T + "/matches", bracket.list_matches, methods=["GET"]),
        Route(M, bracket.get_match, methods=["GET"]),
        Route(M + "/underway", bracket.mark_underway, methods=["POST"]),
        Route(M + "/start", alias(bracket.mark_underway, "start_match", "POST .../matches/{match_id}/underway"),
              methods=["POST"]),
        Route(M + "/result", bracket.report_result, methods=["POST"]),
        Route(M + "/reset", bracket.reset_match, methods=["POST"]),
        Route(M + "/reopen", alias(bracket.reset_match, "reopen_match", "POST .../matches/{match_id}/reset"),
              methods=["POST"]),
        Route(T + "/standings", bracket.get_standings, methods=["GET"]),
        Route(T + "/audit", bracket.get_audit, methods=["GET"]),
        # the event around it
        Route(T + "/event", event.put_event, methods=["PUT"]),
        Route(T + "/event", event.patch_event, methods=["PATCH"]),
        Route(T + "/event", event.get_event, methods=["GET"]),
        Route(T + "/registration/open", event.open_registration, methods=["POST"]),
        Route(T + "/registration/close", event.close_registration, methods=["POST"]),
        Route(T + "/schedule.ics", event.get_ical, methods=["GET"]),
        Route(T + "/registrations", event.register, methods=["POST"]),
        Route(T + "/registrations", event.list_registrations, methods=["GET"]),
        Route(T + "/registrations/import", result.import_participants, methods=["POST"]),
        Route(R + "/withdraw", event.withdraw, methods=["POST"]),
        Route(R + "/approve", event.approve, methods=["POST"]),
        Route(R + "/reject", event.reject, methods=["POST"]),
        Route(R + "/checkin", event.checkin, methods=["POST"]),
        Route(R + "/checkin", event.undo_checkin, methods=["DELETE"]),
        Route(R + "/readmit", event.readmit, methods=["POST"]),
        Route(T + "/checkin/close", event.close_checkin, methods=["POST"]),
        Route(T + "/checkin/extend", event.extend_checkin, methods=["POST"]),
        Route(T + "/launch", event.launch, methods=["POST"]),  # the same operation as /start, in its old shape
        # The routes the system fragstats replaces documented, as aliases of ours.
        Route(T, alias(event.put_event, "update_tournament_event", "PUT .../{tournament_id}/event"), methods=["PUT"]),
        Route(T + "/bracket", alias(bracket.get_tournament, "get_bracket", "GET .../{tournament_id}"), methods=["GET"]),
        Route(T + "/register", alias(event.register, "register_entrant", "POST .../{tournament_id}/registrations"),
              methods=["POST"]),
        Route(T + "/checkin", alias(event.checkin_by_token, "checkin_entrant",
                                    "POST .../registrations/{registration_id}/checkin"), methods=["POST"]),
        # results with provenance, odds, export, webhooks
        Route(M + "/token", result.issue_token, methods=["POST"]),
        Route(M + "/report", result.captain_report, methods=["POST"]),
        Route(M + "/resolve", result.resolve, methods=["POST"]),
        Route(M + "/outcome", result.get_outcome, methods=["GET"]),
        Route(T + "/outcomes", result.list_outcomes, methods=["GET"]),
        Route(T + "/odds", result.get_odds, methods=["GET"]),
        Route(T + "/export", result.export_bracket, methods=["GET"]),
        Route(T + "/webhooks", result.add_webhook, methods=["POST"]),
        Route(T + "/webhooks", result.list_webhooks, methods=["GET"]),
        Route(T + "/webhooks/{webhook_id:int}", result.delete_webhook, methods=["DELETE"]),
    ]),
    Route("/api/v1/ingest/match-result", result.ingest_match_result, methods=["POST"]),
    Route("/api/v1/stats/ratings", result.get_ratings, methods=["GET"]),
    Route("/api/v1/stats/ratings/refresh", result.refresh_ratings, methods=["POST"]),
    *pages.routes,
]
