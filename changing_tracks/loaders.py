"""Read the programme's data files into tidy DataFrames, checked against the contracts.

Files may be CSV (UTF-8 with or without a byte-order mark, or Windows-1252) or
Excel ``.xlsx``; a folder of such files loads as one table. Headers are matched
ignoring case, spaces and punctuation, with the aliases listed in the data
dictionary. Every problem in every file is collected and raised together as a
:class:`~changing_tracks.validation.DataValidationError`. Input files are only
ever read.

Each loaded table has the contract's columns plus ``source_file`` and
``source_row`` (the row as the user sees it) so that later checks can point
at the right place; analysis code ignores them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .contracts import (
    AUDIT_RATING_LABELS,
    SWEMWBS_ITEMS,
    TABLES,
    WEMWBS_ITEMS,
    Column,
    Table,
    normalise_header,
    normalise_value,
    programme_year,
    programme_year_of,
)
from .validation import DataValidationError, ProblemLog

__all__ = [
    "Dataset",
    "load_data",
    "load_table",
    "load_audit",
    "load_wellbeing",
    "load_participation",
    "load_attendance",
    "load_outcomes",
    "SOURCE_COLUMNS",
]

#: Columns added by the loader to point back at the input.
SOURCE_COLUMNS = ("source_file", "source_sheet", "source_row")

_DATA_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")
_UNKNOWN_WORDS = {normalise_value(w) for w in (
    "", "unknown", "not known", "not recorded", "refused", "prefer not to say", "unclassified",
    "information not obtained", "na", "n/a", "nan", "none recorded", "-")}
_NOT_APPLICABLE = {normalise_value(w) for w in ("N/A", "NA", "n.a.", "not applicable")}
_HEADER_SCAN_ROWS = 30


# --------------------------------------------------------------------------
# Reading raw cells
# --------------------------------------------------------------------------

@dataclass
class _Raw:
    """Cells of one sheet or CSV as text, with the row numbers a user sees."""

    frame: pd.DataFrame  # original headers, all values str ("" = blank)
    rows: np.ndarray
    file: str
    sheet: str | None
    header_row: int


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == datetime.min.time() \
            else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _read_csv(path: Path, display: str) -> _Raw:
    """Cells of a CSV as text. Fast (pyarrow) for UTF-8 files without blank lines, where
    the row numbers are certain; otherwise pandas, keeping blank lines to count rows."""
    frame = _read_csv_arrow(path)
    if frame is None:
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                frame = pd.read_csv(path, dtype="string[pyarrow]", keep_default_na=False,
                                    na_filter=False, skip_blank_lines=False, encoding=encoding)
                break
            except UnicodeDecodeError:
                continue
    rows = np.arange(len(frame), dtype=np.int64) + 2
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.apply(lambda s: s.str.strip()) if len(frame) else frame
    blank = (frame == "").all(axis=1).to_numpy() if frame.shape[1] else np.zeros(len(frame), bool)
    if blank.any():
        frame, rows = frame.loc[~blank].reset_index(drop=True), rows[~blank]
    return _Raw(frame, rows, display, None, 1)


def _read_csv_arrow(path: Path) -> pd.DataFrame | None:
    """All columns as Arrow strings, or None when the fast path cannot promise row numbers
    (blank lines, quoted line breaks) or the file is not UTF-8."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"
    try:
        table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
            strings_can_be_null=False, quoted_strings_can_be_null=False,
            column_types=_all_strings(path)))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows + 1 != lines:
        return None
    return table.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow")
                           if t in (pa.string(), pa.large_string()) else None)


def _all_strings(path: Path) -> dict:
    """Column types for pyarrow: every header read as text (nothing inferred)."""
    import pyarrow as pa

    with path.open("rb") as fh:
        first = fh.readline().decode("utf-8-sig")
    import csv

    names = next(csv.reader([first]), [])
    return {name: pa.string() for name in names}


def _find_header(rows: list[tuple], spellings: set[str]) -> int | None:
    """Index of the first row with at least two cells naming contract columns."""
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        hits = sum(1 for v in row if v is not None and normalise_header(v) in spellings)
        if hits >= 2:
            return i
    return None


def _sheet_rows(ws) -> list[tuple]:
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


def _raw_from_rows(rows: list[tuple], header_index: int, display: str, sheet: str | None) -> _Raw:
    header = [_cell_text(v) for v in rows[header_index]]
    width = len(header)
    while width and header[width - 1] == "":
        width -= 1
    header = header[:width]
    body, numbers = [], []
    for offset, row in enumerate(rows[header_index + 1:], start=header_index + 2):
        cells = [_cell_text(v) for v in row[:width]] + [""] * max(0, width - len(row))
        if any(cells):
            body.append(cells)
            numbers.append(offset)
    names = [h if h else f"(column {i + 1})" for i, h in enumerate(header)]
    frame = pd.DataFrame(body, columns=names, dtype=object) if body else \
        pd.DataFrame(columns=names, dtype=object)
    return _Raw(frame, np.asarray(numbers, dtype=np.int64), display, sheet, header_index + 1)


def _read_excel(path: Path, display: str, table: Table, log: ProblemLog) -> _Raw | None:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        spellings = {s for c in table.columns for s in c.header_spellings}
        for ws in wb.worksheets:
            rows = _sheet_rows(ws)
            index = _find_header(rows, spellings)
            if index is not None:
                return _raw_from_rows(rows, index, display, ws.title)
    finally:
        wb.close()
    log.add(f"no sheet has a header row naming the {table.name} columns",
            file=display, expected=", ".join(table.required))
    return None


def _data_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.suffix.lower() in _DATA_SUFFIXES and not p.name.startswith(("~$", ".")))
    return [path]


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return path.name


# --------------------------------------------------------------------------
# Parsing values
# --------------------------------------------------------------------------

def _parse_unique(col: Column, text: str):
    """(value, ok) for one distinct cell text under a column's kind; blank → (NA, True)."""
    if text == "":
        return pd.NA, True
    kind = col.kind
    if kind in ("id", "text"):
        return text, True
    key = normalise_value(text)
    if kind == "category":
        if key in col.value_aliases:
            return col.value_aliases[key], True
        if col.nullable and key in _UNKNOWN_WORDS:
            return pd.NA, True
        return pd.NA, False
    if kind == "list":
        values = []
        for part in re.split(r"[;,/]", text):
            part_key = normalise_value(part)
            if not part_key:
                continue
            if part_key not in col.value_aliases:
                return pd.NA, False
            values.append(col.value_aliases[part_key])
        return ("; ".join(dict.fromkeys(values)) if values else pd.NA), True
    if kind == "boolean":
        if key in col.value_aliases:
            return bool(col.value_aliases[key]), True
        if key in _UNKNOWN_WORDS:
            return pd.NA, True
        return pd.NA, False
    if kind == "year":
        year = programme_year(text)
        return (year, True) if year else (pd.NA, False)
    if kind == "date":
        return _parse_date(text)
    if kind in ("integer", "rating"):
        if key in col.value_aliases:
            return int(col.value_aliases[key]), True
        if kind == "integer" and col.nullable and key in _UNKNOWN_WORDS - {""}:
            return pd.NA, True
        try:
            number = float(text)
        except ValueError:
            return pd.NA, False
        if not number.is_integer() or not _in_range(col, number):
            return pd.NA, False
        return int(number), True
    if kind in ("number", "share"):
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            return pd.NA, False
        if kind == "share" and (percent or number > 1):
            number /= 100
        if not _in_range(col, number):
            return pd.NA, False
        return number, True
    raise AssertionError(kind)


def _in_range(col: Column, number: float) -> bool:
    return (col.minimum is None or number >= col.minimum) and (
        col.maximum is None or number <= col.maximum)


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y",
                 "%Y/%m/%d", "%d %B %Y", "%d %b %Y")


def _parse_date(text: str):
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt), True
        except ValueError:
            continue
    return pd.NA, False


_DTYPES = {"id": "string[pyarrow]", "text": "string[pyarrow]", "category": "string[pyarrow]",
           "year": "string[pyarrow]", "list": "string[pyarrow]",
           "integer": "Int64", "rating": "Int64", "number": "float64", "share": "float64",
           "boolean": "boolean", "date": "datetime64[ns]"}


def _empty_column(col: Column, n: int) -> pd.Series:
    if col.kind == "date":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    if col.kind in ("number", "share"):
        return pd.Series(np.nan, index=range(n), dtype="float64")
    return pd.Series(pd.NA, index=range(n), dtype=_DTYPES[col.kind])


def _convert(col: Column, raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Typed values and a mask of cells that could not be read, parsing each distinct text
    once and building the column by index (no per-row Python objects)."""
    raw = raw.reset_index(drop=True)
    if col.kind in ("id", "text"):
        text = raw.astype("string[pyarrow]")
        return text.mask(text == ""), np.zeros(len(raw), dtype=bool)
    codes, uniques = pd.factorize(raw, sort=False)
    parsed = [_parse_unique(col, str(u)) for u in uniques]
    ok = np.array([p[1] for p in parsed] + [True], dtype=bool)
    values = [p[0] for p in parsed]
    if col.kind == "date":
        typed = pd.array(pd.to_datetime(pd.Series([None if v is pd.NA else v for v in values],
                                                  dtype=object)), dtype="datetime64[ns]")
    elif col.kind in ("number", "share"):
        typed = pd.array(values, dtype="Float64")
    else:
        typed = pd.array(values, dtype=_DTYPES[col.kind])
    series = pd.Series(typed.take(codes, allow_fill=True))
    if col.kind in ("number", "share"):
        series = series.astype("float64")
    return series, ~ok[np.where(codes < 0, len(uniques), codes)]


def _blank_mask(raw: pd.Series) -> np.ndarray:
    return (raw == "").to_numpy(dtype=bool, na_value=True)


# --------------------------------------------------------------------------
# One table from one raw sheet
# --------------------------------------------------------------------------

def _match_headers(raw: _Raw, table: Table, log: ProblemLog, allow_identifiers: bool,
                   allowed_extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Contract column name → header in the file; logs missing and identifier columns."""
    spelling_to_col = {}
    for col in table.columns:
        for spelling in col.header_spellings:
            spelling_to_col.setdefault(spelling, col.name)
    found: dict[str, str] = {}
    unused: list[str] = []
    for header in raw.frame.columns:
        name = spelling_to_col.get(normalise_header(header))
        if name is None:
            unused.append(header)
        elif name in found:
            log.add(f"two columns both read as '{name}'", file=raw.file, sheet=raw.sheet,
                    row=raw.header_row, column=header,
                    expected=f"one column for {name} (the first is '{found[name]}')")
        else:
            found[name] = header
            log.headers[(raw.file, name)] = header
    _check_identifiers(unused, raw, log, allow_identifiers)
    for col in table.columns:
        if col.required and col.name not in found:
            hint = f"; columns not recognised: {', '.join(repr(u) for u in unused)}" if unused \
                else ""
            log.add(f"required column '{col.name}' is missing{hint}", file=raw.file,
                    sheet=raw.sheet, row=raw.header_row, column=col.name,
                    expected="a header such as " + " / ".join(
                        repr(a) for a in (col.name, *col.aliases[:3])))
    return found


def _check_identifiers(headers: list[str], raw: _Raw, log: ProblemLog, allow: bool) -> None:
    from .disclosure import identifier_columns

    for header, reason in identifier_columns(headers):
        if allow:
            log.add(f"column '{header}' looks like a direct identifier ({reason}); it was "
                    "dropped before analysis", file=raw.file, sheet=raw.sheet,
                    row=raw.header_row, column=header, severity="warning")
        else:
            log.add(f"column '{header}' looks like a direct identifier ({reason}). Personal "
                    "data must not be loaded: delete the column, or allow identifiers "
                    "explicitly (allow_identifiers=True / --allow-identifiers) to have it "
                    "dropped before analysis", file=raw.file, sheet=raw.sheet,
                    row=raw.header_row, column=header,
                    expected="pseudonymous data without names, contact details or dates of birth")


def _typed_table(raw: _Raw, table: Table, log: ProblemLog, allow_identifiers: bool) -> pd.DataFrame:
    found = _match_headers(raw, table, log, allow_identifiers)
    n = len(raw.frame)
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        header = found.get(col.name)
        if col.name in out:  # e.g. the audit status, derived with the rating
            continue
        if header is None:
            out[col.name] = _empty_column(col, n)
            continue
        cells = raw.frame[header]
        if cells.dtype == object:  # Excel cells, already text
            cells = cells.astype("string[pyarrow]")
        if col.kind == "rating":
            values, status, bad = _audit_ratings(cells)
            out[col.name] = values
            out["status"] = status
        else:
            values, bad = _convert(col, cells)
            out[col.name] = values
        if bad.any():
            log.add_rows(pd.DataFrame({"source_file": raw.file, "source_sheet": raw.sheet,
                                       "source_row": raw.rows[bad],
                                       "value": cells[bad].to_numpy(dtype=object)}),
                         message=f"'{col.name}' cannot be read", column=header,
                         expected=col.expected(), value_column="value")
        if not col.nullable and col.kind != "rating":
            blank = _blank_mask(cells)
            if blank.any():
                log.add_rows(pd.DataFrame({"source_file": raw.file, "source_sheet": raw.sheet,
                                           "source_row": raw.rows[blank]}),
                             message=f"'{col.name}' is blank", column=header,
                             expected=col.expected())
    frame = pd.DataFrame(out)
    frame = frame[[c.name for c in table.columns]]
    frame["source_file"] = pd.Series([raw.file] * n, dtype="string")
    frame["source_sheet"] = pd.Series([raw.sheet] * n, dtype="string")
    frame["source_row"] = raw.rows
    return frame


def _audit_ratings(cells: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Audit rating cells → (rating 1-3 or NA, status, unreadable mask)."""
    words = {normalise_value(k): v for k, v in AUDIT_RATING_LABELS.items()}
    codes, uniques = pd.factorize(cells.to_numpy(dtype=object))
    rating, status, ok = [], [], []
    for text in uniques:
        key = normalise_value(text)
        if text == "":
            rating.append(pd.NA), status.append("not rated"), ok.append(True)
        elif key in _NOT_APPLICABLE:
            rating.append(pd.NA), status.append("not applicable"), ok.append(True)
        elif key in words:
            rating.append(words[key]), status.append("rated"), ok.append(True)
        elif key in ("1", "2", "3", "1 0", "2 0", "3 0"):
            rating.append(int(float(text))), status.append("rated"), ok.append(True)
        else:
            rating.append(pd.NA), status.append("not rated"), ok.append(False)
    codes = np.where(codes < 0, len(uniques), codes)
    rating_arr = np.array(rating + [pd.NA], dtype=object)[codes]
    status_arr = np.array(status + ["not rated"], dtype=object)[codes]
    ok_arr = np.array(ok + [True])[codes]
    return (pd.Series(pd.array(rating_arr, dtype="Int64")),
            pd.Series(pd.array(status_arr, dtype="string")), ~ok_arr)


def _check_keys(frame: pd.DataFrame, table: Table, log: ProblemLog) -> None:
    key = list(table.key)
    if frame.empty or frame[key].isna().all(axis=None):
        return
    dup = frame.duplicated(subset=key, keep=False) & frame[key].notna().all(axis=1)
    if not dup.any():
        return
    rows = frame.loc[dup, key + ["source_file", "source_sheet", "source_row"]]
    first = rows.groupby(key, dropna=False, sort=False)["source_row"].transform("min")
    later = rows[rows["source_row"] != first].assign(first=first[rows["source_row"] != first])
    described = later.assign(value=later[key].astype(str).agg(" / ".join, axis=1))
    for rec in described.itertuples(index=False):
        log.add(f"duplicate {' + '.join(key)}: the same as row {int(rec.first)}",
                file=rec.source_file, sheet=rec.source_sheet if pd.notna(rec.source_sheet)
                else None, row=int(rec.source_row), column=key[0], value=rec.value,
                expected=f"each {' + '.join(key)} once")


def _read_table_files(path: Path, table: Table, log: ProblemLog, *, root: Path | None,
                      allow_identifiers: bool) -> pd.DataFrame:
    parts = []
    for file in _data_files(path):
        display = _display(file, root)
        if file.suffix.lower() in (".xlsx", ".xlsm"):
            raw = _read_excel(file, display, table, log)
        else:
            raw = _read_csv(file, display)
        if raw is not None:
            parts.append(_typed_table(raw, table, log, allow_identifiers))
    if not parts:
        return _empty_frame(table)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return frame


def _empty_frame(table: Table) -> pd.DataFrame:
    frame = pd.DataFrame({c.name: _empty_column(c, 0) for c in table.columns})
    frame["source_file"] = pd.Series(dtype="string")
    frame["source_sheet"] = pd.Series(dtype="string")
    frame["source_row"] = pd.Series(dtype="int64")
    return frame


# --------------------------------------------------------------------------
# Youth Music audit workbooks
# --------------------------------------------------------------------------

_SECTION_SHEET = re.compile(r"section\s*([123])\b", re.IGNORECASE)
_DETAIL_KEYS = {
    "service": {"organisation", "organisationname", "musicservice", "service", "servicename"},
    "rater": {"completedby", "rater", "ratedby", "assessor"},
    "date": {"datecompleted", "date", "completedon"},
    "wave": {"wave", "round", "audit"},
}


def _read_audit_workbook(path: Path, display: str, log: ProblemLog,
                         allow_identifiers: bool) -> pd.DataFrame:
    from openpyxl import load_workbook

    table = TABLES["audit_ratings"]
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = {ws.title: _sheet_rows(ws) for ws in wb.worksheets}
    finally:
        wb.close()
    details, totals, summary_name = _workbook_details(sheets)
    _fill_details_from_name(details, path)
    parts = []
    spellings = {s for c in table.columns for s in c.header_spellings} | {"statement"}
    for name, rows in sheets.items():
        match = _SECTION_SHEET.search(name)
        if not match:
            continue
        index = _find_header(rows, spellings)
        if index is None:
            log.add("no header row with Ref / Statement / Rating columns", file=display,
                    sheet=name, expected="a header row such as " + " | ".join(
                        ("Ref", "Statement", "Rating", "Comments / evidence")))
            continue
        raw = _raw_from_rows(rows, index, display, name)
        raw.frame = _audit_columns(raw.frame)
        for key in ("service", "wave", "rater", "date"):
            if key not in raw.frame:
                raw.frame[key] = _cell_text(details.get(key))
        frame = _typed_table(raw, table, log, allow_identifiers)
        frame["section"] = int(match.group(1))
        parts.append(frame)
    if not parts:
        log.add("no 'Section 1' / 'Section 2' / 'Section 3' sheets found", file=display,
                expected="a Youth Music ED&I self-assessment workbook")
        return _empty_frame(table)
    frame = pd.concat(parts, ignore_index=True)
    for key in ("service", "wave", "rater"):
        if not details.get(key):
            log.add(f"the workbook does not say its {key}", file=display, sheet=summary_name,
                    expected=f"a '{key}' entry on the summary sheet, or a file name like "
                             "service_wave_rater.xlsx")
    _cross_check_summary(frame, totals, display, summary_name, log)
    return frame.drop(columns="section")


def _audit_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """In a section sheet the 'Statement' header is the wording, not the reference."""
    renamed = {}
    for header in frame.columns:
        key = normalise_header(header)
        if key in ("statement", "statementtext", "text"):
            renamed[header] = "statement text"
    return frame.rename(columns=renamed)


def _workbook_details(sheets: dict[str, list[tuple]]):
    details: dict[str, object] = {}
    totals: dict[str, float] = {}
    summary_name = None
    for name, rows in sheets.items():
        if _SECTION_SHEET.search(name):
            continue
        summary_name = summary_name or name
        for row in rows:
            if not row or row[0] is None:
                continue
            label = normalise_header(row[0])
            value = row[1] if len(row) > 1 else None
            for key, labels in _DETAIL_KEYS.items():
                if label in labels and value not in (None, "") and key not in details:
                    details[key] = value
            section = re.match(r"^\s*([123])\s*[.:)]", str(row[0]))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if section:
                    totals[section.group(1)] = float(value)
                elif label == "total":
                    totals["total"] = float(value)
    return details, totals, summary_name


def _fill_details_from_name(details: dict, path: Path) -> None:
    parts = path.stem.split("_")
    if len(parts) >= 3:
        details.setdefault("service", parts[0])
        details.setdefault("wave", parts[1])
        details.setdefault("rater", "_".join(parts[2:]).replace("-", " "))


def _cross_check_summary(frame: pd.DataFrame, totals: dict, display: str, sheet, log) -> None:
    if not totals:
        return
    rated = frame[frame["status"] == "rated"]
    sums = rated.groupby("section")["rating"].sum()
    computed = {str(k): float(v) for k, v in sums.items()}
    computed["total"] = float(rated["rating"].sum())
    for key, stated in totals.items():
        actual = computed.get(key, 0.0)
        if abs(actual - stated) > 1e-9:
            what = "the total" if key == "total" else f"section {key}"
            log.add(f"the summary sheet gives {what} as {stated:g} but the ratings add up to "
                    f"{actual:g}; the ratings are used", file=display, sheet=sheet,
                    column="Score", value=stated, expected=f"{actual:g}", severity="warning")


def _read_audit(path: Path, log: ProblemLog, *, root: Path | None,
                allow_identifiers: bool) -> pd.DataFrame:
    table = TABLES["audit_ratings"]
    parts = []
    for file in _data_files(path):
        display = _display(file, root)
        if file.suffix.lower() in (".xlsx", ".xlsm"):
            parts.append(_read_audit_workbook(file, display, log, allow_identifiers))
        else:
            parts.append(_typed_table(_read_csv(file, display), table, log, allow_identifiers))
    if not parts:
        return _empty_frame(table)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------
# Cross-table checks
# --------------------------------------------------------------------------

def _service_lookup(services: pd.DataFrame) -> dict[str, str]:
    """Every spelling of every service (id, name, name without 'music service', aliases) → id."""
    lookup: dict[str, str] = {}
    for rec in services.itertuples(index=False):
        if pd.isna(rec.service):
            continue
        names = [rec.service, rec.name]
        if pd.notna(rec.name):
            names.append(re.sub(r"\s*music\s+services?\s*$", "", str(rec.name), flags=re.I))
        if pd.notna(rec.aliases):
            names += [a for a in str(rec.aliases).split(";")]
        for text in names:
            if text is not None and not pd.isna(text) and normalise_value(text):
                lookup.setdefault(normalise_value(text), str(rec.service))
    return lookup


def _resolve_services(frame: pd.DataFrame, lookup: dict[str, str], log: ProblemLog) -> None:
    """Replace service names by ids in place; unknown names are errors."""
    if frame.empty or "service" not in frame:
        return
    codes, uniques = pd.factorize(frame["service"].astype(object), use_na_sentinel=True)
    resolved = [lookup.get(normalise_value(u)) for u in uniques]
    bad_unique = np.array([r is None for r in resolved] + [False])
    codes_safe = np.where(codes < 0, len(uniques), codes)
    bad = bad_unique[codes_safe]
    values = np.array(resolved + [pd.NA], dtype=object)[codes_safe]
    if bad.any():
        known = sorted(set(lookup.values()))
        log.add_rows(frame.loc[bad].assign(value=frame.loc[bad, "service"]),
                     message="unknown service", column="service", value_column="value",
                     expected="a service listed in services.csv (by id, name or alias): "
                              + ", ".join(known))
    frame["service"] = pd.array(np.where(bad, frame["service"].astype(object), values),
                                dtype="string")


def _check_wellbeing(frame: pd.DataFrame, log: ProblemLog) -> None:
    if frame.empty:
        return
    extra = [i for i in WEMWBS_ITEMS if i not in SWEMWBS_ITEMS]
    short = frame["instrument"] == "SWEMWBS"
    answered_extra = frame[extra].notna() & short.to_numpy()[:, None]
    for item in extra:
        rows = frame.loc[answered_extra[item].fillna(False).to_numpy()]
        log.add_rows(rows.assign(value=rows[item].astype(str)),
                     message=f"a SWEMWBS questionnaire has an answer for '{item}', which is "
                             "not a SWEMWBS item", column=item, value_column="value",
                     expected="blank (SWEMWBS has 7 items: " + ", ".join(SWEMWBS_ITEMS) + ")")
    # Follow-up dated before the participant's baseline in the same year.
    keys = ["participant", "service", "year"]
    dated = frame.dropna(subset=["date", "participant"])
    base = dated[dated["wave"] == "baseline"].groupby(keys, dropna=False)["date"].min()
    follow = dated[dated["wave"] == "follow-up"].join(base.rename("baseline_date"), on=keys)
    early = follow[follow["date"] < follow["baseline_date"]]
    log.add_rows(early.assign(value=early["date"].dt.strftime("%Y-%m-%d")),
                 message="follow-up is dated before the participant's baseline",
                 column="date", value_column="value",
                 expected="a date after the baseline ("
                          + ", ".join(sorted(set(early["baseline_date"].dt.strftime("%Y-%m-%d"))))
                          + ")" if not early.empty else None)


def _row_keys(left: list[pd.Series], right: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys for the rows of two tables over matching columns: equal keys mean equal
    values in every column (missing values never match). Vectorised: no tuples, no merges."""
    n = len(left[0])
    lkey = np.zeros(n, dtype=np.int64)
    rkey = np.zeros(len(right[0]), dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    for a, b in zip(left, right):
        codes, uniques = pd.factorize(pd.concat([a.reset_index(drop=True),
                                                 b.reset_index(drop=True)], ignore_index=True))
        radix = len(uniques) + 1
        lkey = lkey * radix + codes[:n] + 1
        rkey = rkey * radix + codes[n:] + 1
        missing |= codes[:n] < 0
    lkey[missing] = -1
    return lkey, rkey


def _check_missing_participants(frame: pd.DataFrame, participants: pd.DataFrame, what: str,
                                log: ProblemLog) -> None:
    """Rows whose participant is not in the participation records: a warning, not an error."""
    if frame.empty or participants.empty:
        return
    cols = ["participant", "service", "year"]
    lkey, rkey = _row_keys([frame[c] for c in cols], [participants[c] for c in cols])
    missing = ~np.isin(lkey, rkey) & frame["participant"].notna().to_numpy()
    rows = frame.loc[missing]
    log.add_rows(rows.assign(value=rows["participant"]),
                 message=f"{what} for a participant who is not in the participation records for "
                         "that service and year", column="participant", value_column="value",
                 expected="a participant listed in participants", severity="warning")


def _check_reference(frame: pd.DataFrame, column: str, reference: pd.DataFrame, ref_column: str,
                     ref_file: str, log: ProblemLog) -> None:
    if frame.empty or reference.empty:
        return
    bad = ~frame[column].isin(reference[ref_column]) & frame[column].notna()
    rows = frame.loc[bad]
    log.add_rows(rows.assign(value=rows[column]), message=f"unknown {column}", column=column,
                 value_column="value", expected=f"a {column} listed in {ref_file}")


def _check_participants(frame: pd.DataFrame, log: ProblemLog) -> None:
    if frame.empty:
        return
    early = frame[frame["end"].notna() & frame["start"].notna() & (frame["end"] < frame["start"])]
    log.add_rows(early.assign(value=early["end"].dt.strftime("%Y-%m-%d")),
                 message="end date is before the start date", column="end", value_column="value",
                 expected="a date on or after the start date")


def _check_attendance(attendance: pd.DataFrame, participants: pd.DataFrame,
                      log: ProblemLog) -> None:
    """Each session belongs to a participant's record for that programme year, within its dates."""
    if attendance.empty:
        return
    dates = attendance["session_date"]
    session_year = pd.Series((dates.dt.year - (dates.dt.month < 9)).astype("Int64"))
    record_year = pd.Series(participants["year"].str.slice(0, 4).astype("Int64"))
    lkey, rkey = _row_keys([attendance["participant"], session_year],
                           [participants["participant"], record_year])
    first = ~pd.Series(rkey).duplicated().to_numpy()
    position = pd.Index(rkey[first]).get_indexer(lkey)
    position = np.where(position >= 0, np.flatnonzero(first)[np.maximum(position, 0)], -1)
    unknown = (position < 0) & (lkey >= 0)
    if unknown.any():
        rows = attendance.loc[unknown]
        log.add_rows(rows.assign(value=rows["participant"].astype(str) + " on "
                                 + rows["session_date"].dt.strftime("%Y-%m-%d")),
                     message="register entry for a participant with no participation record in "
                             "that programme year", column="participant", value_column="value",
                     expected="a participant listed in participants for the year of the session")
    found = position >= 0
    start = participants["start"].to_numpy()[position[found]]
    end = participants["end"].to_numpy()[position[found]]
    when = dates.to_numpy()[found]
    after = ~pd.isna(end) & (when > end)
    before = ~pd.isna(start) & (when < start)
    idx = np.flatnonzero(found)
    for mask, message, bound in ((after, "session is after the participant's end date", end),
                                 (before, "session is before the participant's start date", start)):
        if mask.any():
            rows = attendance.iloc[idx[mask]]
            limits = pd.to_datetime(pd.Series(bound[mask])).dt.strftime("%Y-%m-%d").to_numpy()
            log.add_rows(rows.assign(value=rows["session_date"].dt.strftime("%Y-%m-%d")
                                     + " (participant " + rows["participant"].astype(str)
                                     + ", dates " + limits + ")"),
                         message=message + ": the attendance rate would be wrong",
                         column="session_date", value_column="value",
                         expected="a session between the participant's start and end dates")


def _check_benchmarks(services: pd.DataFrame, benchmarks: pd.DataFrame, log: ProblemLog) -> None:
    if services.empty or benchmarks.empty:
        return
    have = set(benchmarks["local_authority"].dropna().map(normalise_value))
    for rec in services.itertuples(index=False):
        if pd.notna(rec.local_authority) and normalise_value(rec.local_authority) not in have:
            log.add("no population benchmarks for this service's local authority; its "
                    "representation ratios will be blank", file=rec.source_file,
                    row=rec.source_row, column="local_authority", value=rec.local_authority,
                    expected="rows for it in benchmarks", severity="warning")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

@dataclass
class Dataset:
    """Every table of one data folder, validated. Tables not supplied are empty."""

    directory: Path
    services: pd.DataFrame
    audit_statements: pd.DataFrame
    audit_ratings: pd.DataFrame
    wellbeing: pd.DataFrame
    participants: pd.DataFrame
    attendance: pd.DataFrame
    outcome_indicators: pd.DataFrame
    outcome_ratings: pd.DataFrame
    benchmarks: pd.DataFrame
    stages: pd.DataFrame
    tutors: pd.DataFrame
    cpd: pd.DataFrame
    warnings: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: list[Path] = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame:
        """A table by its contract name, without the loader's source columns."""
        frame = getattr(self, name)
        return frame.drop(columns=[c for c in SOURCE_COLUMNS if c in frame])

    @property
    def years(self) -> list[str]:
        years = set()
        for name in ("participants", "wellbeing", "outcome_ratings"):
            years |= set(getattr(self, name)["year"].dropna())
        return sorted(years)

    def summary(self) -> pd.DataFrame:
        """Rows per table, with services, years and waves present."""
        records = []
        for name in TABLES:
            frame = getattr(self, name)
            records.append({
                "table": name,
                "rows": len(frame),
                "services": frame["service"].nunique() if "service" in frame else pd.NA,
                "years": ", ".join(sorted(frame["year"].dropna().unique()))
                if "year" in frame else "",
                "waves": ", ".join(w for w in ("baseline", "interim", "follow-up")
                                   if "wave" in frame and (frame["wave"] == w).any()),
                "files": frame["source_file"].nunique() if len(frame) else 0,
            })
        return pd.DataFrame(records)


def _locate(directory: Path, table: Table) -> Path | None:
    stem = Path(table.file).stem
    candidates = [directory / table.file] if Path(table.file).suffix else []
    candidates += [directory / f"{stem}{s}" for s in (".csv", ".xlsx")] + [directory / stem]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None


def load_data(directory: str | Path = "data/sample", *, allow_identifiers: bool = False) -> Dataset:
    """Load and validate every table in a data folder.

    The folder holds ``services.csv`` (required) and any of the other tables
    named in the data dictionary, each as a CSV or ``.xlsx`` file or a folder
    of them; the audit is a folder ``audit/`` of Youth Music workbooks (or
    ``audit_ratings.csv``). All problems in all files are raised together as a
    :class:`DataValidationError`; warnings are kept in ``Dataset.warnings``.
    """
    directory = Path(directory)
    log = ProblemLog()
    if not directory.is_dir():
        log.add("data folder not found", file=str(directory), expected="a folder of data files")
        log.raise_if_errors(str(directory))
    frames: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    for name, table in TABLES.items():
        if name == "audit_ratings":
            path = directory / "audit" if (directory / "audit").is_dir() else \
                _locate(directory, table) or _locate(
                    directory, Table(name, "audit_ratings.csv", "", table.columns, table.key))
        else:
            path = _locate(directory, table)
        if path is None:
            if name == "services":
                log.add("services table not found: it lists the partner services and their "
                        "names", file=str(directory / table.file), expected="services.csv")
            frames[name] = _empty_frame(table)
            continue
        files += _data_files(path)
        reader = _read_audit if name == "audit_ratings" else \
            (lambda p, lg, **kw: _read_table_files(p, table, lg, **kw))
        frames[name] = reader(path, log, root=directory, allow_identifiers=allow_identifiers)
    _validate_together(frames, log)
    problems = log.frame()
    if log.has_errors:
        raise DataValidationError(problems, str(directory))
    for name, table in TABLES.items():
        _check_keys(frames[name], table, log)
    problems = log.frame()
    if log.has_errors:
        raise DataValidationError(problems, str(directory))
    return Dataset(directory=directory, **frames, warnings=problems, files=sorted(files))


def _validate_together(frames: dict[str, pd.DataFrame], log: ProblemLog) -> None:
    lookup = _service_lookup(frames["services"])
    for name in ("audit_ratings", "wellbeing", "participants", "outcome_ratings", "stages",
                 "tutors"):
        _resolve_services(frames[name], lookup, log)
    _check_wellbeing(frames["wellbeing"], log)
    _check_participants(frames["participants"], log)
    _check_reference(frames["audit_ratings"], "statement", frames["audit_statements"],
                     "statement", "audit_statements", log)
    _check_reference(frames["outcome_ratings"], "indicator", frames["outcome_indicators"],
                     "indicator", "outcome_indicators", log)
    _check_missing_participants(frames["wellbeing"], frames["participants"],
                                "wellbeing questionnaire", log)
    _check_missing_participants(frames["outcome_ratings"], frames["participants"],
                                "outcome rating", log)
    if not frames["participants"].empty:
        _check_attendance(frames["attendance"], frames["participants"], log)
    _check_benchmarks(frames["services"], frames["benchmarks"], log)
    if not frames["tutors"].empty:
        _check_reference(frames["cpd"], "tutor", frames["tutors"], "tutor", "tutors", log)


def _load_single(path, table_name: str, services, reader=None, allow_identifiers=False):
    path = Path(path)
    log = ProblemLog()
    table = TABLES[table_name]
    if not path.exists():
        log.add("file or folder not found", file=str(path))
        log.raise_if_errors(str(path))
    root = path if path.is_dir() else path.parent
    if reader is None:
        frame = _read_table_files(path, table, log, root=root, allow_identifiers=allow_identifiers)
    else:
        frame = reader(path, log, root=root, allow_identifiers=allow_identifiers)
    if services is not None:
        _resolve_services(frame, _service_lookup(services), log)
    if table_name == "wellbeing":
        _check_wellbeing(frame, log)
    if table_name == "participants":
        _check_participants(frame, log)
    if not log.has_errors:
        _check_keys(frame, table, log)
    log.raise_if_errors(str(path))
    frame.attrs["warnings"] = log.frame()
    return frame


def load_table(path, table: str, *, services: pd.DataFrame | None = None,
               allow_identifiers: bool = False) -> pd.DataFrame:
    """Load any one table (by contract name) from a file or a folder of files."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    reader = _read_audit if table == "audit_ratings" else None
    return _load_single(path, table, services, reader, allow_identifiers)


def load_audit(path, *, services: pd.DataFrame | None = None,
               allow_identifiers: bool = False) -> pd.DataFrame:
    """Audit ratings from one Youth Music workbook, a folder of them, or a CSV.

    Service names are resolved to ids when ``services`` is given.
    """
    return _load_single(path, "audit_ratings", services, _read_audit, allow_identifiers)


def load_wellbeing(path, *, services: pd.DataFrame | None = None,
                   allow_identifiers: bool = False) -> pd.DataFrame:
    """WEMWBS/SWEMWBS questionnaires from a CSV/xlsx file or a folder of them."""
    return _load_single(path, "wellbeing", services, None, allow_identifiers)


def load_participation(path, *, services: pd.DataFrame | None = None,
                       allow_identifiers: bool = False) -> pd.DataFrame:
    """Participant records from a CSV/xlsx file or a folder of them."""
    return _load_single(path, "participants", services, None, allow_identifiers)


def load_attendance(path, *, allow_identifiers: bool = False) -> pd.DataFrame:
    """Attendance registers from a CSV/xlsx file or a folder of them."""
    return _load_single(path, "attendance", None, None, allow_identifiers)


def load_outcomes(path, *, services: pd.DataFrame | None = None,
                  allow_identifiers: bool = False) -> pd.DataFrame:
    """Tutor-rated outcome ratings from a CSV/xlsx file or a folder of them."""
    return _load_single(path, "outcome_ratings", services, None, allow_identifiers)
