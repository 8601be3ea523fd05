"""Errors raised by the bracket engine; each carries the HTTP status the API layer should answer with."""


class TournamentError(Exception):
    """Base class; ``http_status`` is what the API layer maps the error to."""

    http_status = 400


class InvalidSettings(TournamentError):
    """Settings, participants or a format name that cannot make a tournament (422)."""

    http_status = 422


class InvalidResult(TournamentError):
    """An impossible result: winner with the lower score, a draw where none is allowed, too many games (422)."""

    http_status = 422


class NotFound(TournamentError):
    """A match or participant id that is not part of the tournament (404)."""

    http_status = 404


class MatchNotReady(TournamentError):
    """A result for a match whose opponents are not both known, or that is not needed (409)."""

    http_status = 409


class DownstreamStarted(TournamentError):
    """A correction that would change matches already running or completed; retry with force (409)."""

    http_status = 409


class RoundNotComplete(TournamentError):
    """The next Swiss round was asked for before every match of the current round was completed (409)."""

    http_status = 409


class StageError(TournamentError):
    """An operation that does not fit the tournament's stage: starting twice, joining after the start,
    pairing a round after the last one (409)."""

    http_status = 409
