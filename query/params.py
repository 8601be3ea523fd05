"""Query-string parsing shared by the read routes: one place for limits, periods and their errors."""

from __future__ import annotations

import datetime as dt

from fragstats.errors import ApiError

PERIODS = {"all": None, "day": 0, "week": 6, "month": 29}
MAX_LIMIT = 500


def int_param(params, name: str, default: int | None, *, lo: int = 0, hi: int | None = None) -> int | None:
    """An integer query parameter within [lo, hi]; raises ApiError 400 naming the parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        raise ApiError(400, "invalid_parameter", f"{name} must be between {lo} and {hi}")
    return value


def choice_param(params, name: str, choices, default: str) -> str:
    """A query parameter from a fixed set; raises ApiError 400 listing the choices."""
    value = params.get(name) or default
    if value not in choices:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def paging(params) -> tuple[int, int]:
    """`limit` (1..500, default 50) and `offset` (>= 0, default 0)."""
    return int_param(params, "limit", 50, lo=1, hi=MAX_LIMIT), int_param(params, "offset", 0, lo=0)


def period_start(period: str, today: dt.date | None = None) -> dt.date | None:
    """First day (UTC) included by `period`: all -> None, day -> today, week -> last 7 days, month -> last 30."""
    days = PERIODS[period]
    if days is None:
        return None
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return today - dt.timedelta(days=days)
