"""Excel workbooks are read with python-calamine, which must give every cell the text openpyxl
gave; a cell holding an Excel error, which calamine reads as blank, is still reported; and a
file that is not a readable workbook is a problem named like any other, not a traceback."""

from __future__ import annotations

import shutil
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
        assert not loaders._has_error_cells(path)
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
    assert loaders._has_error_cells(path)
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
