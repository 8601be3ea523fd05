"""Realm snapshots: a full list of a realm's ("kingdom's") players on a date, as game admins export it.

Formats: CSV (a header row, then one row per player), JSON (an array of objects, or an object with
`rows`/`players`/`data` and optionally `date`), or an Excel workbook as kingdom scanners write it:
several sheets, the data sheet being the one whose header row holds an id column; the scan time in a
summary sheet as a label cell (`Scan Time`, `Scan Date`, `Scanned At`, `Date`, ...) with the time or
date to its right, used when the upload names no `date`.

Rules: column names normalised to snake_case (`Kill Points` -> `kill_points`, `killPoints` ->
`kill_points`); the id and name columns found by `FRAGSTATS_SNAPSHOT_ID_ALIASES` /
`FRAGSTATS_SNAPSHOT_NAME_ALIASES`; a column whose every value is an integer is a 64-bit integer column
(`1,234,567` counts; kill points pass 10^10), one with any other number a float column, else text;
names kept exactly as sent (Unicode untouched); ids unique within the file (duplicates refused,
naming their rows: row 1 is the header); at most `FRAGSTATS_SNAPSHOT_MAX_ROWS` rows; the realm's
score formula applied. Metadata added to each row: realm, snapshot_date, ingested_at, run_id (from the
realm, the date and the file's SHA-256: the same file twice is the same run) and record_hash (SHA-256
of the row's canonical JSON).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field

import msgspec

from uploads.bodies import BodyProblem, problem
from uploads.formula import Formula

INT64 = (-(2**63), 2**63 - 1)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_GROUPED_INT = re.compile(r"^[+-]?\d{1,3}(,\d{3})+$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
SCAN_LABELS = ("scan_time", "scan_date", "scanned_at", "scan_started", "scan_start", "date", "time", "scanned")
XLSX_MAGIC = b"PK\x03\x04"


def snake(name: str) -> str:
    """A column name in snake_case: `Kill Points` -> `kill_points`, `T4 Kills` -> `t4_kills`, `killPoints` ->
    `kill_points`."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", str(name).strip()).lower()).strip("_")


def number(value):
    """A cell as int, float or None (not a number). Floats that are whole numbers become ints (Excel
    stores every number as a float)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    if isinstance(value, str):
        text = value.strip()
        if _GROUPED_INT.match(text):
            text = text.replace(",", "")
        if _INT.match(text):
            return int(text)
        if _FLOAT.match(text):
            return float(text)
    return None


@dataclass
class Table:
    """A file as a header (normalised names) and rows of raw cells; `row_numbers[i]` is the file row of
    `rows[i]` (1 = the header); `scan_time` from a workbook's summary sheet."""

    header: list[str]
    rows: list[list]
    row_numbers: list[int]
    scan_time: dt.date | None = None
    file_format: str = "csv"


@dataclass
class Snapshot:
    """A validated snapshot: typed columns and the ClickHouse rows (`JSONEachRow` bytes)."""

    columns: dict[str, str]  # name -> int | float | text
    id_column: str
    name_column: str | None
    payload: bytes
    rows: int
    entities: list[str] = field(default_factory=list)


def _header(cells) -> list[str]:
    names = [snake(c) if c is not None else "" for c in cells]
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = n or f"column_{i + 1}"
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def read_csv(data: bytes) -> Table:
    text = data.decode("utf-8-sig", errors="replace")
    try:
        sample = text[:4096]
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    try:
        lines = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise BodyProblem(422, "invalid_body", [problem("$", f"not a CSV file: {exc}")]) from None
    lines = [ln for ln in lines]
    if not lines:
        raise BodyProblem(422, "invalid_body", [problem("$", "the file is empty")])
    rows, numbers = [], []
    for i, ln in enumerate(lines[1:], start=2):
        if any(c.strip() for c in ln):
            rows.append(ln)
            numbers.append(i)
    return Table(_header(lines[0]), rows, numbers, None, "csv")


def read_json_table(data: bytes) -> Table:
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise BodyProblem(422, "invalid_body", [problem("$", f"not JSON: {exc}")]) from None
    scan = None
    if isinstance(doc, dict):
        for k in ("date", "snapshotDate", "snapshot_date", "scanTime", "scan_time"):
            if isinstance(doc.get(k), str):
                scan = _as_date(doc[k])
        doc = next((doc[k] for k in ("rows", "players", "data") if isinstance(doc.get(k), list)), None)
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise BodyProblem(422, "invalid_body", [problem("$", "expected an array of objects (or {\"rows\": [...]})")])
    names: list[str] = []
    for r in doc:
        for k in r:
            if k not in names:
                names.append(k)
    rows = [[r.get(k) for k in names] for r in doc]
    return Table(_header(names), rows, list(range(2, len(rows) + 2)), scan, "json")


def _as_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.timezone.utc) if value.tzinfo else value).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        for parse in (dt.datetime.fromisoformat, lambda t: dt.datetime.strptime(t, "%Y/%m/%d %H:%M:%S"),
                      lambda t: dt.datetime.strptime(t, "%d.%m.%Y %H:%M"), lambda t: dt.datetime.strptime(t, "%Y/%m/%d")):
            try:
                return _as_date(parse(text))
            except ValueError:
                continue
    return None


def read_xlsx(data: bytes, id_aliases: list[str]) -> Table:
    """The data sheet (the first whose first non-empty row holds an id alias) and the scan time of
    the other sheets."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise BodyProblem(422, "invalid_body", [problem("$", f"not a readable Excel workbook: {type(exc).__name__}")]) from None
    try:
        data_sheet, header_row, scan = None, None, None
        for sheet in book.worksheets:
            lines = sheet.iter_rows(values_only=True)
            for number_, cells in enumerate(lines, start=1):
                if not any(c not in (None, "") for c in cells):
                    continue
                names = _header(cells)
                if data_sheet is None and set(names) & set(id_aliases):
                    data_sheet, header_row = sheet, (number_, names)
                break
        if data_sheet is None:
            raise BodyProblem(422, "invalid_body", [problem("$", f"no sheet has a header with an id column ({', '.join(id_aliases)})")])
        for sheet in book.worksheets:
            if sheet is data_sheet or scan is not None:
                continue
            for cells in sheet.iter_rows(values_only=True, max_row=200):
                for i, cell in enumerate(cells):
                    if isinstance(cell, str) and snake(cell) in SCAN_LABELS:
                        found = next((_as_date(v) for v in cells[i + 1:] if _as_date(v) is not None), None)
                        if found is not None:
                            scan = found
                            break
                if scan is not None:
                    break
        start, names = header_row
        rows, numbers = [], []
        for number_, cells in enumerate(data_sheet.iter_rows(values_only=True, min_row=start + 1), start=start + 1):
            if any(c not in (None, "") for c in cells):
                rows.append(list(cells))
                numbers.append(number_)
        return Table(names, rows, numbers, scan, "xlsx")
    finally:
        book.close()


def read_table(data: bytes, content_type: str, id_aliases: list[str]) -> Table:
    """The file as a table, by its type (`Content-Type`, else its first bytes)."""
    ctype = content_type.split(";")[0].strip().lower()
    head = data[:64].lstrip()
    if data.startswith(XLSX_MAGIC) or "spreadsheetml" in ctype or "excel" in ctype:
        return read_xlsx(data, id_aliases)
    if ctype == "application/json" or head[:1] in (b"[", b"{"):
        return read_json_table(data)
    return read_csv(data)


def build(table: Table, *, realm: str, date: dt.date, run_id: str, id_aliases: list[str],
          name_aliases: list[str], formula: Formula | None, max_rows: int, ingested_at: float) -> Snapshot:
    """Validate a table and turn it into snapshot rows. Raises BodyProblem 422 naming rows and columns."""
    header = table.header
    id_col = next((a for a in id_aliases if a in header), None)
    if id_col is None:
        raise BodyProblem(422, "invalid_body", [problem("$.header", f"no id column: expected one of {', '.join(id_aliases)}; got {', '.join(header[:30])}")])
    name_col = next((a for a in name_aliases if a in header), None)
    if len(table.rows) > max_rows:
        raise BodyProblem(422, "invalid_body", [problem("$", f"{len(table.rows)} rows; at most {max_rows}")])
    if not table.rows:
        raise BodyProblem(422, "invalid_body", [problem("$", "no rows")])
    at = header.index(id_col)
    found, ids = [], {}
    for row, line in zip(table.rows, table.row_numbers):
        raw = row[at] if at < len(row) else None
        value = number(raw)
        key = str(value) if isinstance(value, int) else (str(raw).strip() if raw not in (None, "") else "")
        if not key:
            found.append(problem(f"row {line}.{id_col}", "the id is empty", line))
        elif key in ids:
            found.append(problem(f"row {line}.{id_col}", f"id {key} is also on row {ids[key]}", line))
        else:
            ids[key] = line
    if found:
        raise BodyProblem(422, "duplicate_ids" if any("also on row" in p["reason"] for p in found) else "invalid_body",
                          found[:100])
    columns: dict[str, str] = {}
    for c, name in enumerate(header):
        if name in (id_col, name_col):
            continue
        values = [row[c] for row in table.rows if c < len(row) and row[c] not in (None, "")]
        nums = [number(v) for v in values]
        if values and all(isinstance(n, int) and INT64[0] <= n <= INT64[1] for n in nums):
            columns[name] = "int"
        elif values and all(n is not None for n in nums):
            columns[name] = "float"
        else:
            columns[name] = "text"
    if formula is not None:
        unknown = formula.columns - {c for c, t in columns.items() if t != "text"}
        if unknown:
            raise BodyProblem(422, "invalid_body", [problem("$.header", f"the realm's score formula {formula.text!r} uses columns this file lacks or holds as text: {', '.join(sorted(unknown))}")])
    lines, entities = [], []
    encode = msgspec.json.encode
    for row, line in zip(table.rows, table.row_numbers):
        cell = dict(zip(header, row))
        ints, floats, texts = {}, {}, {}
        for name, kind in columns.items():
            v = cell.get(name)
            if v in (None, ""):
                continue
            if kind == "int":
                ints[name] = number(v)
            elif kind == "float":
                floats[name] = float(number(v))
            else:
                texts[name] = str(v)
        entity = str(number(cell[id_col])) if isinstance(number(cell[id_col]), int) else str(cell[id_col]).strip()
        name = "" if name_col is None or cell.get(name_col) is None else str(cell[name_col])
        record = {"entity_id": entity, "name": name, "ints": ints, "floats": floats, "texts": texts}
        record_hash = hashlib.sha256(encode(record, order="sorted")).hexdigest()
        score = formula({**ints, **floats}) if formula is not None else None
        lines.append(encode({**record, "realm": realm, "snapshot_date": date.isoformat(), "score": score,
                             "row_number": line, "run_id": run_id, "record_hash": record_hash,
                             "ingested_at": ingested_at}))
        entities.append(entity)
    return Snapshot(columns, id_col, name_col, b"\n".join(lines), len(lines), entities)


def run_id_of(realm: str, date: dt.date, digest: str) -> str:
    """The run id of a snapshot: the same realm, date and file give the same id (idempotent inserts)."""
    return hashlib.sha256(f"{realm}|{date.isoformat()}|{digest}".encode()).hexdigest()[:32]


def insert(client, snap: Snapshot, run_id: str) -> None:
    """Insert the rows (blocking: a worker thread) under the run id as deduplication token, so a retry
    of the same snapshot is not stored twice."""
    client.raw_insert("snapshot_rows", None, snap.payload, fmt="JSONEachRow",
                      settings={"insert_deduplication_token": run_id, "max_threads": 1, "max_insert_threads": 1,
                                "input_format_parallel_parsing": 0})


def discard(client, run_id: str) -> None:
    """Delete the rows of a run that did not become the snapshot (blocking: a worker thread)."""
    client.command("DELETE FROM snapshot_rows WHERE run_id = {r:String}", parameters={"r": run_id})
