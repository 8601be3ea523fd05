"""raw_events rows as ClickHouse `RowBinary`, written straight from the decoded Structs.

Why this format (bench/RESULTS.md, "Row format and table layout", `python -m bench.formats`): per
committed event, the event loop's encoding plus the engine's parse of RowBinary cost less CPU than
any other format measured. JSONEachRow is the cheapest to write (msgspec, in C) but the dearest
for ClickHouse to read; Native and Arrow are the cheapest to read but must be built column by
column, whose fixed cost per column is paid by every request (a request is encoded once, when it
is admitted, so that the queue and the write-ahead log hold compact bytes). RowBinary rows are
self-contained and concatenate: a batch is the join of its requests' rows.

Format (source: ClickHouse's documentation of RowBinary, "Formats for input and output data"):
each row is the values of `COLUMNS` in that order, without separators: fixed-size numbers little
endian (Bool one byte, DateTime64(3) an Int64 of milliseconds), a String as its byte length
(unsigned LEB128) then its UTF-8 bytes, a Map as its entry count then key, value, key, value...
A value the client did not send is written as its column's default (NaN for a position or angle,
received_at for occurred_at, 0, '' or false otherwise): what the column's DEFAULT would give, so a
row stores exactly what the JSONEachRow line of the release before it stored.

`COLUMNS` begins with a Bool, so a payload of rows begins with byte 0 or 1, never `{`: payloads of
JSONEachRow lines written by the release before clickhouse/0008 (write-ahead log segments, spooled
batches) are told apart by their first byte and converted (`from_json_lines`).

Per event type an encoder is generated once from the declaration (ingest/events.py STORAGE) and
compiled: runs of numbers in one `struct.pack`, runs of defaults as constant bytes, the strings in
one `%` format when they are ASCII and short (the usual case), else one by one. The decoder is
generic and slow: it serves the rare paths (isolating refused rows, the dead-letter store).
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable, Iterable

import msgspec

from ingest.events import (
    EVENT_TYPES,
    PLAYER_BLOCK,
    STORAGE,
    STORED_COLUMNS,
    STRUCTS,
    EventUnion,
    UnknownEvent,
    column_type,
    wire_type,
)

FORMAT = "RowBinary"

_FIXED = {"Bool": "?", "UInt32": "I", "Int32": "i", "UInt64": "Q", "Float32": "f", "Float64": "d",
          "DateTime64(3, 'UTC')": "q"}
_STRING_TYPES = ("String", "LowCardinality(String)")
# Columns whose DEFAULT is NaN (clickhouse/0008): positions and angles.
_NAN_SUFFIXES = ("_x", "_y", "_z", "_pitch", "_yaw")


def _order() -> tuple[str, ...]:
    fixed = [c for c, t in STORED_COLUMNS.items() if t in _FIXED]
    fixed.sort(key=lambda c: STORED_COLUMNS[c] != "Bool")  # a Bool first: rows never begin with `{`
    strings = [c for c, t in STORED_COLUMNS.items() if t in _STRING_TYPES]
    rest = set(STORED_COLUMNS) - set(fixed) - set(strings)
    if rest != {"extra"}:
        raise TypeError(f"no RowBinary writer for columns {sorted(rest)}")
    return (*fixed, *strings, "extra")


# The insert's column list, in the order a row holds its values.
COLUMNS: tuple[str, ...] = _order()
_FIXED_COLUMNS = tuple(c for c in COLUMNS if STORED_COLUMNS[c] in _FIXED)
_STRING_COLUMNS = tuple(c for c in COLUMNS if STORED_COLUMNS[c] in _STRING_TYPES)
_FIXED_ROW = struct.Struct("<" + "".join(_FIXED[STORED_COLUMNS[c]] for c in _FIXED_COLUMNS))


def default_of(column: str) -> object:
    """The value ClickHouse would give `column` of raw_events when the insert leaves it out."""
    typ = STORED_COLUMNS[column]
    if typ in _STRING_TYPES:
        return ""
    if typ == "Bool":
        return False
    if typ == "Float32" and column.endswith(_NAN_SUFFIXES):
        return math.nan
    return 0.0 if typ.startswith("Float") else 0


_LEB = [bytes([n]) if n < 0x80 else bytes([(n & 0x7F) | 0x80, n >> 7]) for n in range(1 << 14)]


def leb128(n: int) -> bytes:
    """Unsigned LEB128 (ClickHouse's VarUInt): string lengths and map sizes."""
    if n < 1 << 14:
        return _LEB[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _text(value: object) -> str:
    """A value kept in `extra`: strings as they are, anything else as its JSON text (ingest/decode.py
    keeps unknown keys the same way)."""
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _map(pairs: dict[str, str]) -> bytes:
    out = [leb128(len(pairs))]
    for key, value in pairs.items():
        k, v = key.encode(), value.encode()
        out += (leb128(len(k)), k, leb128(len(v)), v)
    return b"".join(out)


def _extra_with(event: object, fields: tuple[tuple[str, object], ...]) -> bytes:
    """`extra` plus the Struct fields kept in it (a kill's killer block), as a RowBinary Map. A
    field is written when it holds more than its block's column would without it ('' and 0 are
    what such a column holds when nothing was sent; clickhouse/0008 converts old rows so too)."""
    pairs = dict(event.extra)
    for name, default in fields:
        value = getattr(event, name)
        if value is not None and value != default:
            pairs[name] = _text(value)
    return _map(pairs) if pairs else b"\x00"


def _string(value: object) -> bytes:
    if value is None:
        return b"\x00"
    data = (value if value.__class__ is str else str(value)).encode()
    return leb128(len(data)) + data


def _generate(etype: str | None) -> tuple[str, dict]:
    """Source of `encode_<type>(ev) -> bytes` for one event type (None: UnknownEvent), and its globals."""
    columns, in_extra = STORAGE[etype] if etype is not None else ({c: c for c in STORED_COLUMNS
                                                                    if c in UnknownEvent.__struct_fields__}, ())
    # A player block kept in `extra`: each field with what its role's column holds when not sent.
    suffixes = {name: next(s for s in PLAYER_BLOCK if name.endswith("_" + s)) for name in in_extra}
    names: dict = {"NAN": math.nan, "leb128": leb128, "_string": _string, "_map": _map, "_extra_with": _extra_with,
                   "IN_EXTRA": tuple((name, default_of(f"actor_{suffixes[name]}")) for name in in_extra)}
    body: list[str] = []
    parts: list[str] = []
    const = bytearray()
    run: list[tuple[str, str]] = []

    def flush_const() -> None:
        if const:
            parts.append(repr(bytes(const)))
            const.clear()

    def flush_run() -> None:
        if run:
            key = f"PACK{len(names)}"
            names[key] = struct.Struct("<" + "".join(f for f, _ in run)).pack
            parts.append(f"{key}({', '.join(e for _, e in run)})")
            run.clear()

    for column in _FIXED_COLUMNS:
        fmt = _FIXED[STORED_COLUMNS[column]]
        field = columns.get(column)
        if field is None:
            flush_run()
            const += struct.pack("<" + fmt, default_of(column))
            continue
        flush_const()
        if column == "received_at":
            body.append("rcv = round(ev.received_at * 1000)")
            expr = "rcv"
        elif column == "occurred_at":  # not sent: the receipt time (the column's DEFAULT)
            body.append("o = ev.occurred_at")
            expr = "(rcv if o is None else round(o * 1000))"
        elif column == "server_id":
            expr = "ev.server_id"
        else:
            var = f"n{len(body)}"
            body.append(f"{var} = ev.{field}")
            default = default_of(column)
            expr = f"({var} if {var} is not None else {'NAN' if default != default else repr(default)})"
        run.append((fmt, expr))
    flush_run()
    flush_const()
    fast: list[str] = []  # a %-format of the string columns (ASCII, each under 128 bytes)
    fast_args: list[str] = []
    slow: list[str] = []
    for column in _STRING_COLUMNS:
        if column == "type" and etype is not None:
            fast.append(chr(len(etype)) + etype.replace("%", "%%"))
            slow.append(repr(leb128(len(etype.encode())) + etype.encode()))
            continue
        field = "type" if column == "type" else columns.get(column)
        if field is None:
            fast.append("\x00")
            slow.append("b'\\x00'")
            continue
        var = f"s{len(body)}"
        if column.endswith("_guid"):  # the tracker may send a forum id as a number
            body.append(f"{var} = ev.{field}")
            body.append(f"{var} = '' if {var} is None else {var} if {var}.__class__ is str else str({var})")
        elif field in ("match_id", "session_id", "map_name", "gametype", "type"):
            body.append(f"{var} = ev.{field}")
        else:
            body.append(f"{var} = ev.{field} or ''")
        fast.append("%c%s")
        fast_args += [f"len({var})", var]
        slow.append(f"_string({var})")
    names["STRINGS"] = "".join(fast)
    extra = "_extra_with(ev, IN_EXTRA)" if in_extra else "(_map(ev.extra) if ev.extra else b'\\x00')"
    head = ", ".join(parts) + ", " if parts else ""
    source = ("def encode(ev):\n" + "".join(f"    {line}\n" for line in body)
              + "    try:\n"
              + f"        strings = (STRINGS % ({', '.join(fast_args)},)).encode('ascii')\n"
              + "    except (UnicodeEncodeError, OverflowError):  # non-ASCII, or a string of 128 bytes or more\n"
              + f"        strings = b''.join(({', '.join(slow)},))\n"
              + f"    return b''.join(({head}strings, {extra}))\n")
    return source, names


def _compile(etype: str | None) -> Callable[[object], bytes]:
    source, names = _generate(etype)
    exec(compile(source, f"<RowBinary encoder of {etype or 'unknown types'}>", "exec"), names)  # noqa: S102
    return names["encode"]


# Struct class -> its compiled row encoder.
ENCODERS: dict[type, Callable[[object], bytes]] = {STRUCTS[t]: _compile(t) for t in EVENT_TYPES}
ENCODERS[UnknownEvent] = _compile(None)


def encode(events: Iterable) -> bytes:
    """Validated events -> their RowBinary rows, concatenated (the values of `COLUMNS`)."""
    encoders = ENCODERS
    return b"".join([encoders[ev.__class__](ev) for ev in events])


# ---- reading rows back (rare paths: isolation, dead letters, the write-ahead log's old format) ----

def _varint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, pos
        shift += 7


def _skip_string(data: bytes, pos: int) -> int:
    n, pos = _varint(data, pos)
    return pos + n


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    n, pos = _varint(data, pos)
    return data[pos:pos + n].decode("utf-8", "replace"), pos + n


def split(payload: bytes) -> list[bytes]:
    """The rows of a payload, each as its own bytes (isolating the rows ClickHouse refuses).
    Raises ValueError when the payload ends inside a row."""
    rows = []
    pos, end, fixed = 0, len(payload), _FIXED_ROW.size
    try:
        while pos < end:
            start = pos
            pos += fixed
            for _ in _STRING_COLUMNS:
                pos = _skip_string(payload, pos)
            entries, pos = _varint(payload, pos)
            for _ in range(2 * entries):
                pos = _skip_string(payload, pos)
            if pos > end:
                raise IndexError
            rows.append(payload[start:pos])
    except IndexError:
        raise ValueError(f"RowBinary payload cut inside a row at byte {start} of {end}") from None
    return rows


def columns_of(row: bytes) -> dict[str, object]:
    """One row's values by column (DateTime64 as epoch milliseconds). Raises ValueError."""
    try:
        values = dict(zip(_FIXED_COLUMNS, _FIXED_ROW.unpack_from(row, 0)))
        pos = _FIXED_ROW.size
        for column in _STRING_COLUMNS:
            values[column], pos = _read_string(row, pos)
        entries, pos = _varint(row, pos)
        extra = {}
        for _ in range(entries):
            key, pos = _read_string(row, pos)
            extra[key], pos = _read_string(row, pos)
    except (IndexError, struct.error):
        raise ValueError("not a whole RowBinary row of raw_events") from None
    values["extra"] = extra
    return values


def _is_default(column: str, value: object) -> bool:
    default = default_of(column)
    return value == default or (default != default and value != value)


def event_of(row: bytes) -> object:
    """The event a row stores, as its Struct; a value equal to its column's default reads as not
    sent. Raises ValueError for bytes that are not a row."""
    values = columns_of(row)
    etype = values["type"]
    extra = values["extra"]
    if etype not in EVENT_TYPES:
        fields = {c: values[c] for c in UnknownEvent.__struct_fields__ if c in values}
        fields["occurred_at"] = values["occurred_at"] / 1000
        fields["received_at"] = values["received_at"] / 1000
        return UnknownEvent(**fields)
    columns, in_extra = STORAGE[etype]
    fields: dict[str, object] = {}
    for column, field in columns.items():
        value = values[column]
        if field in ("occurred_at", "received_at"):
            fields[field] = value / 1000
        elif field in ("match_id", "session_id", "map_name", "gametype", "server_id") or not _is_default(column, value):
            fields[field] = value
    kept = {k: v for k, v in extra.items() if k not in in_extra}
    own = {k: extra[k] for k in in_extra if k in extra}
    if own:  # a kill's killer block, kept as text: back to its declared types
        typed = msgspec.convert(own, _IN_EXTRA[etype], strict=False)
        fields.update((k, v) for k, v in msgspec.structs.asdict(typed).items() if v is not None)
    fields["extra"] = kept
    return STRUCTS[etype](**fields)


# type -> a Struct of the fields it keeps in `extra`, to read them back from their text.
_IN_EXTRA: dict[str, type] = {
    etype: msgspec.defstruct(f"InExtra{etype.title().replace('_', '')}",
                             [(name, wire_type(name, column_type(etype, name)) | None, None) for name in in_extra])
    for etype, (_, in_extra) in STORAGE.items() if in_extra
}


def receipt_keys(payload: bytes) -> Counter:
    """(server_id, received_at in epoch ms, match_id) -> how many rows of the payload have them."""
    return Counter((v["server_id"], v["received_at"], v["match_id"]) for v in map(columns_of, split(payload)))


def decode(payload: bytes) -> list:
    """Every event of a payload of rows (see `event_of`). Raises ValueError."""
    return [event_of(row) for row in split(payload)]


def readable(row: bytes) -> bytes:
    """A row as the JSON object of its event (the dead-letter store keeps refused rows so); bytes
    that are not a row come back as they are."""
    try:
        return _json.encode(event_of(row))
    except ValueError:
        return row


_json = msgspec.json.Encoder()
_json_line = msgspec.json.Decoder(EventUnion, strict=False)
_json_unknown = msgspec.json.Decoder(UnknownEvent, strict=False)


def is_json_lines(payload: bytes) -> bool:
    """True for a payload of JSON lines (the release before clickhouse/0008 queued, logged and
    spooled JSONEachRow; the dead-letter store keeps JSON); rows begin with a Bool (0 or 1)."""
    return payload[:1] == b"{"


def events_of_json_lines(payload: bytes) -> list:
    """Events of JSON lines as `msgspec.json.Encoder().encode_lines` wrote them (the JSONEachRow
    payloads of the release before clickhouse/0008, dead letters). Raises msgspec.DecodeError for
    a line that is not an event."""
    events = []
    for line in payload.split(b"\n"):
        if not line.strip():
            continue
        try:
            events.append(_json_line.decode(line))
        except msgspec.ValidationError:  # a type we do not declare: kept whole, with its keys in extra
            events.append(_json_unknown.decode(line))
    return events


def from_json_lines(payload: bytes) -> bytes:
    """JSON lines of events -> RowBinary rows of the same events. Raises msgspec.DecodeError."""
    return encode(events_of_json_lines(payload))
