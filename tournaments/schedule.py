"""Times of an event: stored in UTC, entered and shown in IANA zones (``zoneinfo``), and an iCal export.

Rules (RFC 5545 for iCal; Python's PEP 495 for local times):
  * A time with an offset (``2025-03-30T10:00:00+02:00``, ``...Z``) is an instant as written.
  * A time without one is wall-clock time in the event's zone. Daylight saving: a wall time in
    the spring-forward gap does not exist (``InvalidTime``); one that occurs twice in the autumn is
    taken at its first occurrence (``fold=0``, still daylight time).
  * Shown times carry their offset, so "10:00+02:00" in summer and "10:00+01:00" in winter are both
    10:00 on the local clock.
  * The check-in window opens ``checkin_minutes`` before the start and closes at the start plus
    the organiser's extension.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidTime

UTC = dt.timezone.utc

def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Berlin``). Raises ``InvalidTime``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: e.g. a name too long for a file name
        raise InvalidTime(f"unknown time zone {name[:64]!r}; use an IANA name such as 'Europe/Berlin'") from None


def parse_time(value: str, event_zone: str) -> dt.datetime:
    """An ISO-8601 time as a UTC datetime; without an offset it is local time in ``event_zone``.

    Raises ``InvalidTime`` for a malformed value or a local time that DST skips.
    """
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, AttributeError):
        raise InvalidTime(f"{value!r} is not an ISO-8601 time") from None
    if t.tzinfo is not None:
        return t.astimezone(UTC)
    z = zone(event_zone)
    local = t.replace(tzinfo=z, fold=0)
    back = local.astimezone(UTC).astimezone(z).replace(tzinfo=None)
    if back != t:
        raise InvalidTime(f"{value} does not exist in {event_zone} (the clocks skip it for daylight saving)")
    return local.astimezone(UTC)


def iso_utc(t: dt.datetime | None) -> str | None:
    """``2025-03-30T08:00:00Z`` (None stays None)."""
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def show(t: dt.datetime | None, zone_name: str) -> str | None:
    """``t`` as local ISO-8601 time with its offset in ``zone_name`` (None stays None)."""
    return None if t is None else t.astimezone(zone(zone_name)).isoformat()


def checkin_window(starts_at: dt.datetime | None, checkin_minutes: int,
                   extra_minutes: int) -> tuple[dt.datetime, dt.datetime] | None:
    """(opens, closes) of check-in, or None when the event has no start time or no check-in."""
    if starts_at is None or checkin_minutes <= 0:
        return None
    return (starts_at - dt.timedelta(minutes=checkin_minutes), starts_at + dt.timedelta(minutes=extra_minutes))


def times_json(t: dt.datetime | None, event_zone: str, viewer_zone: str | None) -> dict | None:
    """``{"utc", "local" (event zone), "viewer" (``?tz=`` zone, when given)}`` for one instant."""
    if t is None:
        return None
    out = {"utc": iso_utc(t), "local": show(t, event_zone)}
    if viewer_zone:
        out["viewer"] = show(t, viewer_zone)
    return out


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545 3.1: lines longer than 75 octets continue on the next line after one space."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts, start = [], 0
    while start < len(raw):
        end = min(start + (75 if not parts else 74), len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # never split a UTF-8 character
            end -= 1
        parts.append(raw[start:end].decode())
        start = end
    return "\r\n ".join(parts)


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ical(uid_base: str, calendar_name: str, event_zone: str, entries: list[tuple[str, dt.datetime, dt.datetime]],
         now: dt.datetime) -> str:
    """A VCALENDAR (RFC 5545) with one VEVENT per ``(summary, start, end)``; times in UTC (``...Z``),
    which calendar clients show in the reader's zone, so DST is never ambiguous. CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fragstats//tournaments//EN", "CALSCALE:GREGORIAN",
             f"X-WR-CALNAME:{_escape(calendar_name)}", f"X-WR-TIMEZONE:{event_zone}"]
    for i, (summary, start, end) in enumerate(entries):
        lines += ["BEGIN:VEVENT", f"UID:{uid_base}-{i}@fragstats", f"DTSTAMP:{_stamp(now)}",
                  f"DTSTART:{_stamp(start)}", f"DTEND:{_stamp(end)}", f"SUMMARY:{_escape(summary)}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(x) for x in lines) + "\r\n"
