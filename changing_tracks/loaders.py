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
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

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
    "CATEGORICAL_COLUMNS",
]

#: Columns added by the loader to point back at the input.
SOURCE_COLUMNS = ("source_file", "source_sheet", "source_row")

#: (table, column) loaded as pandas categoricals rather than text: the register's participant
#: ids, repeated once per session (a register can have a hundred million rows). Categories
#: are the ids in order of first appearance; blank ids are missing (code -1).
#: :func:`load_data` also makes the participants' ``participant`` a categorical, and gives the
#: register the same categories (one set of ids for both tables; ``_shared_participant_ids``).
CATEGORICAL_COLUMNS = frozenset({("attendance", "participant")})

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


def _read_csv(path: Path, display: str, table: Table | None = None) -> _Raw:
    """Cells of a CSV as text, stripped, all-blank rows dropped. Fast (pyarrow) for UTF-8
    files without blank lines, where the row numbers are certain; otherwise pandas, keeping
    blank lines to count rows. With ``table`` the cells of its coded columns (categories,
    dates, numbers…) come as categoricals: each distinct text is then parsed once."""
    raw = _read_csv_arrow(path, display, table)
    if raw is not None:
        return raw
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


def _read_csv_arrow(path: Path, display: str, table: Table | None) -> _Raw | None:
    """The fast path of :func:`_read_csv`, or None when it cannot promise row numbers
    (a quoted line break) or the file is not UTF-8.

    Blank lines are kept as blank rows (dropped below, after numbering), so that row
    ``i`` is line ``i + 2`` unless a quoted value spans lines, which is looked for in the
    values read rather than by counting the file's lines (a second pass over gigabytes).
    Coded columns are read as Arrow dictionaries (the reader hashes them in parallel),
    so only the distinct texts are stripped; identifiers and free text are read as text."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    names = _header_names(path)
    coded = _coded_headers(names, table)
    ids = _id_headers(names, table)
    types = {name: pa.dictionary(pa.int32(), pa.string()) if name in coded else pa.string()
             for name in names}
    try:
        data = pa_csv.read_csv(
            path, read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK),
            parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                column_types=types))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if data.column_names != names or any(_has_line_break(c) for c in data.columns
                                         if not pa.types.is_dictionary(c.type)):
        return None
    n = data.num_rows
    pending = data.columns  # released one by one as they are converted
    del data
    columns: list[pd.Series] = []
    blank = np.ones(n, dtype=bool)
    for i in range(len(pending)):
        column, pending[i] = pending[i], None
        if names[i] in ids and column.num_chunks:
            converted = _deferred_ids(column)
            if converted is None:  # a quoted line break: row numbers uncertain
                return None
            series, is_blank = converted
        elif pa.types.is_dictionary(column.type):
            converted = _stripped_categorical(column)
            if converted is None:  # a quoted line break: row numbers uncertain
                return None
            series, is_blank = converted
        else:
            text = pc.utf8_trim_whitespace(column)
            del column
            series = pd.Series(pd.arrays.ArrowStringArray(text), copy=False)
            is_blank = pc.equal(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False) \
                if n else np.zeros(0, bool)
        columns.append(series)
        blank &= is_blank
    frame = pd.concat(columns, axis=1, ignore_index=True) if columns else \
        pd.DataFrame(index=range(n))
    frame.columns = [str(c).strip() for c in names]
    rows = np.arange(n, dtype=np.int64) + 2
    if not columns:
        blank[:] = False
    if blank.any():
        frame = _materialise_ids(frame)  # categorical before dropping rows, as ever
        frame, rows = frame.loc[~blank].reset_index(drop=True), rows[~blank]
    return _Raw(frame, rows, display, None, 1)


def _deferred_ids(column) -> tuple[pd.Series, np.ndarray] | None:
    """Identifiers read as an Arrow dictionary column, kept as read (one dictionary per
    block of the file) rather than made a categorical at once: :func:`load_data` hashes the
    blocks' dictionaries together with the participants' ids (``_share_codes``), and
    unifying them first would hash millions of ids once more. The mask of blank cells;
    None if a text holds a line break."""
    import pyarrow.compute as pc

    blank = []
    for chunk in column.chunks:
        if _has_line_break(chunk.dictionary):
            return None
        empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(chunk.dictionary)), 0) \
            .to_numpy(zero_copy_only=False)
        blank.append(empty[chunk.indices.to_numpy(zero_copy_only=False)])
    return pd.Series(pd.arrays.ArrowExtensionArray(column), copy=False), np.concatenate(blank)


def _is_deferred(cells: pd.Series) -> bool:
    """Whether a column holds identifiers as read by :func:`_deferred_ids`."""
    import pyarrow as pa

    return isinstance(cells.dtype, pd.ArrowDtype) and pa.types.is_dictionary(
        cells.dtype.pyarrow_dtype)


def _materialise_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with any deferred identifiers made the categorical of stripped texts that
    :func:`_stripped_categorical` gives (replaced in place; the frame is returned)."""
    for name in frame.columns:
        if _is_deferred(frame[name]):
            frame[name] = _stripped_categorical(frame[name].array._pa_array)[0]
    return frame


def _deferred_texts(cells: pd.Series) -> tuple[object, np.ndarray]:
    """Deferred identifiers' dictionaries (one per block), stripped and concatenated, less
    blanks (an Arrow array), and the position there of each dictionary entry (-1 = blank).
    Hashing the array numbers the distinct ids in order of first appearance in the column,
    as unifying the dictionaries does."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pc.utf8_trim_whitespace(pa.chunked_array(
        [c.dictionary for c in cells.array._pa_array.chunks], pa.string()))
    keep = pc.not_equal(texts, "")
    kept = pc.filter(texts, keep)
    keep = keep.to_numpy(zero_copy_only=False) if len(texts) else np.zeros(0, dtype=bool)
    entry = np.full(len(keep), -1, dtype=_wide_code_dtype(len(keep)))
    entry[keep] = np.arange(int(keep.sum()), dtype=entry.dtype)
    return kept, entry


def _deferred_rows(cells: pd.Series, entry_codes: np.ndarray) -> np.ndarray:
    """Each row's code (or other value), from those of the entries of its block's dictionary
    (the blocks' dictionaries concatenated, as in :func:`_deferred_texts`)."""
    codes = np.empty(len(cells), dtype=entry_codes.dtype)
    at = start = 0
    for chunk in cells.array._pa_array.chunks:
        indices = chunk.indices.to_numpy(zero_copy_only=False)
        codes[at:at + len(indices)] = entry_codes[start:start + len(chunk.dictionary)][indices]
        at += len(indices)
        start += len(chunk.dictionary)
    return codes


#: Bytes of CSV read at a time (Arrow's default is 1 MiB): larger blocks mean fewer, larger
#: dictionaries per coded column, so less work to unify them, at a few blocks' memory.
_CSV_BLOCK = 16 << 20


def _has_line_break(column) -> bool:
    """Whether any value of an Arrow text array or column holds a line break (a quoted
    value spanning lines, which would put the row numbers out): a scan of the bytes of the
    texts, several times quicker than searching each text."""
    for chunk in getattr(column, "chunks", [column]):
        data = chunk.buffers()[2]  # validity, offsets, then the texts' bytes
        if data is not None and data.size:
            text = np.frombuffer(data, dtype=np.uint8)
            if (text == 10).any() or (text == 13).any():
                return True
    return False


def _stripped_categorical(column) -> tuple[pd.Series, np.ndarray] | None:
    """An Arrow dictionary column as a categorical of its stripped texts (distinct, in
    order of first appearance; Arrow-backed), and the mask of blank cells; None if a text
    holds a line break (looked for once among the distinct texts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = column.unify_dictionaries().chunks
    if not chunks:
        texts = pa.array([], pa.string())
        indices = np.zeros(0, dtype=np.int32)
    else:
        dictionary = chunks[0].dictionary
        if _has_line_break(dictionary):
            return None
        trimmed = pc.utf8_trim_whitespace(dictionary)
        indices = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
        if trimmed.equals(dictionary):  # nothing to strip: the texts are already distinct
            texts = dictionary
            indices = indices.astype(_code_dtype(len(texts)), copy=False)
        else:
            encoded = pc.dictionary_encode(trimmed)
            texts = encoded.dictionary
            remap = encoded.indices.to_numpy(zero_copy_only=False)
            # a cell's distinct text after stripping, in the smallest integer type holding it
            indices = remap.astype(_code_dtype(len(texts)))[indices]
        del trimmed, dictionary
    del chunks
    blank = pc.equal(texts, "").to_numpy(zero_copy_only=False) if len(texts) else \
        np.zeros(0, dtype=bool)
    series = pd.Series(_categorical(indices, _text_index(texts)), copy=False)
    return series, blank[indices]


def _categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """A categorical from codes and categories already known to be distinct and in range
    (from hashing), skipping pandas' re-check of millions of ids where it allows that."""
    try:
        dtype = pd.CategoricalDtype._from_fastpath(categories, ordered=False)
    except AttributeError:  # pragma: no cover - other pandas versions: the checked way
        return pd.Categorical.from_codes(codes, categories=categories)
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def _text_index(texts) -> pd.Index:
    """Distinct texts (an Arrow array) as a pandas Index of Arrow-backed strings."""
    import pyarrow as pa

    return pd.Index(pd.arrays.ArrowStringArray(pa.chunked_array([texts], pa.string())
                                                if texts.type == pa.string() else
                                                pa.chunked_array([texts.cast(pa.string())])))


def _code_dtype(n: int):
    """Smallest signed integer type for codes 0..n-1 (and -1)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _header_names(path: Path) -> list[str]:
    """The CSV's header cells, as pyarrow will name its columns."""
    import csv

    with path.open("rb") as fh:
        first = fh.readline().decode("utf-8-sig")
    return next(csv.reader([first]), [])


def _id_headers(names: list[str], table: Table | None) -> set[str]:
    """Headers of the table's identifiers loaded as categoricals (``CATEGORICAL_COLUMNS``)."""
    if table is None:
        return set()
    columns = _columns_by_spelling(table)
    return {name for name in names if (col := columns.get(normalise_header(name))) is not None
            and (table.name, col.name) in CATEGORICAL_COLUMNS}


def _coded_headers(names: list[str], table: Table | None) -> set[str]:
    """Headers of the table's coded columns (not identifiers nor free text): few distinct
    values, each parsed once."""
    if table is None:
        return set()
    columns = _columns_by_spelling(table)
    coded = set()
    for name in names:
        col = columns.get(normalise_header(name))
        if col is not None and (col.kind not in ("id", "text")
                                or (table.name, col.name) in CATEGORICAL_COLUMNS):
            coded.add(name)
    return coded


def _find_header(rows: list[tuple], spellings: set[str]) -> int | None:
    """Index of the first row with at least two cells naming contract columns."""
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        hits = sum(1 for v in row if v is not None and normalise_header(v) in spellings)
        if hits >= 2:
            return i
    return None


#: what any cell holding an Excel error value has in its sheet's XML (``<c r="B7" t="e">``):
#: a part with neither is read with calamine. Parts of shared text, styles and themes do not
#: hold cells.
_ERROR_VALUE_MARKS = (b'"e"', b"'e'")
_PARTS_WITHOUT_CELLS = ("xl/sharedStrings.xml", "xl/styles.xml", "xl/theme/", "docProps/")


def _workbook_sheets(path: Path, display: str, log: ProblemLog) -> dict[str, list[tuple]] | None:
    """Every worksheet of a workbook, in order, by name: its rows of cell values from cell A1,
    formulas as their last calculated values. None, with the problem logged, if the file
    cannot be read as a workbook (damaged, encrypted, not a workbook at all).

    python-calamine reads workbooks some twenty times faster than openpyxl, but gives a cell
    holding an Excel error (#N/A, #DIV/0!...) as a blank one; a workbook that may have such a
    cell is read with openpyxl, which gives the error as text, so that it is reported, not
    taken as blank. Either way a cell's text (:func:`_cell_text`) is the same, except that
    calamine decodes Excel's escapes in text (``_x000D_`` is a carriage return).
    """
    try:
        sheets = _openpyxl_sheets(path) if _may_have_error_cells(path) \
            else _calamine_sheets(path)
        if not sheets:
            raise ValueError("the file has no worksheets")
        return sheets
    except Exception as exc:  # anything a damaged file makes a reader raise
        log.add("the file could not be read as an Excel workbook", file=display,
                value=f"{type(exc).__name__}: {exc}".strip().rstrip(":"),
                expected="an Excel workbook (.xlsx or .xlsm) that Excel opens, "
                         "not password-protected")
        return None


def _may_have_error_cells(path: Path) -> bool:
    """Whether a part of the workbook that may hold cells has the mark of an error value."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".xml") and not name.startswith(_PARTS_WITHOUT_CELLS):
                xml = archive.read(name)
                if any(mark in xml for mark in _ERROR_VALUE_MARKS):
                    return True
    return False


def _calamine_sheets(path: Path) -> dict[str, list[tuple]]:
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    workbook = CalamineWorkbook.from_path(str(path))
    try:
        return {sheet.name: [tuple(row) for row in workbook.get_sheet_by_name(sheet.name)
                             .to_python(skip_empty_area=False)]
                for sheet in workbook.sheets_metadata if sheet.typ == SheetTypeEnum.WorkSheet}
    finally:
        workbook.close()


def _openpyxl_sheets(path: Path) -> dict[str, list[tuple]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = {}
        for ws in workbook.worksheets:
            ws.reset_dimensions()  # read every row, whatever size the file says the sheet is
            sheets[ws.title] = [tuple(row) for row in ws.iter_rows(values_only=True)]
        return sheets
    finally:
        workbook.close()


def _raw_from_rows(rows: list[tuple], header_index: int, display: str, sheet: str | None,
                   constants: dict[str, str] | None = None) -> _Raw:
    """The cells under a sheet's header row as text, blank rows dropped. ``constants`` are
    columns added with the same text in every row, unless the sheet has a column so named."""
    header = [_cell_text(v) for v in rows[header_index]]
    width = len(header)
    while width and header[width - 1] == "":
        width -= 1
    header = header[:width]
    names = [h if h else f"(column {i + 1})" for i, h in enumerate(header)]
    added = {k: v for k, v in (constants or {}).items() if k not in names}
    body, numbers = [], []
    for offset, row in enumerate(rows[header_index + 1:], start=header_index + 2):
        cells = [_cell_text(v) for v in row[:width]] + [""] * max(0, width - len(row))
        if any(cells):
            body.append(cells + list(added.values()) if added else cells)
            numbers.append(offset)
    names += list(added)
    frame = pd.DataFrame(body, columns=names, dtype=object) if body else \
        pd.DataFrame(columns=names, dtype=object)
    return _Raw(frame, np.asarray(numbers, dtype=np.int64), display, sheet, header_index + 1)


def _read_excel(path: Path, display: str, table: Table, log: ProblemLog) -> _Raw | None:
    sheets = _workbook_sheets(path, display, log)
    if sheets is None:
        return None
    spellings = {s for c in table.columns for s in c.header_spellings}
    for name, rows in sheets.items():
        index = _find_header(rows, spellings)
        if index is not None:
            return _raw_from_rows(rows, index, display, name)
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
    codes, uniques = _distinct(raw)
    parsed = [_parse_unique(col, u) for u in uniques]
    ok = np.array([p[1] for p in parsed] + [True], dtype=bool)
    values = [p[0] for p in parsed]
    if col.kind == "date":
        typed = pd.array(pd.to_datetime(pd.Series([None if v is pd.NA else v for v in values],
                                                  dtype=object)), dtype="datetime64[ns]")
    elif col.kind in ("number", "share"):
        typed = pd.array(values, dtype="Float64")
    else:
        typed = pd.array(values, dtype=_DTYPES[col.kind])
    if isinstance(typed, pd.arrays.IntegerArray):  # by numpy: pandas' take is 10x slower
        data = np.append(typed.to_numpy(dtype=np.int64, na_value=0), 0)
        missing = np.append(typed.isna(), True)
        return pd.Series(pd.arrays.IntegerArray(data[codes], missing[codes])), ~ok[codes]
    series = pd.Series(typed.take(codes, allow_fill=True))
    if col.kind in ("number", "share"):
        series = series.astype("float64")
    return series, ~ok[codes]  # a code of -1 (missing) takes the appended True


def _distinct(cells: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes of the cells (-1 = missing) into their distinct texts: a categorical's own
    codes (read that way), otherwise by hashing the texts."""
    if isinstance(cells.dtype, pd.CategoricalDtype):
        return cells.cat.codes.to_numpy(), [str(c) for c in cells.cat.categories]
    codes, uniques = pd.factorize(cells, sort=False)
    return codes, [str(u) for u in uniques]


def _blank_mask(raw: pd.Series) -> np.ndarray:
    """Cells that are blank or missing. A categorical is tested on its distinct texts (pandas
    would hash all the categories to look for "", slow with millions of ids)."""
    if isinstance(raw.dtype, pd.CategoricalDtype):
        categories = raw.cat.categories
        blank = np.append(np.asarray(categories == "", dtype=bool), True)
        return blank[raw.cat.codes.to_numpy()]  # a code of -1 takes the appended True
    if _is_deferred(raw):
        return _deferred_rows(raw, _deferred_texts(raw)[1] < 0)
    return (raw == "").to_numpy(dtype=bool, na_value=True)


# --------------------------------------------------------------------------
# One table from one raw sheet
# --------------------------------------------------------------------------

def _columns_by_spelling(table: Table) -> dict[str, Column]:
    """The table's columns by every normalised header spelling (the first column claiming a
    spelling keeps it)."""
    columns: dict[str, Column] = {}
    for col in table.columns:
        for spelling in col.header_spellings:
            columns.setdefault(spelling, col)
    return columns


def _match_headers(raw: _Raw, table: Table, log: ProblemLog, allow_identifiers: bool,
                   allowed_extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Contract column name → header in the file; logs missing and identifier columns."""
    spelling_to_col = {spelling: col.name for spelling, col in _columns_by_spelling(table).items()}
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


def _typed_table(raw: _Raw, table: Table, log: ProblemLog, allow_identifiers: bool,
                 defer_ids: bool = False) -> pd.DataFrame:
    """The table's typed columns from a sheet's cells, problems logged. With ``defer_ids``
    identifiers read as Arrow dictionaries stay so (see :func:`_deferred_ids`)."""
    found = _match_headers(raw, table, log, allow_identifiers)
    typed = _typed_sheets([(raw, found)], table, defer_ids)
    typed.log_sheet(0, log)
    return typed.frame


@dataclass
class _CellProblems:
    """A column's unreadable and blank cells (masks over the rows of :class:`_Typed`; no
    ``blank`` when blanks are allowed), and its header in each sheet (None: not read there)."""

    column: Column
    headers: list[str | None]
    cells: pd.Series
    bad: np.ndarray
    blank: np.ndarray | None


@dataclass
class _Typed:
    """Typed rows of several sheets, one after the other, and the problems in their cells."""

    frame: pd.DataFrame
    sheets: list[_Raw]
    starts: np.ndarray  # each sheet's first row in ``frame``, then the number of rows
    problems: list[_CellProblems]

    def log_sheet(self, i: int, log: ProblemLog) -> None:
        """Log the problems in sheet ``i``'s cells, column by column, as a user reads them."""
        raw = self.sheets[i]
        rows = slice(None) if len(self.sheets) == 1 else slice(self.starts[i], self.starts[i + 1])
        for p in self.problems:
            header = p.headers[i]
            if header is None:
                continue
            if (bad := p.bad[rows]).any():
                values = p.cells.iloc[rows][bad].to_numpy(dtype=object)
                log.add_rows(pd.DataFrame({"source_file": raw.file, "source_sheet": raw.sheet,
                                           "source_row": raw.rows[bad], "value": values}),
                             message=f"'{p.column.name}' cannot be read", column=header,
                             expected=p.column.expected(), value_column="value")
            if p.blank is not None and (blank := p.blank[rows]).any():
                log.add_rows(pd.DataFrame({"source_file": raw.file, "source_sheet": raw.sheet,
                                           "source_row": raw.rows[blank]}),
                             message=f"'{p.column.name}' is blank", column=header,
                             expected=p.column.expected())


def _typed_sheets(sheets: list[tuple[_Raw, dict[str, str]]], table: Table,
                  defer_ids: bool = False) -> _Typed:
    """The table's typed columns from sheets whose headers are matched (contract column →
    header, see :func:`_match_headers`), the sheets' rows one after the other as
    :func:`_concat` would join them one by one. Each column is converted once for all the
    sheets (pandas costs milliseconds a call, however few the rows); a sheet without the
    column gives it blank. Problems are only collected: :meth:`_Typed.log_sheet` logs them."""
    raws = [raw for raw, _ in sheets]
    sizes = [len(raw.frame) for raw in raws]
    n = sum(sizes)
    starts = np.cumsum([0] + sizes)
    out: dict[str, pd.Series] = {}
    derived: dict[str, list[bool]] = {}  # column → sheets where another column gave it
    problems = []
    for col in table.columns:
        done = derived.get(col.name, [False] * len(sheets))
        if all(done):  # e.g. the audit status, derived with the rating
            continue
        headers = [None if d else found.get(col.name) for (_, found), d in zip(sheets, done)]
        if all(h is None for h in headers):
            values = _empty_column(col, n)
            cells = bad = None
        else:
            cells = _sheet_cells(raws, headers)
            bad = np.zeros(n, dtype=bool)
            if col.kind == "rating":
                values, out["status"], bad = _audit_ratings(cells)
                derived["status"] = [h is not None for h in headers]
            elif (table.name, col.name) in CATEGORICAL_COLUMNS:
                values = cells if defer_ids and _is_deferred(cells) else _categorical_ids(cells)
            else:
                values, bad = _convert(col, cells)
        if any(done):  # derived in some sheets only: read from the others
            values = values.where(~np.repeat(done, sizes), out[col.name])
        out[col.name] = values
        if cells is not None:
            blank = _blank_mask(cells) if not col.nullable and col.kind != "rating" else None
            if bad.any() or (blank is not None and blank.any()):
                problems.append(_CellProblems(col, headers, cells, bad, blank))
    columns = {c.name: out[c.name] for c in table.columns}
    columns["source_file"] = _source_category([raw.file for raw in raws], sizes)
    columns["source_sheet"] = _source_category([raw.sheet for raw in raws], sizes)
    columns["source_row"] = pd.Series(raws[0].rows if len(raws) == 1 else
                                      np.concatenate([raw.rows for raw in raws]), copy=False)
    frame = pd.DataFrame(columns, copy=False)  # the columns are new: no need to copy them
    return _Typed(frame, raws, starts, problems)


def _sheet_cells(raws: list[_Raw], headers: list[str | None]) -> pd.Series:
    """One column's cells in every sheet (``headers[i]`` in sheet ``i``; blank where None)."""
    if len(raws) == 1:
        cells = _first_column(raws[0].frame, headers[0])
        return cells.astype("string[pyarrow]") if cells.dtype == object else cells  # Excel text
    parts = [np.full(len(raw.frame), "", dtype=object) if header is None
             else _first_column(raw.frame, header).to_numpy(dtype=object)
             for raw, header in zip(raws, headers)]
    return pd.Series(np.concatenate(parts), dtype="string[pyarrow]")


def _first_column(frame: pd.DataFrame, header: str) -> pd.Series:
    """The column headed ``header``; the first of them where a sheet repeats a header (that
    is logged as two columns read as one, so the data are refused anyway)."""
    return frame.iloc[:, list(frame.columns).index(header)]


def _source_category(values: list[str | None], sizes: list[int]) -> pd.Series:
    """Each sheet's file or sheet name repeated for its rows, as a categorical: the categories
    :func:`_concat` gives when joining the sheets one by one."""
    if len(values) == 1:
        return _constant_category(values[0], sizes[0])
    # the categories (and their type) of uniting the sheets' categoricals depend only on the
    # distinct names, in order: unite one empty categorical of each, then give each row a code
    union = union_categoricals([_constant_category(v, 0).array for v in dict.fromkeys(values)],
                               ignore_order=True)
    position = {v: i for i, v in enumerate(union.categories)}
    codes = np.repeat(np.array([position.get(v, -1) for v in values], dtype=union.codes.dtype),
                      sizes)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=union.dtype), copy=False)


def _id_categorical(cells: pd.Series) -> pd.Series:
    """Identifiers as a categorical of the distinct ids (blank = missing)."""
    if isinstance(cells.dtype, pd.CategoricalDtype):
        codes = cells.cat.codes.to_numpy()
        texts = cells.cat.categories
    else:
        codes, texts = pd.factorize(cells.astype("string[pyarrow]"), sort=False)
        texts = pd.Index(texts)
    blank = np.flatnonzero(np.asarray(texts == "", dtype=bool))
    if len(blank):
        b = blank[0]
        codes = np.where(codes == b, -1, codes - (codes > b)).astype(codes.dtype)
        texts = texts.delete(b)
    if not isinstance(texts.dtype, pd.StringDtype) or texts.dtype.storage != "pyarrow":
        texts = texts.astype(pd.StringDtype("pyarrow"))
    return pd.Series(_categorical(codes, texts), copy=False)


def _categorical_ids(cells: pd.Series) -> pd.Series:
    """Identifiers (deferred or not) as the categorical :func:`_id_categorical` gives."""
    if _is_deferred(cells):
        cells = _stripped_categorical(cells.array._pa_array)[0]
    return _id_categorical(cells)


def _constant_category(value: str | None, n: int) -> pd.Series:
    """``n`` copies of one file or sheet name (or missing) as a categorical: one byte a row."""
    categories = pd.Index([] if value is None else [value], dtype=object)
    return pd.Series(pd.Categorical.from_codes(
        np.full(n, -1 if value is None else 0, dtype=np.int8), categories=categories))


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of several files as one table; the source columns stay categorical."""
    if len(parts) == 1:
        return parts[0]
    deferred = [name for name in parts[0].columns if any(_is_deferred(p[name]) for p in parts)]
    if deferred and not all(_is_deferred(p[name]) for p in parts for name in deferred):
        parts = [p.assign(**{name: _categorical_ids(p[name]) for name in deferred
                             if _is_deferred(p[name])}) for p in parts]
        deferred = []
    if deferred:  # one column of all the files' blocks, dictionaries in file order
        import pyarrow as pa

        order = list(parts[0].columns)
        frame = pd.concat([p.drop(columns=deferred) for p in parts], ignore_index=True)
        for name in deferred:
            frame.insert(order.index(name), name, pd.Series(pd.arrays.ArrowExtensionArray(
                pa.chunked_array([c for p in parts for c in p[name].array._pa_array.chunks],
                                 parts[0][name].dtype.pyarrow_dtype)), copy=False))
    else:
        frame = pd.concat(parts, ignore_index=True)
    for name in parts[0].columns:
        if all(isinstance(p[name].dtype, pd.CategoricalDtype) for p in parts):
            frame[name] = pd.Series(union_categoricals(
                _same_category_type([p[name].array for p in parts]), ignore_order=True),
                copy=False)
    return frame


def _same_category_type(arrays: list[pd.Categorical]) -> list[pd.Categorical]:
    """Categoricals whose categories are all of one type, as ``union_categoricals`` needs:
    names read as text (str) and names kept as written (object), e.g. a folder of audit
    workbooks and CSV files, become object."""
    if len({a.categories.dtype for a in arrays}) <= 1:
        return arrays
    return [pd.Categorical.from_codes(a.codes, categories=a.categories.astype(object))
            for a in arrays]


def _audit_ratings(cells: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Audit rating cells → (rating 1-3 or NA, status, unreadable mask)."""
    words = {normalise_value(k): v for k, v in AUDIT_RATING_LABELS.items()}
    codes, uniques = _distinct(cells)
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


def _check_keys(frame: pd.DataFrame, table: Table, log: ProblemLog,
                codes: _Codes | None = None) -> None:
    key = list(table.key)
    if frame.empty:
        return
    codes = codes if codes is not None else _Codes(frame)
    combined, missing, size = _combine([codes(c) for c in key])
    if missing.all():
        return
    dup = _duplicated(combined, size, missing)
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


# --------------------------------------------------------------------------
# Values as integer codes, for the key and cross-table checks
# --------------------------------------------------------------------------

class _Codes:
    """A table's columns as integer codes into their distinct values (-1 = missing), each
    worked out once and shared by the checks (participants' ids are used by four)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._done: dict[str, tuple[np.ndarray, object]] = {}
        #: pandas categories made from shared codes' distinct values, for reuse
        self.categories: dict[str, pd.Index] = {}

    def __call__(self, name: str) -> tuple[np.ndarray, object]:
        """(codes, distinct values) of one column."""
        if name not in self._done:
            self._done[name] = _encode(self.frame[name])
        return self._done[name]

    def of(self, name: str, other: _Codes, other_name: str | None = None) -> np.ndarray:
        """Codes of another table's values in this table's column ``name``: -1 where the
        other's value is missing or not among this column's values."""
        codes, distinct = other(other_name or name)
        mine = self(name)[1]
        if distinct is mine:  # encoded together (see _share_codes): the same codes
            return codes
        where = np.append(_positions(distinct, mine), -1).astype(_wide_code_dtype(len(mine)))
        return where[codes]  # a code of -1 takes the appended -1


def _share_codes(tables: list[_Codes], name: str) -> None:
    """Encode column ``name`` of several tables together, so that equal values have equal
    codes in all of them: the participant ids of participants, questionnaires and register
    are hashed once, and matching them needs no more hashing. Text columns only (others are
    left to :func:`_encode`); a categorical contributes only its distinct values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts, arrays = [], []
    for table in tables:
        if table.frame.empty or name not in table.frame or name in table._done:
            continue
        column = table.frame[name]
        if _is_deferred(column):  # its blocks' distinct ids (see _deferred_ids)
            kept, entry = _deferred_texts(column)
            parts.append((table, column, len(kept), entry))
            arrays += kept.cast(pa.large_string()).chunks
            del kept
            continue
        values = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) \
            else column
        if not isinstance(values.array, pd.arrays.ArrowStringArray):
            continue
        parts.append((table, column, len(values), None))
        arrays += values.array._pa_array.cast(pa.large_string()).chunks
    if len(parts) < 2:
        return
    encoded = pc.dictionary_encode(pa.chunked_array(arrays, pa.large_string()))
    distinct = encoded.chunks[-1].dictionary
    dtype = _wide_code_dtype(len(distinct))
    codes = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False)
                            for c in encoded.chunks]).astype(dtype, copy=False)
    del encoded, arrays
    at = 0
    for table, column, n, entry in parts:
        own = codes[at:at + n]
        at += n
        if entry is not None:  # codes of the dictionaries' entries, then per row
            own = _deferred_rows(column, np.append(own, -1).astype(dtype)[entry])
        elif isinstance(column.dtype, pd.CategoricalDtype):  # the categories' codes, per row
            own = np.append(own, -1).astype(dtype)[column.cat.codes.to_numpy()]  # -1 → -1
        table._done[name] = (own, distinct)


def _wide_code_dtype(n: int):
    """int32 for codes 0..n-1 that fit (half the memory of int64 on a hundred million rows),
    and wide enough that code + 1 cannot overflow; int64 otherwise."""
    return np.int32 if n < np.iinfo(np.int32).max - 1 else np.int64


def _encode(column: pd.Series) -> tuple[np.ndarray, object]:
    """(int32 or int64 codes, -1 = missing; distinct values) of a column, without per-row
    Python: a categorical's own codes, Arrow's hashing for text (3x pandas'), whole-day dates
    by day number, anything else by pandas."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        return column.cat.codes.to_numpy().astype(_wide_code_dtype(len(categories))), \
            categories
    if isinstance(column.array, pd.arrays.ArrowStringArray):
        import pyarrow as pa
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(column.array._pa_array)
        codes = np.empty(len(column), dtype=_wide_code_dtype(len(column)))
        at = 0
        for chunk in encoded.chunks:
            codes[at:at + len(chunk)] = pc.fill_null(chunk.indices, -1).to_numpy(
                zero_copy_only=False)
            at += len(chunk)
        distinct = encoded.chunks[-1].dictionary if encoded.num_chunks else \
            pa.array([], pa.large_string())
        return codes, distinct
    if column.dtype == "datetime64[ns]" and len(column):
        ns = column.to_numpy().view(np.int64)
        known = ns != np.iinfo(np.int64).min
        day = 86_400 * 10 ** 9
        if known.any() and not (ns[known] % day).any():
            days = ns // day
            low, high = days[known].min(), days[known].max()
            if high - low <= len(column) + 100_000:  # a compact range of days
                distinct = pd.DatetimeIndex((np.arange(low, high + 1) * day).astype(
                    "datetime64[ns]"))
                codes = days - low
                del days
                codes[~known] = -1
                return codes.astype(_wide_code_dtype(len(distinct))), distinct
    codes, distinct = pd.factorize(column)
    return codes.astype(_wide_code_dtype(len(distinct)), copy=False), distinct


def _positions(values, reference) -> np.ndarray:
    """Position of each of ``values`` (distinct) among ``reference`` (distinct), -1 if absent."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    textual = [isinstance(v, (pa.Array, pa.ChunkedArray)) or (
        isinstance(v, pd.Index) and (v.dtype == object or isinstance(v.dtype, pd.StringDtype)))
        for v in (values, reference)]
    if all(textual):
        arrays = [v if isinstance(v, (pa.Array, pa.ChunkedArray))
                  else v.array._pa_array if isinstance(v.array, pd.arrays.ArrowStringArray)
                  else pa.array(np.asarray(v, dtype=object), pa.large_string())
                  for v in (reference, values)]
        if arrays[0].type != arrays[1].type:
            arrays = [a.cast(pa.large_string()) for a in arrays]
        # hashing both together numbers the (distinct) reference 0, 1, … in order, so a
        # value's code is its position in the reference when below the reference's length
        chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray)
                                              else [a])]
        encoded = pc.dictionary_encode(pa.chunked_array(chunks, arrays[0].type))
        codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False)
                                for c in encoded.chunks])[len(reference):].astype(np.int64)
        return np.where(codes < len(reference), codes, -1)
    values, reference = (pd.Index(v.to_pylist()) if isinstance(v, (pa.Array, pa.ChunkedArray))
                         else pd.Index(v) for v in (values, reference))
    return reference.get_indexer(values).astype(np.int64)


def _combine(encoded: list[tuple[np.ndarray, object]]) -> tuple[np.ndarray, np.ndarray, int]:
    """One code per row for several columns together (equal codes = equal values in every
    column), the mask of rows with a missing value, and the bound of the codes. Re-coded
    when the bound nears int64's, so any number of columns fits."""
    n = len(encoded[0][0])
    combined = np.zeros(n, dtype=np.int64)
    size = 1  # combined < size
    missing = np.zeros(n, dtype=bool)
    for codes, distinct in encoded:
        count = len(distinct) + 1
        missing |= codes < 0
        if size * count >= 2 ** 62:
            combined, uniques = pd.factorize(combined)
            size = len(uniques)
        combined = combined * count + (codes + 1)
        size *= count
    return combined, missing, size


def _duplicated(keys: np.ndarray, size: int, skip: np.ndarray) -> np.ndarray:
    """Rows whose key (< size) another row not skipped also has; skipped rows are never
    duplicates. Counting when the keys are compact; otherwise sorting, which is quick on the
    (nearly) ordered keys of a register listed participant by participant, and needs no hash
    table: a hundred million keys would need gigabytes."""
    valid = ~skip
    if size <= 4 * len(keys) + (1 << 20):
        counts = np.bincount(keys[valid], minlength=1)
        return valid & (np.append(counts, 0)[np.where(valid, keys, len(counts))] > 1)
    out = np.zeros(len(keys), dtype=bool)
    present = keys[valid] if not valid.all() else keys
    if len(present) < 2 or (present[1:] > present[:-1]).all():  # increasing: all distinct
        return out
    ordered = np.sort(present, kind="stable")  # timsort: linear on ordered runs
    del present
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    if len(repeated):
        out[valid] = np.isin(keys[valid], np.unique(repeated))
    return out


def _first_position(keys: np.ndarray, valid: np.ndarray, size: int,
                    query: np.ndarray) -> np.ndarray:
    """For each query key (< size, or -1 = none), the position of its first occurrence among
    the valid ``keys``; -1 if absent. A lookup table when the keys are compact."""
    rows = np.flatnonzero(valid)
    if size <= 16 * len(keys) + (1 << 20):
        dtype = _wide_code_dtype(len(keys) + 1)  # positions of a register's rows: 4 bytes
        table = np.full(size + 1, len(keys), dtype=dtype)  # the last: query -1 → not found
        np.minimum.at(table, keys[rows], rows.astype(dtype))
        position = table[query]
        position[position == len(keys)] = -1
        return position
    first = rows[~pd.Series(keys[rows]).duplicated().to_numpy()]
    position = pd.Index(keys[first]).get_indexer(query)
    return np.where((position >= 0) & (query >= 0), first[np.maximum(position, 0)], -1)


def _read_table_files(path: Path, table: Table, log: ProblemLog, *, root: Path | None,
                      allow_identifiers: bool, defer_ids: bool = False) -> pd.DataFrame:
    parts = []
    for file in _data_files(path):
        display = _display(file, root)
        if file.suffix.lower() in (".xlsx", ".xlsm"):
            raw = _read_excel(file, display, table, log)
        else:
            raw = _read_csv(file, display, table)
        if raw is not None:
            parts.append(_typed_table(raw, table, log, allow_identifiers, defer_ids))
            del raw
    if not parts:
        return _empty_frame(table)
    return _concat(parts)


def _empty_frame(table: Table) -> pd.DataFrame:
    frame = pd.DataFrame({c.name: _empty_column(c, 0) for c in table.columns})
    for name in [c for t, c in CATEGORICAL_COLUMNS if t == table.name]:
        frame[name] = _id_categorical(frame[name])
    frame["source_file"] = _constant_category(None, 0)
    frame["source_sheet"] = _constant_category(None, 0)
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


@dataclass
class _Section:
    """A section sheet of an audit workbook, read as text with its headers matched."""

    number: int
    log: ProblemLog  # problems with the sheet's header, logged when its cells are
    raw: _Raw | None = None  # None: no header row
    found: dict[str, str] = field(default_factory=dict)


@dataclass
class _Workbook:
    """An audit workbook's details and section sheets, before the typed conversion."""

    display: str
    details: dict
    totals: dict
    summary_name: str | None
    sections: list[_Section]
    log: ProblemLog = field(default_factory=ProblemLog)  # the file could not be read


def _audit_workbook_sheets(path: Path, display: str, allow_identifiers: bool) -> _Workbook:
    """A workbook's section sheets as text, their headers matched; the service, wave, rater
    and date, unless a sheet has such a column, from the summary sheet (or the file name)."""
    table = TABLES["audit_ratings"]
    unreadable = ProblemLog()
    sheets = _workbook_sheets(path, display, unreadable)
    if sheets is None:
        return _Workbook(display, {}, {}, None, [], unreadable)
    details, totals, summary_name = _workbook_details(sheets)
    _fill_details_from_name(details, path)
    sections = []
    spellings = {s for c in table.columns for s in c.header_spellings} | {"statement"}
    for name, rows in sheets.items():
        match = _SECTION_SHEET.search(name)
        if not match:
            continue
        section = _Section(int(match.group(1)), ProblemLog())
        sections.append(section)
        index = _find_header(rows, spellings)
        if index is None:
            section.log.add("no header row with Ref / Statement / Rating columns", file=display,
                            sheet=name, expected="a header row such as " + " | ".join(
                                ("Ref", "Statement", "Rating", "Comments / evidence")))
            continue
        raw = _raw_from_rows(rows, index, display, name, constants={
            key: _cell_text(details.get(key)) for key in ("service", "wave", "rater", "date")})
        raw.frame.columns = _audit_headers(list(raw.frame.columns))
        section.raw = raw
        section.found = _match_headers(raw, table, section.log, allow_identifiers)
    return _Workbook(display, details, totals, summary_name, sections)


def _read_audit_workbooks(workbooks: list[_Workbook], log: ProblemLog) -> pd.DataFrame:
    """The ratings in all the workbooks' section sheets, converted together. Problems are
    logged as reading one workbook at a time would: workbook by workbook, each sheet's header
    problems (held in its log until now) then its cells', then the workbook's own."""
    table = TABLES["audit_ratings"]
    read = [(w, s) for w, wb in enumerate(workbooks) for s in wb.sections if s.raw is not None]
    typed = sums = None
    if read:
        typed = _typed_sheets([(s.raw, s.found) for _, s in read], table)
        sums = _rated_sums(typed, [w for w, _ in read], [s.number for _, s in read],
                           len(workbooks))
    i = 0
    for w, wb in enumerate(workbooks):
        if wb.log.rows:  # not read: nothing else to say of it
            log.merge(wb.log)
            continue
        first = i
        for section in wb.sections:
            log.merge(section.log)
            if section.raw is not None:
                typed.log_sheet(i, log)
                i += 1
        if i == first:
            log.add("no 'Section 1' / 'Section 2' / 'Section 3' sheets found", file=wb.display,
                    expected="a Youth Music ED&I self-assessment workbook")
            continue
        for key in ("service", "wave", "rater"):
            if not wb.details.get(key):
                log.add(f"the workbook does not say its {key}", file=wb.display,
                        sheet=wb.summary_name,
                        expected=f"a '{key}' entry on the summary sheet, or a file name like "
                                 "service_wave_rater.xlsx")
        _cross_check_summary(sums[w], wb.totals, wb.display, wb.summary_name, log)
    return typed.frame if read else _empty_frame(table)


def _rated_sums(typed: _Typed, workbook: list[int], section: list[int], n: int) -> np.ndarray:
    """The ratings of rated statements added up, by workbook (``workbook[i]``, ``section[i]``:
    those of sheet ``i``): one row per workbook, its total then sections 1 to 3."""
    key = np.repeat(np.asarray(workbook) * 4 + np.asarray(section), np.diff(typed.starts))
    rated = (typed.frame["status"] == "rated").to_numpy(dtype=bool, na_value=False)
    rating = typed.frame["rating"].to_numpy(dtype=np.float64, na_value=0)
    sums = np.bincount(key[rated], weights=rating[rated], minlength=4 * n).reshape(n, 4)
    sums[:, 0] = sums[:, 1:].sum(axis=1)
    return sums


def _audit_headers(headers: list[str]) -> list[str]:
    """In a section sheet the 'Statement' header is the wording, not the reference."""
    return ["statement text" if normalise_header(h) in ("statement", "statementtext", "text")
            else h for h in headers]


def _workbook_details(sheets: dict[str, list[tuple]]):
    details: dict[str, object] = {}
    totals: dict[str, float] = {}
    summary_name = None
    for name, rows in sheets.items():
        if _SECTION_SHEET.search(name):
            continue
        summary_name = summary_name or name
        for row in rows:
            first = _cell_text(row[0]) if row else ""
            if not first:
                continue
            label = normalise_header(first)
            value = row[1] if len(row) > 1 else None
            for key, labels in _DETAIL_KEYS.items():
                if label in labels and value not in (None, "") and key not in details:
                    details[key] = value
            section = re.match(r"^\s*([123])\s*[.:)]", first)
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


def _cross_check_summary(sums: np.ndarray, totals: dict, display: str, sheet, log) -> None:
    """Warn of the summary sheet's totals that are not the ratings' (``sums``: the total, then
    sections 1 to 3, from :func:`_rated_sums`)."""
    computed = {"total": float(sums[0]), **{str(k): float(sums[k]) for k in (1, 2, 3)}}
    for key, stated in totals.items():
        actual = computed.get(key, 0.0)
        if abs(actual - stated) > 1e-9:
            what = "the total" if key == "total" else f"section {key}"
            log.add(f"the summary sheet gives {what} as {stated:g} but the ratings add up to "
                    f"{actual:g}; the ratings are used", file=display, sheet=sheet,
                    column="Score", value=stated, expected=f"{actual:g}", severity="warning")


def _read_audit(path: Path, log: ProblemLog, *, root: Path | None,
                allow_identifiers: bool) -> pd.DataFrame:
    """Audit ratings from a workbook, a CSV file or a folder of them. A folder of workbooks is
    converted in one go (see :func:`_typed_sheets`); one with CSV files too, file by file."""
    table = TABLES["audit_ratings"]
    files = _data_files(path)
    workbooks = [f.suffix.lower() in (".xlsx", ".xlsm") for f in files]
    if files and all(workbooks):
        return _read_audit_workbooks([_audit_workbook_sheets(file, _display(file, root),
                                                             allow_identifiers)
                                      for file in files], log)
    parts = []
    for file, is_workbook in zip(files, workbooks):
        display = _display(file, root)
        if is_workbook:
            parts.append(_read_audit_workbooks(
                [_audit_workbook_sheets(file, display, allow_identifiers)], log))
        else:
            parts.append(_typed_table(_read_csv(file, display, table), table, log,
                                      allow_identifiers))
    if not parts:
        return _empty_frame(table)
    return _concat(parts)


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
    codes, uniques = pd.factorize(frame["service"], use_na_sentinel=True)
    resolved = [lookup.get(normalise_value(u)) for u in uniques]
    bad_unique = np.array([r is None for r in resolved] + [False])
    codes_safe = np.where(codes < 0, len(uniques), codes)
    bad = bad_unique[codes_safe]
    if bad.any():
        known = sorted(set(lookup.values()))
        log.add_rows(frame.loc[bad].assign(value=frame.loc[bad, "service"]),
                     message="unknown service", column="service", value_column="value",
                     expected="a service listed in services.csv (by id, name or alias): "
                              + ", ".join(known))
    # each distinct name → its id (unknown names kept as written), then one take per row
    ids = pd.array([str(u) if r is None else r for u, r in zip(uniques, resolved)] + [pd.NA],
                   dtype="string")
    frame["service"] = pd.Series(ids.take(codes_safe), index=frame.index, copy=False)


def _check_wellbeing(frame: pd.DataFrame, log: ProblemLog, codes: _Codes | None = None) -> None:
    """SWEMWBS questionnaires with answers to WEMWBS-only items, and follow-ups dated before
    the participant's baseline (earliest, same participant, service and year)."""
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
    # Follow-up dated before the participant's baseline in the same year: the earliest
    # baseline per participant, service and year (a missing service or year is a value of
    # its own, as in a grouping that keeps them), on integer codes.
    codes = codes if codes is not None else _Codes(frame)
    key = _combine([codes(c) for c in ("participant", "service", "year")])[0]
    when = pd.DatetimeIndex(frame["date"]).as_unit("ns").asi8
    nat, never = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    dated = (when != nat) & (codes("participant")[0] >= 0)
    wave = frame["wave"]
    base = dated & (wave == "baseline").to_numpy(dtype=bool, na_value=False)
    follow = dated & (wave == "follow-up").to_numpy(dtype=bool, na_value=False)
    if not (base.any() and follow.any()):
        return
    group, distinct = pd.factorize(key)
    first = np.full(len(distinct), never, dtype=np.int64)
    np.minimum.at(first, group[base], when[base])
    baseline = first[group]
    early_mask = follow & (baseline != never) & (when < baseline)
    if not early_mask.any():
        return
    early = frame.loc[early_mask]
    baseline_dates = pd.DatetimeIndex(baseline[early_mask].astype("datetime64[ns]"))
    log.add_rows(early.assign(value=early["date"].dt.strftime("%Y-%m-%d")),
                 message="follow-up is dated before the participant's baseline",
                 column="date", value_column="value",
                 expected="a date after the baseline ("
                          + ", ".join(sorted(set(baseline_dates.strftime("%Y-%m-%d")))) + ")")


def _check_missing_participants(coded: _Codes, participants: _Codes, what: str,
                                log: ProblemLog) -> None:
    """Rows whose participant is not in the participation records for that service and year:
    a warning, not an error. Matched on integer codes: participant and year look up the
    participation record, whose service must then agree."""
    frame = coded.frame
    if frame.empty or participants.frame.empty:
        return
    pr, sr, yr = (participants(c)[0] for c in ("participant", "service", "year"))
    pl, sl, yl = (participants.of(c, coded) for c in ("participant", "service", "year"))
    years = len(participants("year")[1])
    size = len(participants("participant")[1]) * years
    rkey, valid = pr.astype(np.int64) * years + yr, (pr >= 0) & (sr >= 0) & (yr >= 0)
    lkey = np.where((pl >= 0) & (yl >= 0), pl.astype(np.int64) * years + yl, -1)
    position = _first_position(rkey, valid, size, lkey)
    service = sr[np.maximum(position, 0)]
    listed = (position >= 0) & (sl >= 0) & (service == sl)
    # a participant and year recorded twice (a duplicate key, reported later) may have the
    # matching service on another record: look those few rows up one by one
    doubtful = (position >= 0) & (sl >= 0) & ~listed
    if doubtful.any():
        twice = _duplicated(rkey, size, ~valid)
        if twice.any():
            records = set(zip(pr[twice].tolist(), sr[twice].tolist(), yr[twice].tolist()))
            for i in np.flatnonzero(doubtful):
                listed[i] = (pl[i], sl[i], yl[i]) in records
    missing = ~listed & frame["participant"].notna().to_numpy()
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


def _check_attendance(coded: _Codes, participants: _Codes, log: ProblemLog) -> None:
    """Each session belongs to a participant's record for that programme year, within its
    dates. Matched on integer codes: participant and programme year index the records, and
    dates are compared as day numbers, in 4-byte integers where they fit (a register can
    have a hundred million sessions)."""
    attendance = coded.frame
    if attendance.empty:
        return
    dates = attendance["session_date"]
    pr, yr = participants("participant")[0], participants("year")[0]
    starts = np.array([int(str(y)[:4]) for y in _as_list(participants("year")[1])], np.int64)
    years = len(starts)
    size = len(participants("participant")[1]) * years
    pl = participants.of("participant", coded)
    day, distinct = coded("session_date")  # codes into the distinct session dates
    distinct = pd.DatetimeIndex(distinct).as_unit("ns")
    # programme year of each distinct date (September to August), then of each session
    yl = np.append(_year_codes(np.asarray(distinct.year - (distinct.month < 9), np.int64),
                               starts), -1).astype(np.int32)[day]  # a day of -1 → -1
    key_dtype = np.int64 if size >= np.iinfo(np.int32).max else np.int32
    lkey = pl.astype(key_dtype) * key_dtype(years)
    lkey += yl
    lkey[(pl < 0) | (yl < 0)] = -1
    del yl
    rkey = pr.astype(np.int64) * years + yr
    position = _first_position(rkey, (pr >= 0) & (yr >= 0), size, lkey)
    del lkey, rkey
    unknown = (position < 0) & (day >= 0) & (coded("participant")[0] >= 0)
    if unknown.any():
        rows = attendance.loc[unknown]
        log.add_rows(rows.assign(value=rows["participant"].astype(str) + " on "
                                 + rows["session_date"].dt.strftime("%Y-%m-%d")),
                     message="register entry for a participant with no participation record in "
                             "that programme year", column="participant", value_column="value",
                     expected="a participant listed in participants for the year of the session")
    del unknown
    records = participants.frame
    after, before = _outside_dates(position, day, distinct, records["start"], records["end"])
    for mask, message, bound in ((after, "session is after the participant's end date", "end"),
                                 (before, "session is before the participant's start date",
                                  "start")):
        if mask.any():
            rows = attendance.loc[mask]
            limits = pd.to_datetime(pd.Series(records[bound].to_numpy()[position[mask]])) \
                .dt.strftime("%Y-%m-%d").to_numpy()
            log.add_rows(rows.assign(value=rows["session_date"].dt.strftime("%Y-%m-%d")
                                     + " (participant " + rows["participant"].astype(str)
                                     + ", dates " + limits + ")"),
                         message=message + ": the attendance rate would be wrong",
                         column="session_date", value_column="value",
                         expected="a session between the participant's start and end dates")


def _outside_dates(position: np.ndarray, day: np.ndarray, distinct: pd.DatetimeIndex,
                   start: pd.Series, end: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Masks of sessions after the end date and before the start date of their record
    (``position``, -1 = none); ``day`` codes the session dates into ``distinct``.

    When every session is at midnight, dates become 4-byte day numbers: a session is after
    an end exactly when its day is after the end's day (floor), and before a start exactly
    when its day is before the start's day rounded up. Otherwise timestamps are compared."""
    found = position >= 0
    nat = np.iinfo(np.int64).min
    session_ns = distinct.asi8 if len(distinct) else np.zeros(0, np.int64)
    whole = len(distinct) == 0 or not (session_ns % 86_400_000_000_000).any()
    start_ns, end_ns = (np.asarray(b.to_numpy(dtype="datetime64[ns]")).view(np.int64)
                        for b in (start, end))
    at = np.where(found, position, 0)
    if whole and len(distinct):
        unit = 86_400_000_000_000
        low = session_ns.min() // unit
        codes_day = (session_ns // unit - low)  # distinct date → day number from the first
        span = int(codes_day.max()) + 1
        # record bounds as day numbers, clipped into a small range so they fit 4 bytes:
        # an end before every session is -1, a start after every session is span + 1
        end_day = np.where(end_ns == nat, span + 1, np.clip(np.floor_divide(end_ns, unit) - low,
                                                            -1, span + 1))
        start_day = np.where(start_ns == nat, -1, np.clip(-np.floor_divide(-start_ns, unit) - low,
                                                          -1, span + 1))
        dtype = np.int32 if span < np.iinfo(np.int32).max - 2 else np.int64
        session_day = np.append(codes_day, 0).astype(dtype)[day]
        after = found & (day >= 0) & (session_day > end_day.astype(dtype)[at])
        before = found & (day >= 0) & (session_day < start_day.astype(dtype)[at])
        return after, before
    when = np.append(session_ns, nat)[day]  # a day of -1 (no date) → NaT
    known = found & (when != nat)
    after = known & (end_ns[at] != nat) & (when > end_ns[at])
    before = known & (start_ns[at] != nat) & (when < start_ns[at])
    return after, before


def _as_list(distinct) -> list:
    return distinct.to_pylist() if hasattr(distinct, "to_pylist") else list(distinct)


def _year_codes(session_year: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Code of each session's programme year (its first calendar year) among the records'
    years (``starts``), -1 if none; by a small lookup table."""
    if len(starts) == 0:
        return np.full(len(session_year), -1, dtype=np.int64)
    low, high = int(starts.min()), int(starts.max())
    table = np.full(high - low + 2, -1, dtype=np.int64)
    table[starts - low] = np.arange(len(starts))
    inside = (session_year >= low) & (session_year <= high)
    return table[np.where(inside, session_year - low, high - low + 1)]


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
            (lambda p, lg, **kw: _read_table_files(p, table, lg, defer_ids=name == "attendance",
                                                   **kw))
        frames[name] = reader(path, log, root=directory, allow_identifiers=allow_identifiers)
    coded = _validate_together(frames, log)
    problems = log.frame()
    if log.has_errors:
        raise DataValidationError(problems, str(directory))
    for name, table in TABLES.items():
        _check_keys(frames[name], table, log, coded[name])
    _shared_participant_ids(frames, coded)
    del coded
    problems = log.frame()
    if log.has_errors:
        raise DataValidationError(problems, str(directory))
    return Dataset(directory=directory, **frames, warnings=problems, files=sorted(files))


def _shared_participant_ids(frames: dict[str, pd.DataFrame], coded: dict[str, _Codes]) -> None:
    """The participants' ``participant`` as a categorical of the ids as first met, and the
    register's with the same categories, so that linking the two needs no more hashing: at
    national scale the participation analyses would otherwise hash millions of ids in each
    table they join."""
    if frames["participants"].empty:
        return
    codes, distinct = coded["participants"]("participant")
    register = coded["attendance"]._done.get("participant")
    made = coded["attendance"].categories.get("participant")  # by _register_ids
    categories = made if made is not None else _text_index(distinct)
    frames["participants"]["participant"] = pd.Series(
        _categorical(codes, categories), index=frames["participants"].index, copy=False)
    if made is None and register is not None and register[1] is distinct:  # encoded together
        frames["attendance"]["participant"] = pd.Series(
            _categorical(register[0], categories), index=frames["attendance"].index, copy=False)


def _register_ids(frames: dict[str, pd.DataFrame], coded: dict[str, _Codes]) -> None:
    """The register's participant ids, deferred by the reader (``_deferred_ids``), as a
    categorical: of the ids of all tables when they were encoded together (``_share_codes``;
    the participants' ids later take the same categories), otherwise of its own ids."""
    register = frames["attendance"]
    if "participant" not in register or not _is_deferred(register["participant"]):
        return
    done = coded["attendance"]._done.get("participant")
    if done is not None and not frames["participants"].empty \
            and done[1] is coded["participants"]("participant")[1]:
        categories = _text_index(done[1])
        coded["attendance"].categories["participant"] = categories
        register["participant"] = pd.Series(_categorical(done[0], categories),
                                            index=register.index, copy=False)
    else:
        register["participant"] = _categorical_ids(register["participant"])


def _validate_together(frames: dict[str, pd.DataFrame], log: ProblemLog) -> dict[str, _Codes]:
    """Cross-table checks; returns the tables' integer codes for the key checks to reuse."""
    lookup = _service_lookup(frames["services"])
    for name in ("audit_ratings", "wellbeing", "participants", "outcome_ratings", "stages",
                 "tutors"):
        _resolve_services(frames[name], lookup, log)
    coded = {name: _Codes(frame) for name, frame in frames.items()}
    if not frames["participants"].empty:
        _share_codes([coded[name] for name in ("participants", "wellbeing", "outcome_ratings",
                                               "attendance")], "participant")
    _register_ids(frames, coded)
    _check_wellbeing(frames["wellbeing"], log, coded["wellbeing"])
    _check_participants(frames["participants"], log)
    _check_reference(frames["audit_ratings"], "statement", frames["audit_statements"],
                     "statement", "audit_statements", log)
    _check_reference(frames["outcome_ratings"], "indicator", frames["outcome_indicators"],
                     "indicator", "outcome_indicators", log)
    _check_missing_participants(coded["wellbeing"], coded["participants"],
                                "wellbeing questionnaire", log)
    _check_missing_participants(coded["outcome_ratings"], coded["participants"],
                                "outcome rating", log)
    if not frames["participants"].empty:
        _check_attendance(coded["attendance"], coded["participants"], log)
    _check_benchmarks(frames["services"], frames["benchmarks"], log)
    if not frames["tutors"].empty:
        _check_reference(frames["cpd"], "tutor", frames["tutors"], "tutor", "tutors", log)
    return coded


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
