"""Errors of the tournaments package, each carrying the HTTP status it is answered with.

They are `fragstats.errors.StatusError`s: the pure rules raise them without knowing about HTTP, and
the app's one handler answers `{"error": code, "detail": message}` with the class's `http_status`;
the code is the class name in snake_case (`MatchNotReady` -> `match_not_ready`). This module is the
one place where a tournament error maps to a status.
"""

from fragstats.errors import StatusError


class TournamentError(StatusError):
    """Base class of the package's errors (400 unless a subclass says otherwise)."""

    http_status = 400


class InvalidSettings(TournamentError):
    """Settings, participants or a format name that cannot make a tournament (422)."""

    http_status = 422


class InvalidResult(TournamentError):
    """An impossible result: winner with the lower score, a draw where none is allowed, too many games (422)."""

    http_status = 422


class InvalidTime(InvalidSettings):
    """A time or zone that cannot be (unknown zone, malformed time, a local time skipped by DST) (422)."""


class NotFound(TournamentError):
    """A tournament, match, participant or registration id that does not exist (404)."""

    http_status = 404


class WrongServer(TournamentError):
    """A match token used by a game server it was not issued for (403)."""

    http_status = 403


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
