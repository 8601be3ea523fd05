"""Integer query and path parameters, bounded by the columns they end up in: one place for the
ranges and their 400 / 404 answers, shared by every package's routes.

Why bounded: an unbounded integer reaches the engines as whatever type the query declares, and
ClickHouse casts `offset=18446744073709551617` to `UInt32` (it wrapped to 1) while asyncpg refuses
ids beyond `integer` with an exception (a 500). Every range here is the narrowest column it meets.
"""

from __future__ import annotations

from fragstats.errors import ApiError

INT4_MAX = 2**31 - 1
"""Postgres `integer` / `serial`: server, key, tournament, participant, match, registration ids."""
MAX_OFFSET = INT4_MAX
"""Largest paging offset of every list route; ClickHouse reads it as `UInt32`, Postgres as `bigint`."""


def decimal_digits(text: str) -> bool:
    """Whether `text` is one or more ASCII digits 0-9: what int() reads as a plain decimal. (str.isdigit()
    also takes "²" or "³", which int() refuses: a 500 the fuzz test found.)"""
    return text.isascii() and text.isdigit()


def int_param(params, name: str, default: int | None, *, lo: int, hi: int) -> int | None:
    """The integer query parameter `name` of `params` (a query-string mapping) within [lo, hi], or
    `default` when absent or empty. Raises ApiError 400 `invalid_parameter` naming the parameter and
    its range (never wraps, never reaches an engine out of range)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:  # also a string of more than 4,300 digits (Python's int-from-str limit)
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer in {lo}..{hi}, got {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer in {lo}..{hi}")
    return value


def path_id(path_params, name: str) -> int:
    """An integer id from the path (a `{name:int}` route); one above `INT4_MAX` cannot be stored,
    so it does not exist: ApiError 404 `not_found`."""
    value = path_params[name]
    if value > INT4_MAX:
        raise ApiError(404, "not_found", f"{name.removesuffix('_id')} {value} does not exist")
    return value
