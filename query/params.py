"""Query-string parsing shared by the read routes: one place for limits, periods and their errors.

Integers go through `fragstats.params.int_param` (bounded, 400 naming the parameter and its range).
"""

from __future__ import annotations

import datetime as dt

from fragstats.errors import ApiError
from fragstats.params import INT4_MAX, MAX_OFFSET, int_param

PERIODS = {"all": None, "day": 0, "week": 6, "month": 29}
MAX_LIMIT = 500

def choice_param(params, name: str, choices, default: str, aliases: dict[str, str] | None = None) -> str:
    """A query parameter from a fixed set (an old spelling in `aliases` reads as its new one);
    raises ApiError 400 listing the choices."""
    value = params.get(name) or default
    value = (aliases or {}).get(value, value)
    if value not in choices:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def offset_param(params) -> int:
    """`offset` (0..`MAX_OFFSET`, default 0)."""
    return int_param(params, "offset", 0, lo=0, hi=MAX_OFFSET)


def server_id_param(params) -> int | None:
    """`server_id` (1..2^31-1: a Postgres `serial`, stored as `UInt32` in ClickHouse), or None."""
    return int_param(params, "server_id", None, lo=1, hi=INT4_MAX)


def paging(params) -> tuple[int, int]:
    """`limit` (1..500, default 50) and `offset` (0..`MAX_OFFSET`, default 0)."""
    return int_param(params, "limit", 50, lo=1, hi=MAX_LIMIT), offset_param(params)


def period_start(period: str, today: dt.date | None = None) -> dt.date | None:
    """First day (UTC) included by `period`: all -> None, day -> today, week -> last 7 days, month -> last 30."""
    days = PERIODS[period]
    if days is None:
        return None
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return today - dt.timedelta(days=days)
