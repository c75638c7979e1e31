"""Excel workbooks are read with python-calamine, which must give every cell the text openpyxl
gave; a cell holding an Excel error, which calamine reads as blank, is still reported; and a
file that is not a readable workbook is a problem named like any other, not a traceback."""

from __future__ import annotations

import shutil
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904

import changing_tracks as ct
from changing_tracks import loaders
from changing_tracks.validation import ProblemLog
from changing_tracks.workbook import write_audit_workbook

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

#: cells of every kind a data file may hold, each in column D under a header in row 3
VALUES = [1, 2.5, 3.0, " padded text ", True, False, datetime(2020, 1, 2),
          datetime(2020, 1, 2, 10, 30), date(2021, 5, 6), time(10, 30), timedelta(hours=30),
          "=1+2", 12345678901, 0.1 + 0.2, 1 / 3, -0.0, 1e-20, "  ", "N/A", "Ünïcödé “q”"]


def _varied_workbook(path: Path, *, epoch=None) -> Path:
    wb = Workbook()
    if epoch is not None:
        wb.epoch = epoch
    ws = wb.active
    ws.title = "Data"
    ws["C3"], ws["D3"] = "Ref", "Rating"  # the data start at C3, not A1
    for row, value in enumerate(VALUES, start=4):
        ws.cell(row, 3, f"r{row}")
        ws.cell(row, 4, value)
    ws["D30"], ws["D30"].number_format = 0.25, "0%"
    ws["D31"], ws["D31"].number_format = 43831, "dd/mm/yyyy"
    ws["D32"], ws["D32"].number_format = 43831.5, "yyyy-mm-dd hh:mm"
    ws["F40"].number_format = "0.00"  # formatted, never filled
    hidden = wb.create_sheet("Hidden")
    hidden["A1"] = "kept"
    hidden.sheet_state = "hidden"
    wb.create_sheet("Empty")
    wb.save(path)
    return path


def _texts(sheets: dict[str, list[tuple]]) -> dict[str, list[list[str]]]:
    """Each sheet's cells as the loader's text, trailing blank cells and rows left out."""
    out = {}
    for name, rows in sheets.items():
        texts = [[loaders._cell_text(v) for v in row] for row in rows]
        for cells in texts:
            while cells and cells[-1] == "":
                cells.pop()
        while texts and not texts[-1]:
            texts.pop()
        out[name] = texts
    return out


@pytest.mark.parametrize(("epoch", "day_43831"), [(None, "2020-01-01"),
                                                  (CALENDAR_MAC_1904, "2024-01-02")],
                         ids=["1900 dates", "1904 dates"])
def test_calamine_gives_the_cells_openpyxl_gave(tmp_path, epoch, day_43831):
    path = _varied_workbook(tmp_path / "varied.xlsx", epoch=epoch)
    calamine = loaders._calamine_sheets(path)
    assert list(calamine) == ["Data", "Hidden", "Empty"]
    assert _texts(calamine) == _texts(loaders._openpyxl_sheets(path))
    rows = _texts(calamine)["Data"]
    assert rows[2] == ["", "", "Ref", "Rating"]  # row 3 stays row 3, column C column C
    assert [r[3] for r in rows[3:10]] == ["1", "2.5", "3", "padded text", "True", "False",
                                          "2020-01-02"]
    assert rows[30][3] == day_43831  # a day number shown as a date: the workbook's calendar


def test_sample_workbooks_read_the_same_either_way():
    for path in sorted((SAMPLE / "audit").glob("*.xlsx")):
        assert not loaders._may_have_error_cells(path)
        assert _texts(loaders._calamine_sheets(path)) == _texts(loaders._openpyxl_sheets(path))


def _statements():
    return pd.DataFrame({"statement": [f"{s}.{i:02d}" for s in (1, 2, 3) for i in (1, 2)],
                         "section": [s for s in (1, 2, 3) for _ in (1, 2)],
                         "text": [f"Statement {k}" for k in range(6)]})


def _audit_workbook(path: Path, **ratings) -> Path:
    statements = _statements()
    frame = pd.DataFrame({"statement": statements["statement"],
                          "rating": pd.array([1, 2, 3, 1, 2, 3], dtype="Int64"),
                          "status": ["rated"] * 6})
    return write_audit_workbook(path, frame, statements, organisation="Essex", rater="Head",
                                wave="baseline", completed=date(2019, 7, 1), **ratings)


def _with_error_cell(path: Path, error: str) -> Path:
    """The workbook with the rating of statement 2.02 (sheet Section 2, cell C6) an error."""
    wb = load_workbook(path)
    cell = wb["Section 2"]["C6"]
    cell.value, cell.data_type = error, "e"
    wb.save(path)
    return path


def test_an_error_cell_is_reported_not_taken_as_blank(tmp_path):
    """A rating that is a formula's error is a bad rating, as written; read as blank it would
    pass as 'not rated'."""
    path = _with_error_cell(_audit_workbook(tmp_path / "essex_baseline_head.xlsx"), "#DIV/0!")
    assert loaders._may_have_error_cells(path)
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_audit(path)
    problems = info.value.problems
    errors = problems[problems["severity"] == "error"]
    assert list(zip(errors["sheet"], errors["row"], errors["column"], errors["value"])) == [
        ("Section 2", 6, "Rating", "#DIV/0!")]


def test_an_na_error_cell_is_not_applicable_as_written(tmp_path):
    """Typing #N/A in Excel makes an error cell; it reads as the rating 'N/A', not as blank."""
    path = _with_error_cell(_audit_workbook(tmp_path / "essex_baseline_head.xlsx"), "#N/A")
    audit = ct.load_audit(path).set_index("statement")
    assert audit.loc["2.02", "status"] == "not applicable"
    assert audit.loc["2.01", "status"] == "rated"


@pytest.mark.parametrize("content", [b"", b"not a workbook\n", b"PK\x03\x04 cut short"],
                         ids=["empty file", "text", "damaged zip"])
def test_an_unreadable_audit_workbook_is_a_problem_listed_with_the_others(tmp_path, content):
    folder = tmp_path / "audit"
    folder.mkdir()
    for path in sorted((SAMPLE / "audit").glob("essex_*.xlsx")):
        shutil.copy(path, folder / path.name)
    (folder / "broken_baseline_head.xlsx").write_bytes(content)
    bad = _audit_workbook(folder / "norfolk_baseline_head.xlsx")
    wb = load_workbook(bad)
    wb["Section 1"]["C5"] = "Mostly"
    wb.save(bad)
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_audit(folder)
    problems = info.value.problems
    broken = problems[problems["file"] == "broken_baseline_head.xlsx"]
    assert broken["message"].tolist() == ["the file could not be read as an Excel workbook"]
    assert "Excel workbook" in broken["expected"].iloc[0] and broken["value"].iloc[0]
    others = problems[(problems["file"] == "norfolk_baseline_head.xlsx")
                      & (problems["severity"] == "error")]
    assert others["value"].tolist() == ["Mostly"]
    assert "broken_baseline_head.xlsx" in str(info.value)


def test_an_unreadable_data_workbook_names_its_file(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    (data / "outcome_ratings.csv").unlink()
    (data / "outcome_ratings.xlsx").write_bytes(b"not a workbook\n")
    log = ProblemLog()
    assert loaders._workbook_sheets(data / "outcome_ratings.xlsx", "outcome_ratings.xlsx",
                                    log) is None
    assert [(r["file"], r["message"]) for r in log.rows] == [
        ("outcome_ratings.xlsx", "the file could not be read as an Excel workbook")]
    with pytest.raises(ct.DataValidationError, match="outcome_ratings.xlsx: the file could not "
                                                     "be read as an Excel workbook"):
        ct.load_data(data)


# --- workbooks written by other tools, or damaged -------------------------------------------

SHEET_XML = "xl/worksheets/sheet1.xml"
MAIN = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _rewritten(source: Path, target: Path, parts: dict) -> Path:
    """A copy of the workbook with parts replaced (bytes), changed (a function) or left out
    (None)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            data = old.read(name)
            change = parts.get(name, data)
            if change is not None:
                new.writestr(name, change(data) if callable(change) else change)
        for name, data in parts.items():
            if name not in old.namelist() and data is not None and not callable(data):
                new.writestr(name, data)
    return target


def _plain_workbook(path: Path) -> Path:
    wb = Workbook()
    wb.active.title = "Data"
    wb.active["A1"] = "x"
    wb.save(path)
    return path


def _sheet(cells: str, dimension: str = "") -> bytes:
    """A worksheet part whose first row holds ``cells`` (``<c>`` elements) and a second row."""
    return (f"<worksheet {MAIN}>{dimension}<sheetData><row r=\"1\">{cells}</row><row r=\"4\">"
            f"<c r=\"D4\"><v>7</v></c></row></sheetData></worksheet>").encode()


@pytest.mark.parametrize("cell", [
    '<c r="A1" t="e"><v>#N/A</v></c>',
    '<c r="A1"\nt="e"><v>#N/A</v></c>',
    '<c r="A1"\tt = \'e\'><v>#N/A</v></c>',
], ids=["space", "new line", "tab, spaces and single quotes"])
def test_an_error_cell_however_written_is_read_as_written(tmp_path, cell):
    base = _plain_workbook(tmp_path / "base.xlsx")
    path = _rewritten(base, tmp_path / "error.xlsx",
                      {SHEET_XML: _sheet(cell + '<c r="B1" t="inlineStr"><is><t>y</t></is></c>')})
    assert loaders._may_have_error_cells(path)
    log = ProblemLog()
    assert _texts(loaders._workbook_sheets(path, "error.xlsx", log))["Data"][0] == ["#N/A", "y"]
    assert not log.rows


def test_an_error_cell_in_a_sheet_stored_elsewhere_is_read_as_written(tmp_path):
    """The workbook's links may put a worksheet anywhere in the file, not only in
    xl/worksheets/."""
    base = _plain_workbook(tmp_path / "base.xlsx")
    path = _rewritten(base, tmp_path / "elsewhere.xlsx", {
        SHEET_XML: None, "xl/sheets/data.xml": _sheet('<c r="A1" t="e"><v>#N/A</v></c>'),
        "xl/_rels/workbook.xml.rels": lambda b: b.replace(b"worksheets/sheet1.xml",
                                                          b"sheets/data.xml"),
        "[Content_Types].xml": lambda b: b.replace(b"/xl/worksheets/sheet1.xml",
                                                   b"/xl/sheets/data.xml")})
    assert _texts(loaders._workbook_sheets(path, "elsewhere.xlsx", ProblemLog()))["Data"][0] \
        == ["#N/A"]


def test_a_sheet_larger_than_its_stated_size_is_read_whole(tmp_path):
    """A file may say its sheet is smaller than it is (A1:A2 here, with data to D4)."""
    base = _plain_workbook(tmp_path / "base.xlsx")
    for name, cell in (("plain.xlsx", "<c r=\"A1\"><v>1</v></c>"),
                       ("error.xlsx", "<c r=\"A1\" t=\"e\"><v>#N/A</v></c>")):
        path = _rewritten(base, tmp_path / name,
                          {SHEET_XML: _sheet(cell, '<dimension ref="A1:A2"/>')})
        rows = _texts(loaders._workbook_sheets(path, name, ProblemLog()))["Data"]
        assert rows[3] == ["", "", "", "7"], name


def _damaged(tmp_path: Path, how: str) -> Path:
    base = _plain_workbook(tmp_path / "base.xlsx")
    target = tmp_path / f"{how}.xlsx"
    with_error = _rewritten(base, tmp_path / "with_error.xlsx",
                            {SHEET_XML: _sheet('<c r="A1" t="e"><v>#N/A</v></c>')})
    if how == "damaged sheet data":
        data = bytearray(base.read_bytes())
        with zipfile.ZipFile(base) as archive:
            info = archive.getinfo(SHEET_XML)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        for k in range(5, 40):
            data[start + k] ^= 0xFF
        target.write_bytes(bytes(data))
        return target
    return _rewritten(*{
        "no workbook part": (base, target, {"xl/workbook.xml": None}),
        "not a spreadsheet": (base, target, {name: None for name in zipfile.ZipFile(base)
                                             .namelist()} | {"word/document.xml": b"<w/>"}),
        "broken sheet XML": (base, target, {SHEET_XML: b"<worksheet><sheetData><row>"}),
        "broken XML, error cell": (with_error, target, {"xl/styles.xml": b"<styleSheet><n"}),
        "cut sheet XML, error cell": (with_error, target, {SHEET_XML: lambda b: b[:-30]}),
    }[how])


@pytest.mark.parametrize("how", ["damaged sheet data", "no workbook part", "not a spreadsheet",
                                 "broken sheet XML", "broken XML, error cell",
                                 "cut sheet XML, error cell"])
def test_a_damaged_workbook_is_a_problem_not_a_traceback(tmp_path, how):
    log = ProblemLog()
    assert loaders._workbook_sheets(_damaged(tmp_path, how), "x.xlsx", log) is None
    assert [(r["file"], r["message"]) for r in log.rows] == [
        ("x.xlsx", "the file could not be read as an Excel workbook")]
    assert log.rows[0]["value"]


def test_numbers_in_the_summary_sheet_are_not_section_totals(tmp_path):
    """A sheet of counts by rating (1, 2, 3 in its first column) is not the summary's section
    scores: calamine gives those cells as 1.0, 2.0, 3.0, which must not read as '1.'."""
    path = tmp_path / "essex_baseline_head.xlsx"
    shutil.copy(next((SAMPLE / "audit").glob("essex_*.xlsx")), path)
    wb = load_workbook(path)
    counts = wb.create_sheet("Rating counts", 1)
    for row in ([1, 5], [2, 30], [3, 12]):
        counts.append(row)
    wb.save(path)
    assert ct.load_audit(path).attrs["warnings"].empty
