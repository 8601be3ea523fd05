"""Request body -> typed events, one verdict per event.

A request is decoded once (by Content-Type and Content-Encoding) into items; each item then either
becomes a typed event or is rejected with its index, field and reason, while its valid neighbours
go on (STYLE.md, the Plausible pipeline). Nothing here does I/O.

Bodies (source: the OpenMOHAA tracker sends JSON arrays; its older scripts URL-encoded forms):
- `application/json`: an array of objects, or one object;
- `application/x-ndjson` / `application/jsonl` / `application/json-seq`-free NDJSON: one object a line;
- `application/x-www-form-urlencoded`: `key=value&...`, one event a line;
- any of them with `Content-Encoding: gzip`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import msgspec

from fragstats.bodies import DEFAULT_MAX_DEPTH, depth_exceeds, too_deep_detail
from ingest.events import ALIASES, STRUCTS, UNKNOWN_WIRE_FIELDS, WIRE_FIELDS, EventUnion, UnknownEvent, column_type
from ingest.secrets import seal_extra

JSON_TYPES = frozenset({"application/json", "text/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl",
                          "application/x-jsonlines", "application/jsonlines"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded"})
SUPPORTED_TYPES = JSON_TYPES | NDJSON_TYPES | FORM_TYPES

_EARLIEST_S = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc).timestamp()
_FUTURE_SLACK_S = 86_400.0
_PATH = re.compile(r" - at `\$(?:\[\d+\])?\.?([A-Za-z0-9_]*)")
_json_decoder = msgspec.json.Decoder()
# The fast path: a whole body of known, valid events typed in one C call (numbers-as-strings coerced).
_fast_many = msgspec.json.Decoder(list[EventUnion], strict=False)
_fast_one = msgspec.json.Decoder(EventUnion, strict=False)
# Each element of a JSON array as its raw bytes, unparsed: the per-event size check of big bodies.
_raw_items = msgspec.json.Decoder(list[msgspec.Raw])


# Every reason a request or an event is refused for: the `reason` label of
# fragstats_ingest_events_rejected_total (initialised at start, so a panel shows 0, not "no data")
# and the `error` code of a 4xx body.
BODY_REASONS = ("unsupported_media_type", "unsupported_encoding", "body_too_large", "malformed_gzip", "malformed_json",
                "malformed_form", "too_deep")
EVENT_REASONS = ("malformed", "not_an_object", "missing_type", "invalid_field", "too_large", "too_deep")


class BodyError(Exception):
    """The body as a whole cannot be read: HTTP status, error code and detail for the client."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(slots=True)
class Rejection:
    """Why one event was refused. `reason_code` is the low-cardinality metric label."""

    index: int
    field: str | None
    reason: str
    reason_code: str

    def to_json(self) -> dict:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass(slots=True)
class Verdicts:
    accepted: list = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding` (identity or gzip), refusing more than `limit` bytes of output.

    Raises BodyError 415 (other encodings), 400 (broken gzip), 413 (expands past the limit).
    """
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "x-gzip"):
        raise BodyError(415, "unsupported_encoding", f"Content-Encoding {enc!r} is not supported; use gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit:
            raise BodyError(413, "body_too_large", f"body expands to more than {limit} bytes")
        if not inflater.eof:
            raise BodyError(400, "malformed_gzip", "gzip stream is truncated")
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BodyError(400, "malformed_gzip", f"gzip stream is broken: {exc}") from None
    return out


def split_items(body: bytes, mtype: str, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[list, list[Rejection]]:
    """Body -> items (dicts, or anything for later rejection) plus rejections of unreadable items.

    Each event (an item of a JSON array, or an NDJSON line) may nest at most `max_depth` levels of
    arrays/objects (`FRAGSTATS_MAX_JSON_DEPTH`; a flat event is 1); a deeper one is rejected on its
    own (`too_deep`), as is an NDJSON line that is not valid JSON (`malformed`) or not an object
    (`not_an_object`), keeping the client's indexes (a rejected line holds `None`).

    Raises BodyError 415 for an unsupported media type, 400 `malformed_json` for a JSON body that
    does not parse or is neither an array nor an object, 400 `too_deep` for one nested too deep to
    be read at all (past Python's recursion limit, ~1,000 levels).
    """
    if mtype in JSON_TYPES:
        try:
            doc = _json_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BodyError(400, "malformed_json", f"body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BodyError(400, "too_deep", f"body is {too_deep_detail(max_depth)}") from None
        if isinstance(doc, dict):
            doc = [doc]
        elif not isinstance(doc, list):
            raise BodyError(400, "malformed_json", "body must be a JSON array of events or one event object")
        # One walk of the whole body (the array adds a level); only when it is too deep, find which events.
        if not depth_exceeds(doc, max_depth + 1):
            return doc, []
        return doc, [Rejection(i, None, too_deep_detail(max_depth), "too_deep")
                     for i, item in enumerate(doc) if depth_exceeds(item, max_depth)]
    if mtype in NDJSON_TYPES:
        items: list = []
        bad: list[Rejection] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                item = _json_decoder.decode(line)
            except msgspec.DecodeError as exc:
                bad.append(Rejection(len(items), None, f"line is not valid JSON: {exc}", "malformed"))
            except RecursionError:
                bad.append(Rejection(len(items), None, too_deep_detail(max_depth), "too_deep"))
            else:
                if type(item) is not dict:
                    bad.append(Rejection(len(items), None, "each NDJSON line must be one event object",
                                         "not_an_object"))
                elif depth_exceeds(item, max_depth):
                    bad.append(Rejection(len(items), None, too_deep_detail(max_depth), "too_deep"))
                else:
                    items.append(item)
                    continue
            items.append(None)  # keep indexes aligned with the client's lines
        return items, bad
    if mtype in FORM_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyError(400, "malformed_form", "form body is not UTF-8") from None
        return [dict(parse_qsl(line, keep_blank_values=True)) for line in text.splitlines() if line.strip()], []
    raise BodyError(415, "unsupported_media_type",
                    f"Content-Type {mtype or '(none)'!r} is not supported; use one of {sorted(SUPPORTED_TYPES)}")


def _field_of(message: str) -> str | None:
    m = _PATH.search(message)
    return m.group(1) or None if m else None


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _occurred_at_s(value: float | str | None, received_s: float, iso_only: bool = False) -> float:
    """Sender's wall clock (epoch ms, or ISO-8601 with `Z`, an offset or none = UTC) -> epoch
    seconds; ValueError when unreadable or implausible. `iso_only`: a string must be ISO-8601."""
    if value is None:
        return received_s
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            if iso_only:
                raise ValueError("expected an ISO-8601 time such as 2026-02-02T10:00:00Z") from None
            try:
                seconds = float(value) / 1000.0
            except ValueError:
                raise ValueError("expected epoch milliseconds or an ISO-8601 time") from None
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.timezone.utc)
            seconds = parsed.timestamp()
    else:
        seconds = value / 1000.0
    if not _EARLIEST_S <= seconds <= received_s + _FUTURE_SLACK_S:
        raise ValueError("outside 2000-01-01 .. now + 1 day (epoch milliseconds expected)")
    return round(seconds, 3)


def _convert(item: dict, cls: type) -> object:
    """msgspec conversion with numbers-as-strings coerced; an empty string where a number or a
    bool belongs is read as "not sent" (game scripts print unset values as "")."""
    while True:
        try:
            return msgspec.convert(item, cls, strict=False)
        except msgspec.ValidationError as exc:
            name = _field_of(str(exc))
            if name and item.get(name) == "":
                item = {k: v for k, v in item.items() if k != name}
                continue
            raise


def validate(items: list, server_id: int, received_s: float | None = None,
             already_rejected: list[Rejection] | None = None) -> Verdicts:
    """Items -> typed events (server fields set) and rejections, keeping the client's indexes.

    `server_id` comes from the token, never from the body; `received_s` is epoch seconds.
    Unknown keys of a known type, and all keys of an unknown type, go to `extra` as strings.
    """
    received_s = round(time.time() if received_s is None else received_s, 3)
    out = Verdicts(rejected=list(already_rejected or ()))
    skip = {r.index for r in out.rejected}
    for index, item in enumerate(items):
        if index in skip:
            continue
        if not isinstance(item, dict):
            out.rejected.append(Rejection(index, None, "event must be a JSON object", "not_an_object"))
            continue
        etype = item.get("type")
        if not isinstance(etype, str) or not etype:
            reason = "missing" if etype is None or etype == "" else "must be a string"
            out.rejected.append(Rejection(index, "type", reason, "missing_type"))
            continue
        cls = STRUCTS.get(etype)
        aliases = ALIASES.get(etype)
        if aliases:
            for wire, ours in aliases.items():
                if wire in item and ours not in item:
                    item = {ours if k == wire else k: v for k, v in item.items()}
        wall_clock = item.get("timestamp")
        if isinstance(wall_clock, str) and not _is_number(wall_clock):
            # An ISO-8601 `timestamp` is a wall clock, not the game clock: it becomes occurred_at.
            try:
                _occurred_at_s(wall_clock, received_s, iso_only=True)
            except ValueError as exc:
                out.rejected.append(Rejection(index, "timestamp", f"{exc} (or seconds since the map loaded)",
                                              "invalid_field"))
                continue
            item = {k: v for k, v in item.items() if k != "timestamp"}
            item.setdefault("occurred_at", wall_clock)
        known = WIRE_FIELDS[etype] if cls is not None else UNKNOWN_WIRE_FIELDS
        unknown = item.keys() - known
        try:
            event = _convert({k: v for k, v in item.items() if k not in unknown} if unknown else item,
                             cls if cls is not None else UnknownEvent)
            event.occurred_at = _occurred_at_s(event.occurred_at, received_s)
        except msgspec.ValidationError as exc:
            message = str(exc)
            name = _field_of(message)
            reason = message.split(" - at ")[0]
            column = column_type(etype, name) if name else None
            if column:
                reason = f"{reason} (column type {column})"
            out.rejected.append(Rejection(index, name, reason, "invalid_field"))
            continue
        except ValueError as exc:
            out.rejected.append(Rejection(index, "occurred_at", str(exc), "invalid_field"))
            continue
        if unknown:
            # A client's own server_id/received_at stay here; the struct gets ours below.
            event.extra = seal_extra({k: _as_text(item[k]) for k in unknown})
        event.server_id = server_id
        event.received_at = received_s
        if not event.match_id or event.match_id == "no_match":
            event.match_id = event.session_id
        out.accepted.append(event)
    out.rejected.sort(key=lambda r: r.index)
    return out


def decode_fast(body: bytes, mtype: str) -> list | None:
    """Every event of a JSON / NDJSON body typed in one C call, or None when any event needs the
    per-event path (an invalid value, an unknown type or key, a `map` alias, a form body, a line
    that is not one event object, nesting past the recursion limit while looking for `type`).

    The typed events are flat (unknown keys are refused), so nothing that gets through here can be
    nested deeper than `FRAGSTATS_MAX_JSON_DEPTH`.
    """
    try:
        if mtype in JSON_TYPES:
            first = body.lstrip()[:1]
            if first == b"[":
                return _fast_many.decode(body)
            if first == b"{":
                return [_fast_one.decode(body)]
        elif mtype in NDJSON_TYPES:
            # `decode_lines` types each line as the decoder's type: one event, not a list of them.
            return _fast_one.decode_lines(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        pass
    return None


def stamp(events: list, server_id: int, received_s: float) -> list:
    """Set the server's fields on fast-path events; raises ValueError (with the index) for an
    implausible `occurred_at` so the caller can redo the body on the per-event path."""
    for event in events:
        if event.server_id or event.received_at or event.extra:
            return []  # the client sent fields we own: the per-event path keeps them in `extra`
        event.server_id = server_id
        event.received_at = received_s
        if event.occurred_at is not None:
            event.occurred_at = _occurred_at_s(event.occurred_at, received_s)
        if not event.match_id or event.match_id == "no_match":
            event.match_id = event.session_id
    return events


def oversized_events(body: bytes, mtype: str, limit: int) -> dict[int, int]:
    """Index -> size in bytes of each event of the body whose text (after gzip decoding) is over
    `limit` bytes. Free for bodies no larger than the limit (most: the tracker sends <= 20 events);
    otherwise one C pass that slices a JSON array into raw elements, or the body into lines."""
    if len(body) <= limit:
        return {}
    if mtype in JSON_TYPES:
        if body.lstrip()[:1] != b"[":
            return {0: len(body)}
        try:
            sizes = [len(raw) for raw in _raw_items.decode(body)]
        except (msgspec.DecodeError, RecursionError):
            return {}  # not an array of objects: split_items says why, for the whole body
    else:  # NDJSON and form bodies: one event a non-blank line, as split_items counts them
        sizes = [len(line) for line in body.splitlines() if line.strip()]
    return {index: size for index, size in enumerate(sizes) if size > limit}


def decode_events(body: bytes, mtype: str, server_id: int, received_s: float | None = None,
                  max_event_bytes: int = 0, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[int, Verdicts]:
    """A whole (already decompressed) body -> (number of items, verdicts).

    Known-good bodies take the fast path; anything else is read event by event so each bad event
    gets its own index, field and reason and its valid neighbours are kept. An event whose JSON
    text is over `max_event_bytes` (0: no limit) is rejected as `too_large`, one nested deeper than
    `max_depth` levels as `too_deep`. Raises BodyError.
    """
    received_s = round(time.time() if received_s is None else received_s, 3)
    oversized = oversized_events(body, mtype, max_event_bytes) if max_event_bytes else {}
    if not oversized:
        events = decode_fast(body, mtype)
        if events:
            try:
                stamped = stamp(events, server_id, received_s)
            except ValueError:
                stamped = []
            if stamped:
                return len(stamped), Verdicts(accepted=stamped)
    items, unreadable = split_items(body, mtype, max_depth)
    unreadable_at = {r.index for r in unreadable}
    too_large = [Rejection(index, None, f"event is {size} bytes; the limit is {max_event_bytes} bytes",
                           "too_large") for index, size in oversized.items() if index not in unreadable_at]
    return len(items), validate(items, server_id, received_s, unreadable + too_large)
