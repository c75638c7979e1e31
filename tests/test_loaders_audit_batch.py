"""Audit workbooks are converted in one batch: the same table and problems as one sheet at a time.

The loader reads every workbook's section sheets as text (headers matched sheet by sheet), then
converts all their rows together; these tests compare that with typing each sheet on its own and
joining the sheets as before, and pin the order of the problems.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

import changing_tracks as ct
from changing_tracks import loaders
from changing_tracks.contracts import TABLES
from changing_tracks.validation import ProblemLog

SAMPLE_AUDIT = Path(__file__).resolve().parents[1] / "data" / "sample" / "audit"
HEADER = ("Ref", "Statement", "Rating", "Comments / evidence")


def _workbook(path: Path, sheets: dict[str, list[tuple]], *, organisation="Essex", rater="Head",
              wave="baseline", completed=datetime(2019, 7, 1), totals=()) -> None:
    """A workbook in the Youth Music layout: a summary sheet, then the given sheets' rows."""
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    for row in [("Youth Music ED&I self-assessment",), (), ("Organisation:", organisation),
                ("Completed by:", rater), ("Date completed:", completed), ("Wave:", wave), (),
                ("Section", "Score", "Out of"), *totals]:
        summary.append(list(row))
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in [(f"{title}: title",), ("Rate each statement",), (), *rows]:
            ws.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _one_sheet_at_a_time(folder: Path) -> pd.DataFrame:
    """The audit typed sheet by sheet, the sheets joined workbook by workbook and then the
    workbooks joined (the loader's way before the batch)."""
    table = TABLES["audit_ratings"]
    parts = []
    for file in sorted(folder.glob("*.xlsx")):
        workbook = loaders._audit_workbook_sheets(file, file.name, allow_identifiers=False)
        parts.append(loaders._concat([loaders._typed_sheets([(s.raw, s.found)], table).frame
                                      for s in workbook.sections if s.raw is not None]))
    return loaders._concat(parts)


def _assert_same(batch: pd.DataFrame, reference: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(batch, reference, check_exact=True, check_index_type=True)
    assert list(batch.dtypes) == list(reference.dtypes)
    for name in ("source_file", "source_sheet"):
        assert batch[name].cat.categories.equals(reference[name].cat.categories)
        assert batch[name].cat.categories.dtype == reference[name].cat.categories.dtype
        assert batch[name].cat.codes.dtype == reference[name].cat.codes.dtype


def test_varied_workbooks_load_as_one_sheet_at_a_time(tmp_path):
    """Headers spelt and ordered differently, a missing comments column, a sheet without rows,
    rating words, a status column (ignored: derived from the rating), date and wave columns
    instead of the summary's, and a few of the sample's workbooks."""
    folder = tmp_path / "audit"
    _workbook(folder / "essex_baseline_head.xlsx", {
        "Section 1": [HEADER, ("1.01", "t", 1, "evidence"), ("1.02", "t", 2, None), (),
                      ("1.03", "t", "N/A", None)],
        "Section 2": [("Score", "Ref", "Statement"), ("Fully met", "2.01", "t"),
                      (None, "2.02", "t")],
        "Section 3": [("reference", "rating", "Statement", "notes"), ("3.01", "3", "t", "x")],
    }, totals=[("1. One", 3), ("2. Two", 3), ("3. Three", 3), ("Total", 9)])
    _workbook(folder / "herts_follow-up_lead.xlsx", {
        "Section 1": [HEADER],
        "Section 3": [("Ref", "Statement", "Rating", "Status"), ("3.01", "t", 2.0, "whatever")],
        "Section 2": [("Ref", "Statement", "Rating", "date", "wave"),
                      ("2.01", "t", "Partially met", datetime(2020, 9, 1), "post")],
    }, organisation="Herts", rater="Lead", wave="follow-up", completed="2020-09-01")
    for file in sorted(SAMPLE_AUDIT.glob("*.xlsx"))[:3]:
        shutil.copy(file, folder / file.name)

    batch = loaders._read_audit(folder, ProblemLog(), root=folder, allow_identifiers=False)
    _assert_same(batch, _one_sheet_at_a_time(folder))
    assert list(batch["source_sheet"].cat.categories) == ["Section 1", "Section 2", "Section 3"]
    assert batch["source_file"].cat.categories.tolist() == sorted(
        file.name for file in folder.glob("*.xlsx"))
    herts = batch[batch["source_file"] == "herts_follow-up_lead.xlsx"]
    assert herts["status"].tolist() == ["rated", "rated"]
    assert herts["wave"].tolist() == ["follow-up", "follow-up"]
    audit = ct.load_audit(folder)
    assert audit.attrs["warnings"].empty


def test_sample_audit_loads_as_one_sheet_at_a_time():
    batch = loaders._read_audit(SAMPLE_AUDIT, ProblemLog(), root=SAMPLE_AUDIT,
                                allow_identifiers=False)
    _assert_same(batch, _one_sheet_at_a_time(SAMPLE_AUDIT))


def test_problems_come_workbook_by_workbook_and_sheet_by_sheet(tmp_path):
    """Each problem names its file, sheet, row and the column as written in that sheet (the
    same rating column is 'rating' in one sheet and 'Score' in the next)."""
    folder = tmp_path / "audit"
    _workbook(folder / "a_baseline_one.xlsx", {
        "Section 1": [("Ref", "Statement", "rating"), ("1.01", "t", 1), ("1.02", "t", "x")],
        "Section 2": [("Ref", "Statement", "Score"), ("2.01", "t", "y")],
    }, rater="One", totals=[("Total", 50)])
    _workbook(folder / "b_baseline_two.xlsx", {
        "Section 1": [HEADER, (None, "t", 1, "no reference"), ("1.02", "t", 2, None)],
        "Section 2": [("nothing like a header",), ("2.01", "t")],
        "Section 3": [HEADER, ("3.01", "t", 3, None)],
    }, rater="Two")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_audit(folder)
    problems = info.value.problems
    found = [tuple(None if pd.isna(v) else v for v in rec)
             for rec in problems[["severity", "file", "sheet", "row", "column"]].itertuples(
                 index=False)]
    assert found == [
        ("warning", "a_baseline_one.xlsx", "Summary", None, "Score"),
        ("error", "b_baseline_two.xlsx", "Section 2", None, None),
        ("error", "a_baseline_one.xlsx", "Section 1", 6, "rating"),
        ("error", "a_baseline_one.xlsx", "Section 2", 5, "Score"),
        ("error", "b_baseline_two.xlsx", "Section 1", 5, "Ref"),
    ]
    assert problems["value"].tolist()[2:4] == ["x", "y"]
    assert "the total as 50 but the ratings add up to 1" in problems["message"][0]
    # the same problems as loading each workbook on its own
    alone = []
    for file in sorted(folder.glob("*.xlsx")):
        with pytest.raises(ct.DataValidationError) as one:
            ct.load_audit(file)
        alone.append(one.value.problems)
    def listed(frame):
        return sorted(str([None if pd.isna(v) else v for v in rec]) for rec in frame.to_numpy())

    assert listed(problems) == listed(pd.concat(alone))


def test_workbooks_with_different_numbers_of_sections_load_together(tmp_path):
    """One workbook with a single section sheet beside one with three (joining their source
    categoricals workbook by workbook used to fail: object and str categories)."""
    folder = tmp_path / "audit"
    _workbook(folder / "a_baseline_one.xlsx", {"Section 2": [HEADER, ("2.01", "t", 1, None)]},
              rater="One")
    _workbook(folder / "b_baseline_two.xlsx", {
        f"Section {s}": [HEADER, (f"{s}.01", "t", 2, None)] for s in (1, 2, 3)}, rater="Two")
    audit = ct.load_audit(folder)
    assert audit["source_sheet"].tolist() == ["Section 2", "Section 1", "Section 2", "Section 3"]
    assert list(audit["source_sheet"].cat.categories) == ["Section 2", "Section 1", "Section 3"]
    assert audit["source_row"].tolist() == [5, 5, 5, 5]
    assert audit["rating"].tolist() == [1, 2, 2, 2]


@pytest.mark.parametrize("workbooks", [1, 2])
def test_a_repeated_rating_header_is_reported_not_a_crash(tmp_path, workbooks):
    """Two 'Rating' columns in a section sheet: the problem is named, nothing crashes."""
    rows = [(*HEADER, "Rating"), ("1.01", "A statement", 2, "", 3)]
    for k in range(workbooks):
        _workbook(tmp_path / f"essex_baseline_head{k}.xlsx", {"Section 1": rows},
                  rater=f"Head {k}")
    with pytest.raises(ct.DataValidationError) as caught:
        loaders.load_table(tmp_path, "audit_ratings")
    problems = caught.value.problems
    assert (problems["message"].str.contains("two columns both read as 'rating'")).sum() \
        == workbooks
    assert set(problems["sheet"]) == {"Section 1"}


def test_a_folder_of_workbooks_and_a_csv_file_loads(tmp_path):
    """Workbooks with several sections beside a CSV of ratings (their sheet names are text,
    the CSV's missing) are joined, not refused with a pandas type error."""
    rows = [HEADER, ("1.01", "A statement", 2, ""), ("1.02", "Another", 3, "")]
    _workbook(tmp_path / "essex_baseline_head.xlsx",
              {"Section 1": rows, "Section 2": [HEADER, ("2.01", "A third", 1, "")]})
    (tmp_path / "more.csv").write_text("service,wave,rater,statement,rating\n"
                                       "Essex,follow-up,Head,1.01,3\n")
    table = loaders.load_table(tmp_path, "audit_ratings")
    assert len(table) == 4
    assert set(table["source_file"].astype(str)) == {"essex_baseline_head.xlsx", "more.csv"}
    assert table["source_sheet"].isna().sum() == 1
    assert sorted(table["rating"].astype(int)) == [1, 2, 3, 3]
